"""A DMN file as a small tree of elements that remember their line.

The file is parsed with ``defusedxml``'s expat reader: a DTD, an entity declaration (the
"billion laughs") or an external reference is refused (K242) before anything is expanded.
Malformed XML is K241 with its line and column.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler, feature_namespaces
from xml.sax.xmlreader import AttributesNSImpl, Locator

import defusedxml
from defusedxml.expatreader import DefusedExpatParser

from kaskad.dmn.errors import DmnImportError, problem


@dataclass
class Element:
    """One XML element: namespace, local name, attributes (by local name for attributes
    without a namespace, ``{ns}name`` otherwise), its text and children, its line."""

    ns: str
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    def attr(self, name: str) -> str:
        """An attribute's value, "" when it is absent."""
        return self.attrs.get(name, "")

    def find(self, tag: str) -> Element | None:
        """The first child named ``tag`` in this element's namespace."""
        return next(self.findall(tag), None)

    def findall(self, tag: str) -> Iterator[Element]:
        return (c for c in self.children if c.tag == tag and c.ns == self.ns)

    def child_text(self, tag: str) -> str | None:
        """The text of the ``<text>`` of child ``tag`` (``<inputExpression><text>…``)."""
        child = self.find(tag)
        if child is None:
            return None
        inner = child.find("text")
        return inner.text if inner is not None else None

    def describe(self) -> str:
        """``decision 'approval'`` (by id, else name), for messages."""
        key = self.get("id") or self.get("name")
        return f"{self.tag} '{key}'" if key else self.tag


class _Builder(ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.root: Element | None = None
        self.stack: list[Element] = []
        self.texts: list[list[str]] = []
        self.locator: Locator | None = None

    def setDocumentLocator(self, locator: Locator) -> None:
        self.locator = locator

    def line(self) -> int:
        line = self.locator.getLineNumber() if self.locator is not None else None
        return line or 0

    def startElementNS(
        self, name: tuple[str | None, str], qname: str | None, attrs: AttributesNSImpl
    ) -> None:
        values: dict[str, str] = {}
        for (ns, local), value in attrs.items():
            values[f"{{{ns}}}{local}" if ns else local] = value
        element = Element(name[0] or "", name[1], values, self.line())
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)
        self.texts.append([])

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        element = self.stack.pop()
        element.text = "".join(self.texts.pop())

    def characters(self, content: str) -> None:
        if self.texts:
            self.texts[-1].append(content)


def parse_file(path: Path, display: str) -> Element:
    """The root element of the XML file at ``path``; K240 if it cannot be read, K241 if it
    is not well-formed XML, K242 if it declares a DTD, entities or external references."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DmnImportError(
            [problem("K240", f"cannot read the file: {exc.strerror or exc}", display, None)]
        ) from None
    builder = _Builder()
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setFeature(feature_namespaces, True)
    parser.setContentHandler(builder)
    try:
        parser.parse(io.BytesIO(data))
    except SAXParseException as exc:
        raise DmnImportError(
            [
                problem(
                    "K241",
                    f"not well-formed XML: {exc.getMessage()}",
                    display,
                    exc.getLineNumber(),
                    column=(exc.getColumnNumber() or 0) + 1,
                )
            ]
        ) from None
    except defusedxml.DefusedXmlException as exc:
        raise DmnImportError(
            [
                problem(
                    "K242",
                    f"refused: the file {_refusal(exc)}; a DMN file needs no DTD, entities or "
                    "external references (an XML bomb or a file-stealing entity hides there)",
                    display,
                    builder.line() or None,
                    "remove the <!DOCTYPE …> declaration (DMN files never need one)",
                )
            ]
        ) from None
    if builder.root is None:  # pragma: no cover - expat refuses an empty document first
        raise DmnImportError([problem("K241", "no XML element in the file", display, 1)])
    return builder.root


def _refusal(exc: defusedxml.DefusedXmlException) -> str:
    if isinstance(exc, defusedxml.DTDForbidden):
        return f"declares a DTD (<!DOCTYPE {exc.name} …>)"
    if isinstance(exc, defusedxml.EntitiesForbidden):
        return f"declares the entity '{exc.name}'"
    if isinstance(exc, defusedxml.ExternalReferenceForbidden):
        return f"refers to an external resource ({exc.sysid})"
    return str(exc)  # pragma: no cover - defusedxml's other refusals
