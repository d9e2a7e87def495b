"""``kaskad docs``: serve the documentation site shipped in the package, on this machine."""

from __future__ import annotations

import functools
import http.server
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from kaskad.cli.common import err, fail, out

SITE = Path(__file__).resolve().parent.parent / "site"
BUILD_HINT = (
    "the documentation site is not built into this installation; from a checkout of "
    "kaskad: pip install -e '.[docs]' && mkdocs build --strict"
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not printed: the site is static and local."""


def site_index(site: Path = SITE) -> Path:
    """The built site's front page; exit 1 with how to build it when it is absent."""
    index = site / "index.html"
    if not index.is_file():
        raise fail(BUILD_HINT)
    return index


def site_server(site: Path, port: int) -> http.server.ThreadingHTTPServer:
    """An HTTP server of ``site``'s files on 127.0.0.1 (not started)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def docs(
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Serve the site over HTTP on 127.0.0.1 until interrupted "
            "(--no-serve prints where its files are).",
        ),
    ] = True,
    port: Annotated[
        int, typer.Option("--port", help="Port on 127.0.0.1; 0 picks a free one.")
    ] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the site in the default web browser.")
    ] = False,
) -> None:
    """The documentation site (guides, CLI and Python reference, error codes), served on
    127.0.0.1 from the files shipped with kaskad: nothing is fetched from the internet."""
    index = site_index(SITE)
    if not serve:
        out.print(str(index))
        if open_browser:
            webbrowser.open(index.as_uri())
        return
    try:
        server = site_server(index.parent, port)
    except OSError as exc:
        raise fail(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}; try --port") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    out.print(f"serving the kaskad documentation at {url} (Ctrl-C stops)", highlight=False)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err.print("stopped")
    finally:
        server.server_close()
