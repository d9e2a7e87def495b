"""Optional extras: the message that names the extra to install when a package is missing."""

from __future__ import annotations

import importlib.util

__all__ = ["has_module", "missing_extra"]


def has_module(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def missing_extra(what: str, module: str, extra: str) -> str:
    """``PostgreSQL needs psycopg, which is not installed: pip install 'kaskad[postgres]'``."""
    return f"{what} needs {module}, which is not installed: pip install 'kaskad[{extra}]'"
