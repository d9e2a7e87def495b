"""``import-dmn`` on DMN files written as Camunda Modeler (DMN 1.3, 1.4, 1.5; Camunda 7
and Camunda 8), Drools (DMN 1.1 with ``feel:`` types, DMN 1.2 with ``dmn:`` prefixes and
``kie`` extensions) write them: the tables must equal the golden YAML files under
tests/golden/dmn/expected/, and pass the table format's structural check.

After an intended change of the output, rewrite the golden files with
``KASKAD_UPDATE_GOLDEN=1 pytest tests/dmn/test_golden.py`` and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from kaskad.dmn import read_dmn, write_tables
from tests.dmn.table_check import HIT_POLICIES, check_table

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dmn"
FILES = sorted(GOLDEN.glob("*.dmn"))
UPDATE = os.environ.get("KASKAD_UPDATE_GOLDEN") == "1"


def test_there_is_a_file_per_dmn_version_and_tool() -> None:
    texts = [f.read_text(encoding="utf-8") for f in FILES]
    for namespace in (
        'xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"',
        'xmlns="https://www.omg.org/spec/DMN/20211108/MODEL/"',
        'xmlns="https://www.omg.org/spec/DMN/20230324/MODEL/"',
        'xmlns:dmn="http://www.omg.org/spec/DMN/20180521/MODEL/"',
        'xmlns="http://www.omg.org/spec/DMN/20151101/dmn.xsd"',
    ):
        assert any(namespace in t for t in texts), namespace
    camunda = [t for t in texts if 'exporter="Camunda Modeler"' in t]
    assert len(camunda) >= 3
    assert all('xmlns:camunda="http://camunda.org/schema/1.0/dmn"' in t for t in camunda)
    assert all("<dmndi:DMNDI>" in t for t in camunda)
    assert any('xmlns:kie="http://www.drools.org/kie/dmn/1.2"' in t for t in texts)
    assert any('typeRef="feel:number"' in t for t in texts)


@pytest.mark.parametrize("dmn", FILES, ids=[f.stem for f in FILES])
def test_tables_equal_the_golden_files(dmn: Path, tmp_path: Path) -> None:
    model = read_dmn(dmn, dmn.name)
    written = write_tables(model, tmp_path)
    expected_dir = GOLDEN / "expected" / dmn.stem / "tables"
    if UPDATE:
        expected_dir.mkdir(parents=True, exist_ok=True)
        for old in expected_dir.glob("*.yaml"):
            old.unlink()
        for path in written:
            (expected_dir / path.name).write_text(path.read_text(encoding="utf-8"), "utf-8")
    expected = sorted(p.name for p in expected_dir.glob("*.yaml"))
    assert sorted(p.name for p in written) == expected
    for path in written:
        assert path.read_text(encoding="utf-8") == (expected_dir / path.name).read_text(
            encoding="utf-8"
        ), path.name


@pytest.mark.parametrize("dmn", FILES, ids=[f.stem for f in FILES])
def test_every_table_has_the_table_format(dmn: Path, tmp_path: Path) -> None:
    for path in write_tables(read_dmn(dmn), tmp_path):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        check_table(data)
        assert data["table"] == path.stem


def test_every_hit_policy_and_aggregation_is_covered() -> None:
    policies = {t.hit_policy for f in FILES for t in read_dmn(f).tables}
    assert policies == HIT_POLICIES


def test_tables_come_after_the_tables_they_read() -> None:
    for dmn in FILES:
        seen: set[str] = set()
        for table in read_dmn(dmn).tables:
            assert set(table.requires) <= seen, (dmn.name, table.name)
            seen.add(table.name)


def test_required_decisions_become_table_fields() -> None:
    by_file = {f.stem: read_dmn(f) for f in FILES}
    loan = {t.name: t for t in by_file["loan_camunda13"].tables}["loan_approval"]
    assert [(b.input, b.decision, b.field) for b in loan.borrowed] == [
        ("risk_class", "Risk class", "risk_class.risk_class")
    ]
    assert loan.requires == ("risk_class",)
    # Camunda 7 reads a required decision's result by its output's name
    dish = {t.name: t for t in by_file["dish_camunda7"].tables}["dish"]
    assert dish.inputs[0].expr == "season.season"
    # Drools: a decision and an input with spaces in their names
    surcharges = {t.name: t for t in by_file["motor_drools12"].tables}["surcharges"]
    assert [i.expr for i in surcharges.inputs] == ["risk_level.risk_level", "car_value"]
    assert surcharges.renamed == (("Car Value", "car_value"),)
