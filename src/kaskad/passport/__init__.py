"""Model passports: the documentation of a release, generated only from recorded facts
(release, pipeline files, registry, audit trail, runs, backtest summaries), as HTML, PDF,
a CycloneDX ML-BOM and JSON. See ``docs/passport.md``."""

from __future__ import annotations

from kaskad.passport.facts import Passport, PassportError, gather
from kaskad.passport.render import render_html, render_pdf, write_outputs

__all__ = ["Passport", "PassportError", "gather", "render_html", "render_pdf", "write_outputs"]
