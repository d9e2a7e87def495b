"""Sensitive fields on every output path, from one table of inputs.

A pipeline unlike the credit example (an operation with a sensitive key, a sensitive
category, a sensitive amount with a constraint, a sensitive passport with a pattern,
missing values) is run through ``kaskad decide``, ``kaskad run`` (output, rejects, and
rejected rows in the output), ``kaskad backtest`` (its JSON summary and HTML report),
the run summary kept in the store, and the server (one record, and a batch above the
batch threshold, which takes the vectorized check). No secret of the table may appear
anywhere; the sensitive key is written as its keyed HMAC; problem texts are the same on
the per-record and batch paths.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

import httpx
import polars as pl
import pytest

from kaskad.execute.masking import MaskingKey
from kaskad.registry.releases import create_release
from kaskad.serve import PipelineFile, ServeConfig
from kaskad.store import Store
from tests.cli.test_cli import GOLDEN, kaskad
from tests.serve.conftest import running

SECRET = "a-secret-for-output-masking"
SCHEMA = """schema: operation
fields:
  id: {type: string, required: true, key: true, sensitive: true}
  day: date
  kind: {type: category, values: [cash_in, cash_out, transfer], sensitive: true}
  amount_rub: {type: float, sensitive: true, min: 0}
  passport: {type: string, sensitive: true, pattern: "[0-9]{10}"}
  transactions:
    type: list
    items:
      type: object
      fields:
        day: date
        counterparty_type: {type: category, values: [individual, legal_entity]}
"""
# (what it tries, the record, the secrets it carries): the one table every path reads
TABLE: list[tuple[str, dict[str, object], tuple[str, ...]]] = [
    (
        "valid",
        {"id": "SECRET-ID-1", "kind": "cash_in", "amount_rub": 1e6, "passport": "4510123456"},
        ("SECRET-ID-1", "4510123456"),
    ),
    (
        "missing values",
        {"id": "SECRET-ID-2", "day": None, "kind": None, "amount_rub": None},
        ("SECRET-ID-2",),
    ),
    (
        "constraints",
        {"id": "SECRET-ID-3", "amount_rub": -777777.5, "passport": "XX-SECRET-PASS"},
        ("SECRET-ID-3", "777777", "XX-SECRET-PASS"),
    ),
    (
        "not an allowed value",
        {"id": "SECRET-ID-4", "kind": "SECRET-KIND", "amount_rub": 5.0},
        ("SECRET-ID-4", "SECRET-KIND"),
    ),
    (
        "wrong types",
        {"id": "SECRET-ID-5", "amount_rub": "8888888-text", "passport": 9999999999},
        ("SECRET-ID-5", "8888888", "9999999999"),
    ),
    (
        "large, decided",
        {"id": "SECRET-ID-6", "kind": "cash_out", "amount_rub": 2e6, "day": "2025-03-01"},
        ("SECRET-ID-6",),
    ),
]
SECRETS = sorted({s for _, _, secrets in TABLE for s in secrets})
REJECTED = {"constraints", "not an allowed value", "wrong types"}


def _hmac(value: str) -> str:
    return "hmac-sha256:k9:" + hmac.new(SECRET.encode(), value.encode(), hashlib.sha256).hexdigest()


def _records() -> list[dict[str, object]]:
    return [{"transactions": [], **record} for _, record, _ in TABLE]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "aml"
    shutil.copytree(GOLDEN, folder)
    (folder / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "input.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records()))
    (tmp_path / "masking.key").write_text(SECRET)
    return folder


def _no_secret_in(text: str, where: str, allowed: tuple[str, ...] = ()) -> None:
    leaked = [s for s in SECRETS if s in text and s not in allowed]
    assert not leaked, f"{where} shows {leaked}"


def _no_secret_in_files(folder: Path, skip: set[Path]) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path not in skip:
            _no_secret_in(path.read_bytes().decode("utf-8", "replace"), str(path))


@pytest.mark.slow
def test_run_backtest_and_store_never_show_a_sensitive_value(project: Path, tmp_path: Path) -> None:
    store, key = str(tmp_path / "store"), str(tmp_path / "masking.key")
    masked = ("--masking-key-file", key, "--masking-key-id", "k9", "--store", store)
    data = str(tmp_path / "input.jsonl")
    split = kaskad(
        "run", str(project / "pipeline.yaml"), "-i", data, "-o", str(tmp_path / "out.parquet"),
        "--rejects", str(tmp_path / "rejects.jsonl"), *masked,
    )  # fmt: skip
    assert split.returncode == 0, split.stderr
    together = kaskad(
        "run", str(project / "pipeline.yaml"), "-i", data, "-o", str(tmp_path / "all.csv"),
        *masked,
    )  # fmt: skip
    assert together.returncode == 0, together.stderr
    for outcome, where in ((split, "run --rejects"), (together, "run")):
        _no_secret_in(outcome.stdout + outcome.stderr, where)

    decided = pl.read_parquet(tmp_path / "out.parquet")
    assert decided["id"].to_list() == [
        _hmac(str(r["id"])) for n, r, _ in TABLE if n not in REJECTED
    ]
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rejects] == [_hmac(str(r["id"])) for n, r, _ in TABLE if n in REJECTED]
    texts = [e for r in rejects for e in r["errors"]]
    assert "line 4: kind: a value (sensitive, not shown) is not an allowed value" in texts
    assert "line 5: passport: expected string, got number (sensitive, not shown)" in texts

    # the batch run's problem texts are the per-record path's (kaskad decide), line aside
    for n, (name, record, _) in enumerate(TABLE, start=1):
        if name not in REJECTED:
            continue
        one = tmp_path / f"{n}.json"
        one.write_text(json.dumps({"transactions": [], **record}))
        shown = kaskad("decide", str(project / "pipeline.yaml"), "-i", str(one), "--json", *masked)
        assert shown.returncode == 3, shown.stderr
        _no_secret_in(shown.stdout + shown.stderr, f"decide {name}")
        result = json.loads(shown.stdout)["result"]
        assert result["id"] == _hmac(str(record["id"]))
        batch_errors = next(r["errors"] for r in rejects if r["id"] == result["id"])
        assert [e.split(": ", 1)[1] for e in batch_errors] == result["errors"]

    candidate = tmp_path / "candidate"
    shutil.copytree(project, candidate)
    rules = candidate / "rules.yaml"
    rules.write_text(rules.read_text().replace("amount_rub >= 1000000", "amount_rub >= 3000000"))
    with Store.open(store) as opened:
        release = create_release(opened, candidate / "pipeline.yaml", actor="data-science")
    refused = kaskad(
        "backtest", str(project / "pipeline.yaml"), "--baseline", "working",
        "--candidate", release.ref, "-i", data, *masked,
    )  # fmt: skip
    assert refused.returncode == 2  # a backtest replays decidable history only
    _no_secret_in(refused.stdout + refused.stderr, "backtest of the whole table")
    decidable = tmp_path / "decidable.jsonl"
    decidable.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r, (n, _, _) in zip(_records(), TABLE, strict=True)
            if n not in REJECTED
        )
    )
    compared = kaskad(
        "backtest", str(project / "pipeline.yaml"), "--baseline", "working",
        "--candidate", release.ref, "-i", str(decidable),
        "--summary", str(tmp_path / "backtest.json"), "--report", str(tmp_path / "backtest.html"),
        *masked,
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    _no_secret_in(compared.stdout + compared.stderr, "backtest")
    examples = json.loads((tmp_path / "backtest.json").read_text())["flips"]
    shown = json.dumps(examples)
    assert _hmac("SECRET-ID-1") in shown and _hmac("SECRET-ID-6") in shown  # the flipped rows
    inputs = {tmp_path / "input.jsonl", decidable, *tmp_path.glob("[0-9].json")}
    _no_secret_in_files(tmp_path, skip=inputs | set((tmp_path / "candidate").rglob("*")))


def test_unmasked_output_is_recorded_with_its_identity(project: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    out = tmp_path / "clear.csv"
    ran = kaskad(
        "run", str(project / "pipeline.yaml"), "-i", str(tmp_path / "input.jsonl"),
        "-o", str(out), "--unmasked", "--store", store, "--actor", "risk-analyst",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "SECRET-ID-1" in out.read_text()  # in clear, as asked
    _no_secret_in(ran.stderr, "the run's messages")  # problem texts stay redacted
    with Store.open(store) as opened:
        [entry] = opened.audit_log(action="output.unmasked")
    assert entry.target == "aml_unknowns" and "risk-analyst" in entry.actor
    assert entry.detail == {"output": str(out), "fields": ["id"]}


def test_server_single_and_vectorized_batch_never_echo(project: Path, tmp_path: Path) -> None:
    config = ServeConfig(
        {"aml": PipelineFile(project / "pipeline.yaml")},
        allow_anonymous=True,
        decision_log=str(tmp_path / "log"),
        masking_key=MaskingKey("k9", SECRET.encode()),
        batch_threshold=2,
    )
    records = _records()
    with running(config) as url, httpx.Client(base_url=url, timeout=30) as client:
        singles = [client.post("/v1/pipelines/aml/decide", json=r) for r in records]
        batch = client.post("/v1/pipelines/aml/decide-batch", json=records * 2)
    assert batch.status_code == 200
    ids = tuple(str(r["id"]) for r in records)  # a reply echoes the caller's own key back
    for response in (*singles, batch):
        _no_secret_in(response.text, "the reply", allowed=ids)
    items = batch.json()[: len(records)]
    for single, item in zip(singles, items, strict=True):
        if single.status_code == 422:  # the same problems on the per-record path
            assert [e["problem"] for e in single.json()["errors"]] == [
                e["problem"] for e in item["errors"]
            ]
            assert [e["got"] for e in single.json()["errors"]] == [e["got"] for e in item["errors"]]
    _no_secret_in_files(tmp_path / "log", skip=set())
