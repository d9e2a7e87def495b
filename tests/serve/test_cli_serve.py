"""The API keys file read by ``kaskad serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaskad.cli.serve import load_api_keys
from kaskad.errors import KaskadError
from kaskad.serve import hash_key


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
