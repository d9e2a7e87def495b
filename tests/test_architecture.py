"""Import rules between kaskad's packages, checked on the source (``ast``; nothing is
imported or executed), as docs/architecture.md states them.

- Each package imports only the packages its row of the table in docs/architecture.md
  allows (``ALLOWED`` below is that table; a test checks the two agree).
- Nothing outside ``kaskad/store`` imports the store's private modules (``kaskad.store._*``):
  the rest of kaskad, and the tests, use the names ``kaskad.store`` exports in ``__all__``
  or its public modules (``kaskad.store.decisions``, ``kaskad.store.journal``, ...).
- ``import kaskad.compile`` loads nothing of ``kaskad.execute`` (checked in a fresh
  interpreter), and ``import kaskad`` loads neither SQLAlchemy, FastAPI nor Spark.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "kaskad"
TESTS = ROOT / "tests"


@dataclass(frozen=True)
class Import:
    """One imported module (or module attribute) of a source file, at a line."""

    file: Path
    line: int
    name: str  # absolute dotted name: "kaskad.store._engine", "kaskad.store.Store"

    def __str__(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}: imports {self.name}"


def module_name(path: Path) -> str:
    """The dotted name of a source file: src/kaskad/store/api.py → kaskad.store.api."""
    base = SRC if path.is_relative_to(SRC) else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, source: str | None = None) -> Iterator[Import]:
    """Every import of ``path`` as absolute names; ``from M import a`` gives ``M.a``
    (a submodule or a name, either way what was reached into), relative imports resolved.
    Imports inside functions and ``if TYPE_CHECKING`` blocks count too."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                yield Import(path, node.lineno, f"{base}.{alias.name}")


def sources(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from sorted(root.rglob("*.py"))


def reaches_into_store(imported: str) -> bool:
    """``kaskad.store._engine``, ``kaskad.store._engine.reading``, ...: a private part."""
    parts = imported.split(".")
    return len(parts) > 2 and parts[:2] == ["kaskad", "store"] and parts[2].startswith("_")


def store_private_imports(paths: Iterator[Path]) -> list[Import]:
    store = PACKAGE / "store"
    return [
        found
        for path in paths
        if not path.is_relative_to(store)
        for found in imports_of(path)
        if reaches_into_store(found.name)
    ]


@pytest.mark.slow
def test_nothing_outside_the_store_imports_its_private_modules() -> None:
    offending = store_private_imports(sources(PACKAGE, TESTS))
    assert not offending, "private store modules imported outside kaskad/store:\n" + "\n".join(
        map(str, offending)
    )


def test_the_import_check_sees_every_form_of_import() -> None:
    path = PACKAGE / "serve" / "example.py"  # not read: the source is given
    source = "\n".join(
        [
            "from kaskad.store import _engine",
            "import kaskad.store._engine as engine",
            "from kaskad.store._names import listing",
            "from ..store import _records",
            "from kaskad.store import Store, decisions",
            "def later():",
            "    from kaskad.store.tables import DecisionRow",
        ]
    )
    found = [i for i in imports_of(path, source) if reaches_into_store(i.name)]
    assert [(i.line, i.name) for i in found] == [
        (1, "kaskad.store._engine"),
        (2, "kaskad.store._engine"),
        (3, "kaskad.store._names.listing"),
        (4, "kaskad.store._records"),
    ]
    assert str(found[0]) == "src/kaskad/serve/example.py:1: imports kaskad.store._engine"


# ---- layering ------------------------------------------------------------------------------

# top-level modules every package may use
BASE = {"errors", "extras", "features", "jsonio", "lazy"}
# package → the kaskad packages it may import (docs/architecture.md, "What each package owns")
ALLOWED: dict[str, set[str]] = {
    "spec": set(),
    "models": {"spec"},
    "compile": {"spec", "models"},
    "execute": {"compile", "models", "spec"},
    "io": {"compile", "execute", "spec"},
    "store": {"compile", "spec"},
    "audit": {"compile", "execute", "io", "models", "registry", "spec", "store"},
    "registry": {"compile", "execute", "io", "models", "spec", "store"},
    "batch": {"compile", "execute", "io", "models", "spec", "store"},
    "backtest": {"batch", "compile", "execute", "io", "registry", "spec", "store"},
    "passport": {"backtest", "compile", "registry", "spec", "store"},
    "serve": {
        "backtest",
        "batch",
        "compile",
        "execute",
        "io",
        "models",
        "monitor",
        "registry",
        "spec",
        "store",
    },
    "deliver": {"compile", "registry", "spec", "store"},
    "dmn": set(),
    "monitor": {"backtest", "compile", "execute", "io", "registry", "spec", "store"},
    "cli": {
        "audit",
        "backtest",
        "batch",
        "compile",
        "deliver",
        "dmn",
        "execute",
        "io",
        "models",
        "monitor",
        "passport",
        "registry",
        "serve",
        "spec",
        "store",
    },
}


def package_of(name: str) -> str | None:
    """``kaskad.compile.plan.Plan`` → ``compile``; ``kaskad`` itself → ``kaskad``."""
    parts = name.split(".")
    if parts[0] != "kaskad":
        return None
    return parts[1] if len(parts) > 1 else "kaskad"


def layering_violations() -> list[str]:
    bad: list[str] = []
    for path in sources(PACKAGE):
        rel = path.relative_to(PACKAGE).parts
        if len(rel) == 1:
            continue  # top-level modules: kaskad/__init__.py, errors.py, features.py, ...
        mine = rel[0]
        allowed = ALLOWED[mine] | BASE | {mine, "__version__"}
        for found in imports_of(path):
            target = package_of(found.name)
            if target is None:
                continue
            if target == "kaskad":  # `from kaskad import X`: X is a module or a name
                target = found.name.split(".")[1] if "." in found.name else "kaskad"
            if target not in allowed:
                bad.append(f"{found} (package {mine} may not import {target})")
    return bad


def test_packages_import_only_what_the_architecture_allows() -> None:
    bad = layering_violations()
    assert not bad, "imports the architecture does not allow:\n" + "\n".join(bad)


def test_every_package_has_a_row_in_the_architecture_page() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)/` \|.*\| (.*) \|$", page, flags=re.M))
    assert set(rows) == set(ALLOWED)
    for name, cell in rows.items():
        if "everything" in cell:
            continue
        assert set(re.findall(r"`(\w+)`", cell)) == ALLOWED[name], name


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(out.stdout.split())


def test_compile_imports_nothing_of_execute() -> None:
    loaded = _loaded_after("import kaskad.compile.compiler, kaskad.compile.serial")
    assert "kaskad.compile.compiler" in loaded
    assert not {m for m in loaded if m.startswith("kaskad.execute")}


def test_import_kaskad_stays_light() -> None:
    loaded = _loaded_after("import kaskad")
    heavy = {"sqlalchemy", "alembic", "fastapi", "uvicorn", "pyspark", "psycopg"}
    assert not {m.split(".")[0] for m in loaded} & heavy
