from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kaskad.store import Store


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "store")
    yield store
    store.close()
