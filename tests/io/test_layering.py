"""The io package's layering: file sources and the PostgreSQL source share the reading
contract (kaskad.io.reading) and do not import each other; the PostgreSQL source and its
driver are loaded only when a database is read."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import kaskad

IO = Path(kaskad.__file__).parent / "io"


def _imports(module: str) -> dict[str, list[str]]:
    """Every kaskad module ``io/<module>.py`` imports (anywhere), with the names taken."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse((IO / f"{module}.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kaskad"):
            found.setdefault(node.module or "", []).extend(a.name for a in node.names)
    return found


def test_sources_and_postgres_share_the_reading_contract_without_importing_each_other() -> None:
    sources, postgres = _imports("sources"), _imports("postgres")
    assert "kaskad.io.sources" not in postgres and "kaskad.io.reading" in postgres
    assert sources["kaskad.io.postgres"] == ["PostgresSource"]  # inside open_source only
    for module in ("sources", "postgres", "sinks", "files", "reading"):
        for origin, names in _imports(module).items():
            assert not [n for n in names if n.startswith("_") and n != "__version__"], origin


def test_reading_files_loads_neither_the_postgresql_source_nor_its_driver() -> None:
    code = (
        "import sys, kaskad.io.sources, kaskad.io.files; "
        "print([m for m in ('kaskad.io.postgres', 'psycopg') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(IO.parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == "[]"
