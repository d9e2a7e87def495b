"""Masking sensitive fields: keyed HMAC-SHA-256 with the key id kept with the value, on
every shape a client can send, and never echoed in problem texts."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from kaskad.compile.compiler import compile_pipeline
from kaskad.execute.inputs import coerce_record
from kaskad.execute.masking import MaskingKey, MaskingKeyError, load_masking_key, mask
from kaskad.execute.record import RecordExecutor

SECRET = b"0123456789abcdef-a-test-secret"
KEY = MaskingKey("2025-03", SECRET)
PASSPORT = "6223423370"


def _hmac(text: str) -> str:
    return "hmac-sha256:2025-03:" + hmac.new(SECRET, text.encode(), hashlib.sha256).hexdigest()


def test_keyed_masking_stores_the_key_id_and_the_hmac(example_dir: Path) -> None:
    schema = compile_pipeline(example_dir / "pipeline.yaml").schema
    record = {"applicant": {"passport_number": PASSPORT, "age": 30}, "amount": 5.0}
    masked = mask(record, schema, KEY)
    assert masked["applicant"] == {"passport_number": _hmac(PASSPORT), "age": 30}
    assert masked["amount"] == 5.0
    unkeyed = mask(record, schema)["applicant"]["passport_number"]
    assert unkeyed == "sha256:" + hashlib.sha256(PASSPORT.encode()).hexdigest()
    assert record["applicant"]["passport_number"] == PASSPORT  # the input is not changed


def test_every_shape_is_masked(example_dir: Path) -> None:
    schema = compile_pipeline(example_dir / "pipeline.yaml").schema
    as_list = [{"applicant": {"passport_number": PASSPORT}}, PASSPORT]
    assert PASSPORT not in repr(mask(as_list, schema, KEY))
    wrong_shape = {"applicant": [{"passport_number": PASSPORT}]}
    assert PASSPORT not in repr(mask(wrong_shape, schema, KEY))
    assert PASSPORT not in repr(mask(PASSPORT, schema, KEY))
    number = {"applicant": {"passport_number": int(PASSPORT)}}
    assert mask(number, schema, KEY)["applicant"]["passport_number"] == _hmac(PASSPORT)


def test_a_sensitive_value_is_never_echoed_in_problems(example_dir: Path) -> None:
    plan = compile_pipeline(example_dir / "pipeline.yaml")
    record = {"applicant": {"passport_number": int(PASSPORT)}}
    _, problems = coerce_record(plan.schema, record)
    [problem] = [p for p in problems if p.path == "applicant.passport_number"]
    assert problem.message == (
        "applicant.passport_number: expected string, got number (sensitive, not shown)"
    )
    decision = RecordExecutor(plan).decide(record)
    assert PASSPORT not in repr(decision.output)


def test_keys_come_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "masking.key"
    secret_file.write_text(SECRET.decode() + "\n")
    assert load_masking_key("2025-03", file=secret_file) == KEY
    monkeypatch.setenv("KASKAD_MASKING_SECRET", SECRET.decode())
    assert load_masking_key("2025-03", env="KASKAD_MASKING_SECRET") == KEY
    assert SECRET.decode() not in repr(KEY)
    with pytest.raises(MaskingKeyError, match="too short") as short:
        MaskingKey("k1", b"short")
    assert short.value.code == "K611"
    with pytest.raises(MaskingKeyError, match="is not set"):
        load_masking_key("k1", env="KASKAD_NO_SUCH_VARIABLE")
