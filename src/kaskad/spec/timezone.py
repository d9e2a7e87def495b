"""Time zones of datetime fields: a pipeline's default (``timezone:``) and a field's own.

Datetimes are held in UTC. A field in a zone has its naive input values (no offset)
read as local times of that zone, and the day-level functions (``year``, ``month``,
``day``, ``hour``, ``weekday``, ``days_between``, ``to_date``) see its local time. Zone
names are IANA names (``Europe/Moscow``); their data comes with kaskad (``tzdata``) and
with Polars, so nothing is downloaded.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import replace
from functools import lru_cache

from kaskad.spec.reader import Reader
from kaskad.spec.types import DType, Field
from kaskad.spec.yamlfile import PathKey


@lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone of an IANA name (KeyError/ValueError when there is no such zone)."""
    return zoneinfo.ZoneInfo(name)


def is_zone(name: str) -> bool:
    try:
        zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def read_timezone(r: Reader, path: PathKey) -> str:
    """A ``timezone:`` value: an IANA zone name ('' when absent; K258 when unknown)."""
    name = r.string(path, "'timezone'", required=False)
    if name is None:
        return ""
    name = name.strip()
    if not is_zone(name):
        r.problem(
            "K258",
            f"unknown time zone {name!r}",
            path,
            "write an IANA zone name such as Europe/Moscow or UTC",
        )
        return ""
    return name


def zoned(dtype: DType, default: str) -> DType:
    """``dtype`` with ``default`` as the zone of every datetime in it that has none."""
    if not default:
        return dtype
    if dtype.kind == "datetime":
        return dtype if dtype.tz else replace(dtype, tz=default)
    if dtype.kind == "object":
        return replace(dtype, fields=tuple(zoned_field(f, default) for f in dtype.fields))
    if dtype.kind == "list" and dtype.item is not None:
        return replace(dtype, item=zoned(dtype.item, default))
    return dtype


def zoned_field(f: Field, default: str) -> Field:
    return replace(f, dtype=zoned(f.dtype, default))


__all__ = ["is_zone", "read_timezone", "zone", "zoned", "zoned_field"]
