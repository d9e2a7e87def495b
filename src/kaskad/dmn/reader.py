"""Reading a DMN file (1.1 to 1.5, as Camunda Modeler, Drools and others write it) into
:class:`~kaskad.dmn.model.DmnModel`: one table per decision whose logic is a decision
table. Every problem of the file is collected, then raised once (:class:`DmnImportError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kaskad.dmn.errors import DmnImportError, problem
from kaskad.dmn.feel import FeelError
from kaskad.dmn.model import DmnModel, Table, sanitise
from kaskad.dmn.tables import TableReader
from kaskad.dmn.xmltree import Element, parse_file
from kaskad.errors import Problem

DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
    "https://www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
    "https://www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
}
# children of a decision that are not its logic
_DECISION_PARTS = {
    "description",
    "extensionElements",
    "question",
    "allowedAnswers",
    "variable",
    "informationRequirement",
    "knowledgeRequirement",
    "authorityRequirement",
    "supportedObjective",
    "impactedPerformanceIndicator",
    "decisionMaker",
    "decisionOwner",
    "usingProcess",
    "usingTask",
}


@dataclass
class Decision:
    element: Element
    name: str  # the table name
    requires: list[str] = field(default_factory=list)  # ids of required decisions
    table: Element | None = None


def read_dmn(path: Path, display: str | None = None) -> DmnModel:
    """Every decision table of the DMN file at ``path``; raises :class:`DmnImportError`
    with every problem found (codes K240-K249, see docs/errors.md)."""
    shown = display or str(path)
    root = parse_file(path, shown)
    version = DMN_NAMESPACES.get(root.ns)
    if root.tag != "definitions" or version is None:
        found = f"{{{root.ns}}}{root.tag}" if root.ns else root.tag
        raise DmnImportError(
            [
                problem(
                    "K240",
                    f"not a DMN file: the root element is {found}; expected <definitions> in a "
                    "DMN 1.1-1.5 namespace",
                    shown,
                    root.line,
                    'DMN 1.3 files start with <definitions xmlns="https://www.omg.org/spec/'
                    'DMN/20191111/MODEL/" …>',
                )
            ]
        )
    problems: list[Problem] = []
    decisions = _decisions(root, shown, problems)
    by_id = {d.element.attr("id"): d for d in decisions}
    tables: dict[str, Table] = {}
    for decision in _ordered(decisions, by_id, shown, problems):
        if decision.table is None:
            continue
        reader = TableReader(root, shown, problems, item_types=_item_types(root))
        required = [
            (by_id[i].element, tables[by_id[i].name])
            for i in decision.requires
            if i in by_id and by_id[i].name in tables
        ]
        table = reader.read(decision.element, decision.table, decision.name, required)
        if table is not None:
            tables[decision.name] = table
    if problems:
        raise DmnImportError(problems)
    return DmnModel(shown, version, _exporter(root), tuple(tables.values()))


def _exporter(root: Element) -> str | None:
    name = root.get("exporter")
    if not name:
        return None
    version = root.get("exporterVersion")
    return f"{name} {version}" if version else name


def _item_types(root: Element) -> dict[str, Element]:
    return {item.attr("name"): item for item in root.findall("itemDefinition")}


def _decisions(root: Element, file: str, problems: list[Problem]) -> list[Decision]:
    decisions: list[Decision] = []
    names: dict[str, Element] = {}
    for element in root.children:
        if element.ns != root.ns:
            continue  # DMNDI diagrams, vendor extensions
        if element.tag == "businessKnowledgeModel":
            problems.append(
                problem(
                    "K243",
                    f"{element.describe()} is not imported: only decision tables are (a business "
                    "knowledge model is a FEEL function)",
                    file,
                    element.line,
                    "model the logic as a decision with a decision table",
                )
            )
            continue
        if element.tag != "decision":
            continue  # inputData, knowledgeSource, textAnnotation, decisionService, …
        name = sanitise(element.get("name") or element.get("id") or "", "decision")
        decision = Decision(element, name)
        if name in names:
            problems.append(
                problem(
                    "K247",
                    f"{element.describe()} and {names[name].describe()} (line {names[name].line}) "
                    f"would both be written as table '{name}'",
                    file,
                    element.line,
                    "give the decisions different names",
                )
            )
            continue
        names[name] = element
        for requirement in element.findall("informationRequirement"):
            required = requirement.find("requiredDecision")
            if required is not None:
                href = required.attr("href")
                decision.requires.append(href.split("#", 1)[1] if "#" in href else href)
        logic = [c for c in element.children if c.ns == root.ns and c.tag not in _DECISION_PARTS]
        if not logic:
            problems.append(
                problem("K243", f"{element.describe()} has no decision logic", file, element.line)
            )
        elif logic[0].tag != "decisionTable":
            problems.append(
                problem(
                    "K243",
                    f"{element.describe()} is a {logic[0].tag}: only decision tables are imported",
                    file,
                    logic[0].line,
                    "write the logic as a kaskad rule set, feature or decision instead",
                )
            )
        else:
            decision.table = logic[0]
        decisions.append(decision)
    return decisions


def _ordered(
    decisions: list[Decision], by_id: dict[str, Decision], file: str, problems: list[Problem]
) -> list[Decision]:
    """The decisions with each after those it requires (file order otherwise)."""
    done: dict[str, Decision] = {}
    visiting: set[str] = set()

    def visit(decision: Decision) -> None:
        key = decision.element.get("id") or decision.name
        if key in visiting:
            problems.append(
                problem(
                    "K247",
                    f"{decision.element.describe()} requires itself through other decisions",
                    file,
                    decision.element.line,
                )
            )
            return
        if key in done:
            return
        visiting.add(key)
        for required in decision.requires:
            if required in by_id:
                visit(by_id[required])
            else:
                problems.append(
                    problem(
                        "K247",
                        f"{decision.element.describe()} requires decision '{required}', which is "
                        "not in this file",
                        file,
                        decision.element.line,
                    )
                )
        visiting.discard(key)
        done[key] = decision

    for decision in decisions:
        visit(decision)
    return list(done.values())


__all__ = ["DMN_NAMESPACES", "FeelError", "read_dmn"]
