"""A passport as a self-contained HTML page (Jinja2, autoescaped, CSS inline, no external
assets) and as PDF (WeasyPrint, the optional extra ``passport``)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path

import jinja2

from kaskad.backtest import formats
from kaskad.backtest.report import write_atomic
from kaskad.extras import has_module, missing_extra
from kaskad.passport.bom import cyclonedx_json
from kaskad.passport.facts import Passport, PassportError

__all__ = ["SUFFIXES", "render_html", "render_pdf", "write_outputs"]

SUFFIXES = (".html", ".pdf", ".cdx.json", ".json")
"""The output formats, chosen by the file name's ending (``.cdx.json`` before ``.json``)."""


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kaskad.passport", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(thousands=_count, pct=formats.pct, num=formats.num)
    return env


def render_html(passport: Passport) -> str:
    """The whole passport as one HTML document."""
    css = files("kaskad.passport").joinpath("templates/passport.css").read_text("utf-8")
    template = _environment().get_template("passport.html.j2")
    return template.render(p=passport, css=css)


def render_pdf(html: str) -> bytes:
    """The HTML rendered to PDF; nothing is fetched (the page has no external assets)."""
    if not has_module("weasyprint"):
        raise PassportError(missing_extra("a passport in PDF", "weasyprint", "passport"))
    import weasyprint

    def refuse(url: str) -> dict[str, str]:
        raise ValueError(f"a passport fetches nothing ({url})")

    pdf = weasyprint.HTML(string=html, url_fetcher=refuse).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


def output_format(path: Path) -> str:
    """``html``, ``pdf``, ``cyclonedx`` or ``json`` by the file name's ending."""
    name = path.name.lower()
    for suffix, fmt in zip(SUFFIXES, ("html", "pdf", "cyclonedx", "json"), strict=True):
        if name.endswith(suffix):
            return fmt
    raise PassportError(f"{path}: say the format by the file name's ending: {', '.join(SUFFIXES)}")


def write_outputs(passport: Passport, outputs: list[Path]) -> None:
    """Write the passport to every path in ``outputs``, each in the format its name says."""
    formats_ = [output_format(p) for p in outputs]  # every name checked before writing
    html = render_html(passport) if {"html", "pdf"} & set(formats_) else ""
    for path, fmt in zip(outputs, formats_, strict=True):
        data: bytes
        if fmt == "html":
            data = html.encode("utf-8")
        elif fmt == "pdf":
            data = render_pdf(html)
        elif fmt == "cyclonedx":
            data = cyclonedx_json(passport).encode("utf-8")
        else:
            text = json.dumps(passport.to_dict(), indent=2, ensure_ascii=False, default=str)
            data = (text + "\n").encode("utf-8")
        write_atomic(path, data)
