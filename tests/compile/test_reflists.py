"""Reference lists: reading and refusing list files, IN and lookup() in expressions,
content hashes, and the plan carrying the lists' content."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaskad import RecordExecutor, compile_pipeline
from kaskad.compile.serial import plan_from_json, plan_to_json
from kaskad.errors import SpecError

SCHEMA = """\
schema: payments
fields:
  id: {type: string, required: true, key: true}
  country: string
  mcc: integer
  score: float
  payments:
    type: list
    items:
      type: object
      fields:
        country: string
        mcc: integer
"""

COUNTRIES_CSV = "country,listed_by\nIR,FATF\nKP,FATF\nMM,\n"
MCC_YAML = """\
list: mcc_groups
key: mcc
key_type: integer
columns: {group: string, risk: integer, weight: float}
rows:
  - {mcc: 7995, group: gambling, risk: 3, weight: 1.5}
  - {mcc: 5411, group: grocery, risk: 1}
"""


def write(tmp_path: Path, features: str, lists: str | None = None) -> Path:
    (tmp_path / "lists").mkdir(exist_ok=True)
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    (tmp_path / "lists" / "countries.csv").write_text(COUNTRIES_CSV)
    (tmp_path / "lists" / "mcc.yaml").write_text(MCC_YAML)
    (tmp_path / "features.yaml").write_text(f"featureset: f\nfeatures:\n{features}")
    declared = lists or ("lists:\n  high_risk: lists/countries.csv\n  mcc_groups: lists/mcc.yaml\n")
    (tmp_path / "pipeline.yaml").write_text(
        "pipeline: p\ninput: schema.yaml\n"
        + declared
        + "steps:\n  - features: features.yaml\ndecision:\n  - otherwise: ok\n"
    )
    return tmp_path / "pipeline.yaml"


def feature(name: str, expr: str) -> str:
    return f'  - name: {name}\n    description: {name}\n    expr: "{expr}"\n'


def problems(path: Path) -> list[tuple[str, str, int | None]]:
    with pytest.raises(SpecError) as info:
        compile_pipeline(path)
    return [
        (p.code, Path(p.location.file or "").name, p.location.line) for p in info.value.problems
    ]


def test_in_a_list_and_lookup_are_typed_and_computed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        feature("risky", "country IN high_risk")
        + feature("safe", "country NOT IN list('high_risk')")
        + feature("grp", "lookup(mcc_groups, mcc, 'group')")
        + feature("risk", "lookup(mcc_groups, mcc, 'risk')")
        + feature("weight", "lookup(mcc_groups, mcc, 'weight')")
        + feature("listed_payments", "count(payments WHERE country IN high_risk)"),
    )
    plan = compile_pipeline(path)
    types = {n.name: str(n.dtype) for n in plan.nodes}
    assert types == {
        "risky": "boolean",
        "safe": "boolean",
        "grp": "string",
        "risk": "integer",
        "weight": "float",
        "listed_payments": "integer",
    }
    run = RecordExecutor(plan)
    out = run.decide(
        {"id": "1", "country": "IR", "mcc": 7995, "payments": [{"country": "KP"}, {}]}
    ).output
    assert (out["risky"], out["safe"], out["grp"], out["risk"], out["weight"]) == (
        True,
        False,
        "gambling",
        3,
        1.5,
    )
    assert out["listed_payments"] == 1
    absent = run.decide({"id": "2", "country": "RU", "mcc": 5411}).output
    assert (absent["risky"], absent["safe"], absent["grp"], absent["weight"]) == (
        False,
        True,
        "grocery",
        None,  # an empty cell is a missing value
    )
    assert run.decide({"id": "3", "mcc": 1}).output["grp"] is None  # key not in the list
    missing = run.decide({"id": "4"}).output
    assert (missing["risky"], missing["safe"], missing["grp"]) == (None, None, None)


def test_the_plan_carries_the_lists_and_their_hashes(tmp_path: Path) -> None:
    path = write(tmp_path, feature("risky", "country IN high_risk"))
    plan = compile_pipeline(path)
    lists = {c.name: c.sha256 for c in plan.components if c.kind == "list"}
    assert set(lists) == {"high_risk", "mcc_groups"}
    again = plan_from_json(plan_to_json(plan))
    assert again == plan
    (tmp_path / "lists").rename(tmp_path / "moved")  # the plan runs without the files
    assert RecordExecutor(again).decide({"id": "1", "country": "MM"}).output["risky"] is True


def test_a_list_hash_follows_its_content_not_its_formatting(tmp_path: Path) -> None:
    path = write(tmp_path, feature("risky", "country IN high_risk"))

    def list_hash() -> str:
        plan = compile_pipeline(path)
        return next(c.sha256 for c in plan.components if c.name == "high_risk")

    first = list_hash()
    (tmp_path / "lists" / "countries.csv").write_text("country,listed_by\nMM,\nKP,FATF\nIR,FATF\n")
    assert list_hash() == first  # the same entries in another order
    (tmp_path / "lists" / "countries.csv").write_text(COUNTRIES_CSV + "SY,FATF\n")
    assert list_hash() != first


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("country\nIR\nIR\n", ("K252", 3)),
        ('country\nIR\n""\n', ("K253", 3)),
        ("country,listed_by\nIR\n", ("K251", 2)),
        ("", ("K250", 1)),
    ],
)
def test_bad_csv_entries_are_refused_with_file_and_line(
    tmp_path: Path, content: str, expected: tuple[str, int]
) -> None:
    path = write(tmp_path, feature("risky", "country IN high_risk"))
    (tmp_path / "lists" / "countries.csv").write_text(content)
    assert problems(path) == [(expected[0], "countries.csv", expected[1])]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("list: mcc_groups\nkey_type: integer\nentries: [1, 2, x]\n", ("K251", 3)),
        ("list: mcc_groups\nkey_type: integer\nentries: [1, 2, 1]\n", ("K252", 3)),
        ("list: mcc_groups\nkey_type: integer\nentries: [1, null]\n", ("K253", 3)),
        ("list: mcc_groups\nkey_type: date\nentries: [1]\n", ("K250", 2)),
        ("list: other\nentries: [a]\n", ("K250", 1)),
        (
            "list: mcc_groups\nkey: mcc\nkey_type: integer\ncolumns: {risk: integer}\n"
            "rows:\n  - {mcc: 1, risk: 2}\n  - {mcc: 2, risk: high}\n",
            ("K251", 7),
        ),
    ],
)
def test_bad_yaml_entries_are_refused_with_file_and_line(
    tmp_path: Path, content: str, expected: tuple[str, int]
) -> None:
    path = write(tmp_path, feature("risky", "country IN high_risk"))
    (tmp_path / "lists" / "mcc.yaml").write_text(content)
    assert problems(path) == [(expected[0], "mcc.yaml", expected[1])]


def test_a_csv_list_with_declared_key_and_column_types(tmp_path: Path) -> None:
    lists = (
        "lists:\n  high_risk: lists/countries.csv\n  mcc_groups: lists/mcc.yaml\n"
        "  limits:\n    file: lists/limits.csv\n    key: mcc\n    key_type: integer\n"
        "    columns: {limit: float}\n"
    )
    path = write(tmp_path, feature("lim", "lookup(limits, mcc, 'limit')"), lists)
    (tmp_path / "lists" / "limits.csv").write_text("limit,mcc\n100.5,7995\n20,5411\n")
    plan = compile_pipeline(path)
    run = RecordExecutor(plan)
    assert run.decide({"id": "1", "mcc": 5411}).output["lim"] == 20.0
    (tmp_path / "lists" / "limits.csv").write_text("limit,mcc\nlots,7995\n")
    assert problems(path) == [("K251", "limits.csv", 2)]


@pytest.mark.parametrize(
    ("expr", "code"),
    [
        ("country IN list('nowhere')", "K254"),
        ("lookup(nowhere, mcc, 'group')", "K254"),
        ("lookup(mcc_groups, mcc, 'colour')", "K255"),
        ("lookup(mcc_groups, mcc)", "K255"),
        ("lookup(mcc_groups, country, 'group')", "K203"),
        ("mcc IN high_risk", "K203"),
        ("country IN foo('high_risk')", "K260"),
    ],
)
def test_misuse_in_expressions_is_reported(tmp_path: Path, expr: str, code: str) -> None:
    path = write(tmp_path, feature("x", expr))
    assert [c for c, _, _ in problems(path)] == [code]


def test_a_list_named_like_a_field_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, feature("x", "mcc IN country"), "lists:\n  country: lists/countries.csv\n"
    )
    assert ("K256", "pipeline.yaml", 4) in problems(path)


def test_bad_declarations_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, feature("x", "1"), "lists:\n  - lists/countries.csv\n")
    assert [c for c, _, _ in problems(path)] == ["K257"]
    path = write(tmp_path, feature("x", "1"), "lists:\n  l: lists/none.csv\n")
    assert [c for c, _, _ in problems(path)] == ["K101"]
