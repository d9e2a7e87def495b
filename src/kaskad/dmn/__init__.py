"""Importing DMN decision tables (DMN 1.1-1.5, as Camunda Modeler, Drools and other tools
write them) as kaskad decision tables: ``kaskad import-dmn FILE.dmn``."""

from kaskad.dmn.errors import DmnImportError
from kaskad.dmn.model import DmnModel, Table
from kaskad.dmn.reader import DMN_NAMESPACES, read_dmn
from kaskad.dmn.writer import table_yaml, write_tables

__all__ = [
    "DMN_NAMESPACES",
    "DmnImportError",
    "DmnModel",
    "Table",
    "read_dmn",
    "table_yaml",
    "write_tables",
]
