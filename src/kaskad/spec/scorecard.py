"""Scorecards: characteristics with bins and points (or WoE × coefficient), or plain
coefficients, an intercept and a link, read from YAML into an immutable spec.

The compiler turns a scorecard into ordinary typed expressions (one CASE per
characteristic, a sum in characteristic order, the link), so both executors run it.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kaskad.errors import Location, Problem
from kaskad.spec.common import ComponentRef, canonical_json, sha256_text
from kaskad.spec.reader import Reader, Text
from kaskad.spec.rules import check_identifier
from kaskad.spec.yamlfile import PathKey, load_yaml

BinKind = Literal["range", "values", "missing", "otherwise"]
LINKS = ("none", "logistic")
_TOP_KEYS = ("scorecard", "description", "intercept", "link", "reasons", "characteristics")
_CHAR_KEYS = ("name", "description", "input", "reason", "coefficient", "bins", "missing")
_BIN_KEYS = ("from", "to", "values", "missing", "otherwise", "points", "woe")


@dataclass(frozen=True)
class BinSpec:
    kind: BinKind
    points: float
    low: float | None = None  # range: low <= x < high; None: unbounded
    high: float | None = None
    values: tuple[str | float | bool, ...] = ()

    def describe(self) -> str:
        if self.kind == "range":
            lo = "-inf" if self.low is None else repr(self.low)
            hi = "inf" if self.high is None else repr(self.high)
            return f"[{lo}, {hi})"
        if self.kind == "values":
            return "{" + ", ".join(str(v) for v in self.values) + "}"
        return self.kind


@dataclass(frozen=True)
class CharacteristicSpec:
    name: str
    description: str
    input: Text
    reason: str
    bins: tuple[BinSpec, ...]  # empty: a linear term, coefficient × value
    coefficient: float
    missing: float | None  # points of a missing value for a linear term
    location: Location

    def max_points(self) -> float | None:
        """The most points this characteristic can give (None: unbounded, a linear term)."""
        return max(b.points for b in self.bins) if self.bins else None

    def describe(self) -> str:
        if not self.bins:
            extra = f", missing {self.missing!r}" if self.missing is not None else ""
            return f"{self.input.text.strip()} × {self.coefficient!r}{extra}"
        parts = "; ".join(f"{b.describe()} {b.points!r}" for b in self.bins)
        return f"{self.input.text.strip()}: {parts}  [reason {self.reason}]"


@dataclass(frozen=True)
class ScorecardSpec:
    name: str
    description: str
    intercept: float
    link: str
    reasons: int  # how many reason codes to give
    characteristics: tuple[CharacteristicSpec, ...]
    ref: ComponentRef
    location: Location


def _number(r: Reader, path: PathKey, what: str, default: float | None = None) -> float | None:
    value = r.get(path)
    if value is None:
        if default is None:
            r.problem("K104", f"{what} is required", path)
        return default
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        r.problem("K104", f"{what} must be a finite number, got {value!r}", path)
        return None
    return float(value)


def _bin(r: Reader, path: PathKey, coefficient: float) -> BinSpec | None:
    entry = r.mapping(path, _BIN_KEYS, (), "a bin")
    if entry is None:
        return None
    if ("points" in entry) == ("woe" in entry):
        r.problem("K104", "a bin has either 'points' or 'woe' (times the coefficient)", path)
        return None
    if "points" in entry:
        points = _number(r, (*path, "points"), "'points'")
    else:
        woe = _number(r, (*path, "woe"), "'woe'")
        points = None if woe is None else woe * coefficient
    kinds: list[BinKind] = [k for k in ("values", "missing", "otherwise") if k in entry]
    if "from" in entry or "to" in entry:
        kinds.append("range")
    if len(kinds) != 1:
        r.problem(
            "K104",
            "a bin is exactly one of 'from'/'to' (an interval), 'values', 'missing: true' "
            "or 'otherwise: true'",
            path,
        )
        return None
    if points is None:
        return None
    kind = kinds[0]
    if kind == "range":
        low = _number(r, (*path, "from"), "'from'", math.nan) if "from" in entry else None
        high = _number(r, (*path, "to"), "'to'", math.nan) if "to" in entry else None
        if (low is not None and math.isnan(low)) or (high is not None and math.isnan(high)):
            return None
        if low is not None and high is not None and not low < high:
            r.problem("K104", f"an empty interval: 'from' {low!r} is not below 'to' {high!r}", path)
            return None
        return BinSpec("range", points, low, high)
    if kind == "values":
        raw = entry["values"]
        if not isinstance(raw, list) or not raw:
            r.problem("K104", "'values' must be a non-empty list", (*path, "values"))
            return None
        return BinSpec("values", points, values=tuple(raw))
    if entry[kind] is not True:
        r.problem("K104", f"write '{kind}: true'", (*path, kind))
        return None
    return BinSpec(kind, points)


def _characteristic(r: Reader, path: PathKey, seen: set[str]) -> CharacteristicSpec | None:
    entry = r.mapping(path, _CHAR_KEYS, ("name", "input"), "a characteristic")
    if entry is None:
        return None
    name = r.string((*path, "name"), "the characteristic name")
    if name is None or not check_identifier(r, name, (*path, "name"), "characteristic name"):
        return None
    if name in seen:
        r.problem("K106", f"characteristic '{name}' is used twice", (*path, "name"))
        return None
    seen.add(name)
    text = r.text((*path, "input"), "'input'")
    coefficient = _number(r, (*path, "coefficient"), "'coefficient'", 1.0)
    if "bins" not in entry and "coefficient" not in entry:
        r.problem("K104", f"characteristic '{name}' needs 'bins' or a 'coefficient'", path)
        return None
    bins: list[BinSpec] = []
    for i, _ in enumerate(r.sequence((*path, "bins"), "'bins'", required=False)):
        b = _bin(r, (*path, "bins", i), coefficient or 0.0)
        if b is None:
            return None
        bins.append(b)
    if "bins" in entry and not bins:
        r.problem("K104", f"characteristic '{name}' has no bins", (*path, "bins"))
        return None
    if sum(b.kind == "otherwise" for b in bins) > 1 or sum(b.kind == "missing" for b in bins) > 1:
        r.problem("K104", "at most one 'missing' and one 'otherwise' bin", (*path, "bins"))
        return None
    missing = _number(r, (*path, "missing"), "'missing'", math.nan) if "missing" in entry else None
    if text is None or coefficient is None or (missing is not None and math.isnan(missing)):
        return None
    return CharacteristicSpec(
        name,
        str(entry.get("description", "")),
        text,
        str(entry.get("reason", name)),
        tuple(bins),
        coefficient,
        missing,
        r.loc(path),
    )


def load_scorecard(path: Path, display: str, problems: list[Problem]) -> ScorecardSpec | None:
    """Read a scorecard file, collecting problems."""
    doc, errs = load_yaml(path, display)
    problems.extend(errs)
    if doc is None:
        return None
    r = Reader(doc, f"scorecard {path.stem}", problems)
    top = r.mapping((), _TOP_KEYS, ("scorecard", "characteristics"), "a scorecard")
    if top is None:
        return None
    name = r.string(("scorecard",), "the scorecard name") or path.stem
    check_identifier(r, name, ("scorecard",), "scorecard name")
    r.component = f"scorecard {name}"
    intercept = _number(r, ("intercept",), "'intercept'", 0.0)
    link = str(top.get("link", "none"))
    if link not in LINKS:
        r.problem("K104", f"'link' must be one of {', '.join(LINKS)}, got '{link}'", ("link",))
    reasons = top.get("reasons", 4)
    if isinstance(reasons, bool) or not isinstance(reasons, int) or reasons < 0:
        r.problem("K104", "'reasons' must be a whole number >= 0 (reason codes to give)", ())
        reasons = 0
    chars: list[CharacteristicSpec] = []
    seen: set[str] = set()
    count = len(problems)
    for i, _ in enumerate(r.sequence(("characteristics",), "'characteristics'")):
        c = _characteristic(r, ("characteristics", i), seen)
        if c is not None:
            chars.append(c)
    if len(problems) > count or intercept is None or link not in LINKS:
        return None
    ref = ComponentRef(
        "scorecard", name, display, sha256_text(canonical_json(doc.data)), str(path.resolve())
    )
    return ScorecardSpec(
        name,
        str(top.get("description", "")),
        intercept,
        link,
        reasons,
        tuple(chars),
        ref,
        r.loc(()),
    )
