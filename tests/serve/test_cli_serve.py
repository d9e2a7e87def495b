"""``kaskad serve``: what it serves and the API keys file it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaskad.cli.registry import cache_root
from kaskad.cli.serve import _source, load_api_keys
from kaskad.errors import KaskadError
from kaskad.serve import PipelineFile, ReleaseRef, hash_key


def test_keys_file_yaml_and_json(tmp_path: Path) -> None:
    digest = hash_key("secret")
    yml = tmp_path / "keys.yaml"
    yml.write_text(f"keys:\n  - sha256: {digest}\n    role: decide\n    label: gateway\n")
    js = tmp_path / "keys.json"
    js.write_text(f'{{"keys": [{{"sha256": "{digest.upper()}", "role": "admin"}}]}}')
    [a] = load_api_keys(yml)
    [b] = load_api_keys(js)
    assert (a.sha256, a.role, a.label) == (digest, "decide", "gateway")
    assert (b.sha256, b.role) == (digest, "admin")


def test_keys_file_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "keys.yaml"
    bad.write_text("keys:\n  - sha256: not-a-hash\n    role: decide\n")
    with pytest.raises(KaskadError, match="64-character"):
        load_api_keys(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(KaskadError, match="'keys' list"):
        load_api_keys(bad)


def test_what_to_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text("pipeline: loans\n")
    assert _source("credit", "st") == (
        "credit",
        ReleaseRef("credit@production", "st", cache_root("st")),
    )
    # no --store: the store found as every command finds it (here: none yet, ./.kaskad)
    here = str(tmp_path / ".kaskad")
    assert _source("credit@3", None)[1] == ReleaseRef("credit@3", here, cache_root(None))
    assert _source("p.yaml", None) == ("loans", PipelineFile(Path("p.yaml")))
    assert _source("web=p.yaml", None) == ("web", PipelineFile(Path("p.yaml")))
    # a missing file stays a file: the server then says it is missing
    assert _source("missing.yaml", None)[1] == PipelineFile(Path("missing.yaml"))
