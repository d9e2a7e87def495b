"""SQL ``LIKE`` matching in linear time, for the per-record executor.

A pattern is split on ``%`` into segments of literal characters and ``_`` (exactly one
character). The first segment is anchored at the start, the last at the end, and the
ones between are found leftmost, in order, with :meth:`str.find`: no backtracking,
so a hostile pattern such as ``'%RU%MOW%'`` over a long value costs one scan of the
value per segment (a regular expression engine with backtracking is quadratic there).

Semantics match the vectorized executor (a Rust regular expression, which never
backtracks): ``_`` matches any one code point including a newline; ``ILIKE``
compares characters by simple case folding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["LikeMatcher", "fold_case", "like_of_regex"]


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    # Unicode simple case folding, as Polars' (Rust regex) case-insensitive match uses it.
    # The dotless i folds to nothing but itself there (its mapping to ``i`` is Turkic only).
    if ch == "\u0131":
        return ch
    lower = ch.lower()
    if len(lower) != 1:
        lower = ch
    upper = lower.upper()
    if len(upper) == 1:
        again = upper.lower()
        if len(again) == 1:
            return again
    return lower


def fold_case(text: str) -> str:
    """``text`` with each character case-folded one to one (length kept)."""
    if text.isascii():
        return text.lower()
    return "".join(map(_fold_char, text))


@dataclass(frozen=True)
class _Segment:
    """Literal characters and ``_`` between two ``%``: a fixed-length regular expression.

    Without quantifiers there is nothing to backtrack into: a search costs at most the
    value's length times the segment's, and runs in C.
    """

    size: int
    regex: re.Pattern[str]

    @staticmethod
    def parse(text: str) -> _Segment:
        body = "".join("." if ch == "_" else re.escape(ch) for ch in text)
        return _Segment(len(text), re.compile(body, re.S))

    def at(self, value: str, i: int) -> bool:
        return self.regex.match(value, i) is not None

    def find(self, value: str, start: int) -> int:
        """Leftmost position ≥ ``start`` where the segment matches, or -1."""
        found = self.regex.search(value, start)
        return -1 if found is None else found.start()


def like_of_regex(regex: str) -> str:
    """The LIKE pattern ``like_to_regex`` turned into ``regex``: it escapes every special
    character it copies, so an unescaped ``.`` is a wildcard (``%`` when ``*`` follows)."""
    out: list[str] = []
    i = 0
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            out.append(regex[i + 1])
            i += 2
        elif ch == "." and regex.startswith("*", i + 1):
            out.append("%")
            i += 2
        elif ch == ".":
            out.append("_")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class LikeMatcher:
    """A compiled ``LIKE`` (or, with ``case_insensitive``, ``ILIKE``) pattern."""

    segments: tuple[_Segment, ...]
    case_insensitive: bool

    @staticmethod
    def compile(pattern: str, case_insensitive: bool = False) -> LikeMatcher:
        text = fold_case(pattern) if case_insensitive else pattern
        return LikeMatcher(tuple(_Segment.parse(s) for s in text.split("%")), case_insensitive)

    @staticmethod
    def from_regex(regex: str, case_insensitive: bool = False) -> LikeMatcher:
        """The matcher of the pattern a plan holds as ``like_to_regex`` wrote it (``.*``
        for ``%``, ``.`` for ``_``, other characters escaped where special), so plans keep
        the form and hash they have."""
        return LikeMatcher.compile(like_of_regex(regex), case_insensitive)

    def matches(self, value: str) -> bool:
        """Whether the whole of ``value`` matches the pattern."""
        if self.case_insensitive:
            value = fold_case(value)
        segs = self.segments
        head = segs[0]
        if len(segs) == 1:
            return len(value) == head.size and head.at(value, 0)
        if len(value) < head.size or not head.at(value, 0):
            return False
        pos = head.size
        for seg in segs[1:-1]:
            found = seg.find(value, pos)
            if found < 0:
                return False
            pos = found + seg.size
        tail = segs[-1]
        start = len(value) - tail.size
        return start >= pos and tail.at(value, start)
