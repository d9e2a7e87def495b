"""``kaskad docs``: the built site served on 127.0.0.1, or how to build it."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaskad.cli import docs as docs_command
from kaskad.cli.main import app


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    (site / "reference").mkdir(parents=True)
    (site / "index.html").write_text("<h1>kaskad</h1>")
    (site / "reference" / "cli.html").write_text("<h1>Command line</h1>")
    monkeypatch.setattr(docs_command, "SITE", site)
    return site


def test_no_serve_prints_the_front_page(site: Path) -> None:
    result = CliRunner().invoke(app, ["docs", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().replace("\n", "") == str(site / "index.html")


def test_absent_site_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs_command, "SITE", tmp_path / "nothing")
    result = CliRunner().invoke(app, ["docs"])
    assert result.exit_code == 1
    assert "mkdocs build --strict" in result.output


def test_server_serves_the_site_files(site: Path) -> None:
    server = docs_command.site_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/reference/cli.html") as reply:
            assert reply.read() == b"<h1>Command line</h1>"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/../../etc/passwd")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_built_site_is_what_the_command_serves() -> None:
    """mkdocs.yml writes the site where the package (and so the wheel) carries it."""
    import yaml

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "mkdocs.yml").read_text().replace("!!python", "#"))
    assert (root / config["site_dir"]).resolve() == docs_command.SITE.resolve()
