"""Release numbers are what a store's 64-bit column holds: larger ones are refused
(K600) when a reference is parsed, never passed on to the database."""

from __future__ import annotations

import pytest

from kaskad.errors import StoreError
from kaskad.store.refs import MAX_NUMBER, ReleaseSelector, release_number


def test_release_numbers_within_64_bits() -> None:
    assert release_number("3") == 3
    assert release_number(str(MAX_NUMBER)) == MAX_NUMBER
    assert release_number("0003") == 3
    for text in ("0", str(MAX_NUMBER + 1), "9" * 5000, "²", "-1", "production", ""):
        assert release_number(text) is None, text
    assert ReleaseSelector.parse("loans@12").number == 12
    assert ReleaseSelector.parse("loans@production").stage == "production"


@pytest.mark.parametrize("selector", [str(2**64), "9" * 5000, "0"])
def test_reference_beyond_64_bits_is_refused(selector: str) -> None:
    with pytest.raises(StoreError, match="release numbers go from 1 to 9223372036854775807"):
        ReleaseSelector.parse(f"loans@{selector}")
