"""Rule sets: rules analysts write, each with a plain-language description."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kaskad.errors import Location, Problem
from kaskad.spec.common import ComponentRef, canonical_json, sha256_text
from kaskad.spec.reader import Reader, Text
from kaskad.spec.yamlfile import load_yaml

ON_MISSING = ("unknown", "pass", "hit")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RULE_KEYS = ("id", "description", "when", "outcome", "severity", "on_missing", "tags")


@dataclass(frozen=True)
class RuleSpec:
    id: str
    description: str
    when: Text
    outcome: str
    severity: str
    on_missing: str
    location: Location


@dataclass(frozen=True)
class RuleSetSpec:
    name: str
    description: str
    rules: tuple[RuleSpec, ...]
    ref: ComponentRef
    location: Location
    failed: tuple[str, ...] = ()  # ids of rules left out after a reported problem


def check_identifier(r: Reader, name: str, path: tuple[str | int, ...], what: str) -> bool:
    if not _IDENT.match(name):
        r.problem(
            "K104",
            f"{what} '{name}' must start with a letter and use only letters, digits and _",
            path,
        )
        return False
    return True


def load_ruleset(path: Path, display: str, problems: list[Problem]) -> RuleSetSpec | None:
    doc, errs = load_yaml(path, display)
    problems.extend(errs)
    if doc is None:
        return None
    r = Reader(doc, f"ruleset {path.stem}", problems)
    top = r.mapping((), ("ruleset", "description", "rules"), ("ruleset", "rules"), "a rule set")
    if top is None:
        return None
    name = r.string(("ruleset",), "the rule set name") or path.stem
    check_identifier(r, name, ("ruleset",), "rule set name")
    r.component = f"ruleset {name}"
    rules: list[RuleSpec] = []
    failed: list[str] = []
    seen: set[str] = set()
    for i, _ in enumerate(r.sequence(("rules",), "'rules'")):
        base = ("rules", i)
        entry = r.mapping(base, _RULE_KEYS, ("id", "when"), f"rule #{i + 1}")
        if entry is None:
            continue
        rule_id = r.string((*base, "id"), "the rule id")
        if rule_id is None or not check_identifier(r, rule_id, (*base, "id"), "rule id"):
            continue
        if rule_id in seen:
            r.problem("K106", f"rule id '{rule_id}' is used twice", (*base, "id"))
            continue
        seen.add(rule_id)
        r.component = f"ruleset {name}, rule {rule_id}"
        when = r.text((*base, "when"), "'when'")
        on_missing = str(entry.get("on_missing", "unknown"))
        if on_missing not in ON_MISSING:
            r.problem(
                "K104", f"on_missing must be one of {', '.join(ON_MISSING)}", (*base, "on_missing")
            )
        if not entry.get("description"):
            r.problem("K107", f"rule '{rule_id}' needs a plain-language 'description'", base)
        if when is None:
            failed.append(rule_id)
        else:
            rules.append(
                RuleSpec(
                    id=rule_id,
                    description=str(entry.get("description", "")),
                    when=when,
                    outcome=str(entry.get("outcome", "hit")),
                    severity=str(entry.get("severity", "")),
                    on_missing=on_missing,
                    location=r.loc(base),
                )
            )
        r.component = f"ruleset {name}"
    ref = ComponentRef(
        "rules", name, display, sha256_text(canonical_json(doc.data)), str(path.resolve())
    )
    return RuleSetSpec(
        name, str(top.get("description", "")), tuple(rules), ref, r.loc(()), tuple(failed)
    )
