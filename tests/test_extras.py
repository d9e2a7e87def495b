"""Without the optional PostgreSQL driver (kaskad[postgres]), files and SQLite work and a
PostgreSQL URL fails with a message naming the extra."""

from __future__ import annotations

import sys

import polars as pl
import pytest

from kaskad.errors import InputError, StoreError
from kaskad.io.sinks import OutputError, open_sink
from kaskad.store import Store

EXTRA = "pip install 'kaskad[postgres]'"
URL = "postgresql://postgres@127.0.0.1:5432/nowhere"


@pytest.fixture
def no_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "psycopg" or m.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "kaskad.io.postgres", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg → ImportError


@pytest.mark.usefixtures("no_psycopg")
def test_postgres_output_and_input_name_the_extra() -> None:
    with pytest.raises(OutputError, match=EXTRA.replace("[", r"\[")):
        open_sink(URL, {"x": pl.Int64()}, table="out")
    with pytest.raises(InputError, match=r"kaskad\[postgres\]"):
        import kaskad.io.postgres  # noqa: F401


@pytest.mark.usefixtures("no_psycopg")
def test_postgres_store_names_the_extra() -> None:
    with pytest.raises(StoreError, match=r"kaskad\[postgres\]"):
        Store.open(URL)
