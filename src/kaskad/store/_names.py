"""Names in the registry: what is valid, and messages that list what does exist."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from kaskad.errors import StoreError
from kaskad.store.tables import NAME

_STAGE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def unknown_name(message: str, name: str, known: list[str], what: str = "models") -> str:
    if not known:
        return f"{message}; there are no {what} yet"
    message += f"; {what}: {listing(known)}"
    close = difflib.get_close_matches(name, known, n=1)
    return message + (f" (did you mean {close[0]}?)" if close else "")


def listing(items: Sequence[object], limit: int = 20) -> str:
    shown = [str(item) for item in items]
    if len(shown) <= limit:
        return ", ".join(shown)
    return ", ".join([*shown[:5], "…", *shown[-10:]]) + f" ({len(shown)} in all)"


def check_name(name: str, what: str) -> None:
    if not name or name != name.strip() or "@" in name or len(name) > NAME:
        raise StoreError(
            f"invalid {what} {name!r}: it must be non-empty, at most {NAME} characters,"
            " without '@' or surrounding spaces"
        )


def check_stage(stage: str) -> None:
    if not _STAGE.fullmatch(stage) or stage == "latest" or len(stage) > NAME:
        raise StoreError(
            f"invalid stage name {stage!r}: use a letter followed by letters, digits,"
            " '_', '-' or '.' (e.g. production, shadow); 'latest' is reserved"
        )
