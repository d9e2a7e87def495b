"""One ``<decisionTable>`` → one :class:`~kaskad.dmn.model.Table`: hit policy, inputs,
outputs with their types and values, rules; problems appended with the element's line."""

from __future__ import annotations

from dataclasses import replace

from kaskad.dmn import feel
from kaskad.dmn.errors import problem
from kaskad.dmn.model import (
    Borrowed,
    Table,
    TableInput,
    TableOutput,
    TableRule,
    Value,
    rule_id,
    sanitise,
)
from kaskad.dmn.xmltree import Element
from kaskad.errors import Problem

# fields every kaskad table gives besides its outputs (TABLE.matched, TABLE.unknown)
RESERVED = ("matched", "unknown")
# words kaskad's expression language does not read as the first name of a field
# (tests/dmn/test_feel.py checks this list against the language's parser)
KASKAD_KEYWORDS = frozenset(
    ("case", "date", "timestamp", "interval", "not", "null", "true", "false")
)

CAMUNDA = "http://camunda.org/schema/1.0/dmn"
HIT_POLICIES = ("UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER")
AGGREGATIONS = ("SUM", "COUNT", "MIN", "MAX")
_TYPES = {
    "string": "string",
    "number": "float",
    "double": "float",
    "float": "float",
    "integer": "integer",
    "int": "integer",
    "long": "integer",
    "boolean": "boolean",
}
_UNTYPED = {"", "any", "Any"}
_NUMERIC_AGGREGATIONS = ("COLLECT SUM", "COLLECT MIN", "COLLECT MAX")


class TableReader:
    """Reads decision tables of one file, appending problems to a shared list."""

    def __init__(
        self, root: Element, file: str, problems: list[Problem], item_types: dict[str, Element]
    ) -> None:
        self.root = root
        self.file = file
        self.problems = problems
        self.item_types = item_types
        self.input_data = [e.attr("name") for e in root.findall("inputData")]
        self.failed = False

    def fail(self, code: str, message: str, element: Element, hint: str | None = None) -> None:
        self.problems.append(problem(code, message, self.file, element.line, hint))
        self.failed = True

    def read(
        self,
        decision: Element,
        table: Element,
        name: str,
        required: list[tuple[Element, Table]],
    ) -> Table | None:
        self.failed = False
        self.check_language(table)
        hit_policy = self.hit_policy(table)
        resolver = _Resolver(required, self.input_data)
        inputs, input_names = self.inputs(table, resolver)
        outputs_xml = list(table.findall("output"))
        if not outputs_xml:
            self.fail("K247", f"{table.describe()} has no <output>", table)
            return None
        rules = self.rules(table, len(inputs), outputs_xml, resolver, input_names)
        outputs = self.outputs(table, outputs_xml, rules, hit_policy, name)
        if self.failed or outputs is None:
            return None
        inputs = _apart(inputs, {o.id for o in outputs}, resolver)
        rules = _rule_ids_apart(rules, {o.id for o in outputs})
        description = decision.find("description")
        text = description.text if description is not None else None
        borrowed = tuple(
            Borrowed(i.id, source, target)
            for i in inputs
            for source, target in resolver.used.get(i.id, [])
        )
        return Table(
            name=name,
            decision_id=decision.attr("id"),
            decision_name=decision.get("name"),
            line=decision.line,
            hit_policy=hit_policy,
            inputs=inputs,
            outputs=outputs,
            rules=tuple(rules),
            description=" ".join(text.split()) if text else None,
            requires=tuple(sorted({b.field.split(".")[0] for b in borrowed})),
            borrowed=borrowed,
            renamed=tuple(sorted(resolver.renamed.items())),
        )

    # ---- pieces ----------------------------------------------------------------------

    def check_language(self, element: Element) -> None:
        language = element.get("expressionLanguage") or ""
        if language and "feel" not in language.lower():
            self.fail(
                "K244",
                f"{element.describe()} is written in {language}: only FEEL is imported",
                element,
            )

    def hit_policy(self, table: Element) -> str:
        policy = table.get("hitPolicy") or "UNIQUE"
        aggregation = table.get("aggregation")
        if policy not in HIT_POLICIES:
            self.fail(
                "K245",
                f"{table.describe()}: unknown hitPolicy '{policy}'; DMN's are "
                + ", ".join(HIT_POLICIES),
                table,
            )
            return policy
        if aggregation is None:
            return policy
        if policy != "COLLECT" or aggregation not in AGGREGATIONS:
            self.fail(
                "K245",
                f"{table.describe()}: aggregation '{aggregation}' with hitPolicy '{policy}'; "
                "aggregation is SUM, COUNT, MIN or MAX with COLLECT only",
                table,
            )
        return f"{policy} {aggregation}"

    def inputs(
        self, table: Element, resolver: _Resolver
    ) -> tuple[tuple[TableInput, ...], list[frozenset[str]]]:
        inputs: list[TableInput] = []
        names: list[frozenset[str]] = []
        used: set[str] = set()
        for element in table.findall("input"):
            expression = element.find("inputExpression")
            text = element.child_text("inputExpression")
            label = element.get("label")
            variable = element.get(f"{{{CAMUNDA}}}inputVariable")
            names.append(frozenset({"cellInput", variable} if variable else {"cellInput"}))
            if expression is None or not text or not text.strip():
                self.fail("K247", f"{element.describe()} has no inputExpression text", element)
                inputs.append(TableInput(f"input{len(inputs) + 1}", "", label))  # keeps columns
                continue
            self.check_language(expression)
            simple = _simple_path(text)
            base = sanitise(simple or label or element.get("id") or "", f"input{len(inputs) + 1}")
            input_id = _unique(base, used)
            resolver.current = input_id
            try:
                expr = feel.expression(text, resolver).text
            except feel.FeelError as exc:
                self.feel_problem(exc, f"inputExpression of {element.describe()}", text, expression)
                expr = ""
            resolver.current = None
            inputs.append(TableInput(input_id, expr, label.strip() if label else None))
        return tuple(inputs), names

    def rules(
        self,
        table: Element,
        n_inputs: int,
        outputs: list[Element],
        resolver: _Resolver,
        input_names: list[frozenset[str]],
    ) -> list[TableRule]:
        rules: list[TableRule] = []
        used: set[str] = set()
        for number, element in enumerate(table.findall("rule"), start=1):
            entries = list(element.findall("inputEntry"))
            results = list(element.findall("outputEntry"))
            if len(entries) != n_inputs or len(results) != len(outputs):
                self.fail(
                    "K247",
                    f"{element.describe()} has {len(entries)} inputEntry and {len(results)} "
                    f"outputEntry; the table has {n_inputs} inputs and {len(outputs)} outputs",
                    element,
                )
                continue
            when: list[str] = []
            for index, entry in enumerate(entries):
                text = _text(entry)
                self.check_language(entry)
                where = f"{entry.describe()} of {element.describe()}"
                try:
                    when.append(feel.unary_tests(text, resolver, input_names[index]))
                except feel.FeelError as exc:
                    self.feel_problem(exc, where, text, entry)
            then: list[str | int | float] = []
            for entry in results:
                text = _text(entry)
                self.check_language(entry)
                where = f"{entry.describe()} of {element.describe()}"
                then.append(self.output_expression(text, where, entry, resolver))
            description = element.find("description")
            notes = [" ".join(description.text.split())] if description is not None else []
            notes += [" ".join(_text(a).split()) for a in element.findall("annotationEntry")]
            rid = _unique(rule_id(element.get("id") or f"r{number}"), used)
            annotation = "; ".join(n for n in notes if n) or None
            rules.append(TableRule(rid, tuple(when), tuple(then), annotation))
        return rules

    def output_expression(
        self, text: str, where: str, element: Element, resolver: _Resolver
    ) -> str | int | float:
        if not text.strip():
            return "null"
        try:
            piece = feel.expression(text, resolver)
        except feel.FeelError as exc:
            self.feel_problem(exc, where, text, element)
            return "null"
        if piece.literal and not piece.string and _is_number(piece.text):
            return float(piece.text) if "." in piece.text else int(piece.text)
        # literals as the table format writes them: true, false, null
        return piece.text.lower() if piece.text in ("TRUE", "FALSE", "NULL") else piece.text

    def outputs(
        self,
        table: Element,
        elements: list[Element],
        rules: list[TableRule],
        hit_policy: str,
        table_name: str,
    ) -> tuple[TableOutput, ...] | None:
        outputs: list[TableOutput] = []
        used: set[str] = set(RESERVED)
        ordered = hit_policy in ("PRIORITY", "OUTPUT ORDER")
        if " " in hit_policy and hit_policy.startswith("COLLECT") and len(elements) > 1:
            self.fail(
                "K245",
                f"{table.describe()}: {hit_policy} over {len(elements)} outputs; DMN defines "
                "aggregation for single-output tables only",
                table,
                "split the table, or use COLLECT without aggregation",
            )
        for index, element in enumerate(elements):
            label = element.get("label")
            # a single output may have no name: it is the decision's own result
            alone = table_name if len(elements) == 1 else None
            out_name = element.get("name") or alone or label or element.attr("id")
            out_id = _unique(sanitise(out_name, f"output{index + 1}"), used)
            values, kind = self.output_type(element, [r.then[index] for r in rules])
            default = self.default(element)
            if kind is None:
                continue
            if hit_policy in _NUMERIC_AGGREGATIONS and kind not in ("integer", "float"):
                self.fail(
                    "K245",
                    f"{element.describe()}: {hit_policy} needs a number output; this one is {kind}",
                    element,
                )
            outputs.append(
                TableOutput(out_id, kind, label.strip() if label else None, values, default)
            )
        if ordered and outputs and all(o.values is None for o in outputs):
            self.fail(
                "K245",
                f"{table.describe()}: hitPolicy {hit_policy} takes its order from the outputs' "
                "outputValues, and no output has any",
                table,
                'list the values in priority order: <outputValues><text>"high","low"</text>'
                "</outputValues>",
            )
        return tuple(outputs)

    def output_type(
        self, element: Element, entries: list[str | int | float]
    ) -> tuple[tuple[Value, ...] | None, str | None]:
        type_ref = element.get("typeRef") or ""
        values_text = element.child_text("outputValues")
        kind, allowed = self.resolve_type(type_ref, element)
        if values_text is None:
            values_text = allowed
        values: tuple[Value, ...] | None = None
        if values_text and values_text.strip():
            try:
                values = tuple(feel.literal_values(values_text))
            except feel.FeelError as exc:
                self.feel_problem(
                    exc, f"outputValues of {element.describe()}", values_text, element
                )
        if kind == "":
            kind = _infer(entries, values)
            if kind is None:
                self.fail(
                    "K246",
                    f"{element.describe()} has no typeRef and its entries are not literals of one "
                    "type",
                    element,
                    'set typeRef="string", "number", "integer" or "boolean"',
                )
        return values, kind

    def resolve_type(
        self, type_ref: str, element: Element, depth: int = 0
    ) -> tuple[str | None, str | None]:
        """(kaskad type or "" when untyped or None after a problem, allowedValues text)."""
        local = type_ref.split(":", 1)[1] if ":" in type_ref else type_ref
        if local in _UNTYPED:
            return "", None
        if local in _TYPES:
            return _TYPES[local], None
        item = self.item_types.get(local) or self.item_types.get(type_ref)
        if item is not None and depth < 10:
            if item.find("itemComponent") is not None:
                self.fail(
                    "K246",
                    f"{element.describe()}: typeRef '{type_ref}' is a structure; table outputs are "
                    "single values",
                    element,
                )
                return None, None
            kind, allowed = self.resolve_type(
                _child(item, "typeRef") or item.attr("typeRef"), element, depth + 1
            )
            own = item.child_text("allowedValues")
            return kind, own if own is not None else allowed
        self.fail(
            "K246",
            f"{element.describe()}: typeRef '{type_ref}' is not supported; table outputs are "
            "string, number (float), integer or boolean",
            element,
            "dates, times and durations can be computed by a later step from a string output",
        )
        return None, None

    def default(self, element: Element) -> Value | None:
        text = element.child_text("defaultOutputEntry")
        if text is None or not text.strip():
            return None
        try:
            values = feel.literal_values(text)
        except feel.FeelError:
            self.fail(
                "K244",
                f"defaultOutputEntry of {element.describe()} must be a literal value, got "
                f"`{text.strip()}`",
                element,
            )
            return None
        return values[0] if len(values) == 1 else None

    def feel_problem(self, exc: feel.FeelError, where: str, text: str, element: Element) -> None:
        self.fail(
            "K244",
            f"{where}: {exc.message} (at character {exc.column} of `{' '.join(text.split())}`)",
            element,
        )


class _Resolver:
    """Dotted paths → kaskad field paths; a path that names a required decision (by its
    name, id or variable, or Camunda 7 style by one of its outputs) reads that decision's
    table output ``TABLE.OUTPUT``."""

    def __init__(self, required: list[tuple[Element, Table]], input_data: list[str]) -> None:
        self.sources: dict[str, tuple[str, Table]] = {}
        self.outputs: dict[str, tuple[str, Table, str]] = {}
        for element, table in required:
            shown = element.get("name") or element.attr("id")
            variable = element.find("variable")
            for key in (
                element.get("id"),
                element.get("name"),
                variable.get("name") if variable is not None else None,
            ):
                if key:
                    self.sources[key] = (shown, table)
            for out in table.outputs:
                self.outputs[out.id] = (shown, table, out.id)
        self.current: str | None = None
        self.used: dict[str, list[tuple[str, str]]] = {}
        self.renamed: dict[str, str] = {}
        self.spaced = frozenset(n for n in [*self.sources, *input_data] if " " in n)

    def __call__(self, parts: tuple[str, ...]) -> str:
        head, rest = parts[0], parts[1:]
        found: str | None = None
        shown = ""
        if head in self.sources:
            shown, table = self.sources[head]
            names = {o.id for o in table.outputs}
            if rest and sanitise(rest[0]) in names:
                found = f"{table.name}.{sanitise(rest[0])}"
                rest = rest[1:]
            elif len(table.outputs) == 1:
                found = f"{table.name}.{table.outputs[0].id}"
        elif sanitise(head) in self.outputs and len(parts) == 1:
            shown, table, out = self.outputs[sanitise(head)]
            found = f"{table.name}.{out}"
        if found is None:  # an input field; a FEEL name with spaces becomes snake_case,
            # one that is a keyword of kaskad's language gets a "_" (``Date`` → ``date_``)
            if " " in head or head.lower() in KASKAD_KEYWORDS:
                name = sanitise(head)
                self.renamed[head] = f"{name}_" if name in KASKAD_KEYWORDS else name
                head = self.renamed[head]
            return ".".join([head, *rest])
        if self.current is not None:
            self.used.setdefault(self.current, []).append((shown, found))
        return ".".join([found, *rest])


def _child(element: Element, tag: str) -> str:
    """The text of child ``tag`` (``<typeRef>string</typeRef>``), "" when absent."""
    child = element.find(tag)
    return child.text.strip() if child is not None else ""


def _text(element: Element | None) -> str:
    if element is None:
        return ""
    inner = element.find("text")
    return inner.text if inner is not None else ""


def _simple_path(text: str) -> str | None:
    stripped = text.strip()
    parts = stripped.split(".")
    if all(p.isidentifier() for p in parts):
        return stripped.replace(".", "_")
    return None


def _apart(
    inputs: tuple[TableInput, ...], outputs: set[str], resolver: _Resolver
) -> tuple[TableInput, ...]:
    """Input ids apart from the output ids (a CSV header names both): ``x`` → ``x_in``."""
    used = {i.id for i in inputs} | outputs
    out: list[TableInput] = []
    for item in inputs:
        if item.id in outputs:
            new = _unique(f"{item.id}_in", used)
            resolver.used = {new if k == item.id else k: v for k, v in resolver.used.items()}
            item = TableInput(new, item.expr, item.label)
        out.append(item)
    return tuple(out)


def _rule_ids_apart(rules: list[TableRule], outputs: set[str]) -> list[TableRule]:
    """Rule ids other than the table's output ids and the fields every table gives
    (``matched``, ``unknown``): a run counts each rule as ``TABLE.RULE_ID``."""
    used = {r.id for r in rules} | outputs | set(RESERVED)
    out: list[TableRule] = []
    for rule in rules:
        if rule.id in outputs or rule.id in RESERVED:
            rule = replace(rule, id=_unique(f"rule_{rule.id}", used))
        out.append(rule)
    return out


def _unique(base: str, used: set[str]) -> str:
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _infer(entries: list[str | int | float], values: tuple[Value, ...] | None) -> str | None:
    kinds: set[str] = set()
    for entry in [*entries, *(values or ())]:
        if isinstance(entry, bool):
            kinds.add("boolean")
        elif isinstance(entry, int):
            kinds.add("integer")
        elif isinstance(entry, float):
            kinds.add("float")
        elif entry in ("true", "false"):
            kinds.add("boolean")
        elif entry.startswith("'") and entry.endswith("'") and len(entry) > 1:
            kinds.add("string")
        elif entry == "null":
            continue
        else:
            return None
    if kinds == {"integer", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else None
