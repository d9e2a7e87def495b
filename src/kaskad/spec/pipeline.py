"""Pipeline definitions: input schema, steps, decision and shadow challengers."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from kaskad.errors import Location, Problem
from kaskad.spec.common import ComponentRef, canonical_json, sha256_text
from kaskad.spec.featureset import FeatureSetSpec, load_featureset
from kaskad.spec.on_error import Fallback, read_on_error
from kaskad.spec.reader import Reader, Text
from kaskad.spec.reflist import RefListSpec
from kaskad.spec.reflist_files import read_lists
from kaskad.spec.rules import RuleSetSpec, check_identifier, load_ruleset
from kaskad.spec.schema import Schema, load_schema
from kaskad.spec.scorecard import ScorecardSpec, load_scorecard
from kaskad.spec.table import TableSpec, load_table
from kaskad.spec.timezone import read_timezone
from kaskad.spec.yamlfile import PathKey, YamlDoc, load_yaml

_PIPELINE_KEYS = (
    "pipeline",
    "description",
    "version",
    "owner",
    "purpose",
    "input",
    "steps",
    "decision",
    "shadow",
    "on_error",
    "lists",
    "timezone",
)
_MODEL_KEYS = (
    "model",
    "description",
    "artifact",
    "registered",
    "framework",
    "inputs",
    "outputs",
    "tolerance",
    "kernel",
)
_SHADOW_KEYS = ("name", "replaces", "rules", "pipeline", *_MODEL_KEYS)
_STEP_KINDS = ("features", "rules", "model", "scorecard", "table")
_STEP_KINDS_TEXT = "'features', 'rules', 'table', 'model' or 'scorecard'"
_BRANCH_KEYS = ("when", "otherwise", "outcome", "reason", "reasons", "description")
_SIMPLE_PATH = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\s*$")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    artifact: Path
    artifact_display: str
    framework: str
    inputs: tuple[tuple[str, Text], ...]
    outputs: tuple[tuple[str, str], ...]
    location: Location
    config_hash: str
    # absolute tolerance declared on the model's outputs (None: they must be exact)
    tolerance: float | None = None
    # a registered model version (``fraud@2``, ``fraud@production``) instead of an
    # artifact file: kaskad.compile.registered resolves it through the store
    registered: str = ""
    # "library": always score with the model's library, never a compiled kernel
    kernel: str = ""


@dataclass(frozen=True)
class BranchSpec:
    when: Text | None
    outcome: str
    reasons: tuple[str, ...]
    location: Location


@dataclass(frozen=True)
class ShadowSpec:
    name: str
    replaces: str | None
    model: ModelSpec | None
    ruleset: RuleSetSpec | None
    pipeline: PipelineSpec | None
    location: Location


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    description: str
    version: str
    source: str
    base_dir: Path
    schema: Schema
    schema_ref: ComponentRef
    featuresets: tuple[FeatureSetSpec, ...]
    rulesets: tuple[RuleSetSpec, ...]
    models: tuple[ModelSpec, ...]
    decision: tuple[BranchSpec, ...]
    shadows: tuple[ShadowSpec, ...]
    ref: ComponentRef
    location: Location
    # names a step that could not be read would have produced (a rule set's name, a
    # model's name and outputs, a rule's field, a feature's name): problems were reported
    # for it already, so the compiler reports nothing more about what reads them
    failed: tuple[str, ...] = ()
    # what a record gets when a step fails for it (kaskad.spec.on_error)
    on_error: tuple[Fallback, ...] = ()
    # who answers for the pipeline and what it is for (the model passport's first section)
    owner: str = ""
    purpose: str = ""
    scorecards: tuple[ScorecardSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    # reference lists (``lists:``) and the default time zone of datetimes (``timezone:``)
    lists: tuple[RefListSpec, ...] = ()
    timezone: str = ""
    failed_lists: tuple[str, ...] = ()  # lists that could not be read (reported already)


def _display(base: Path, display_base: str, rel: str) -> tuple[Path, str]:
    path = (base / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
    shown = str(Path(display_base) / rel) if display_base else rel
    return path, shown


def _model(
    r: Reader,
    path: PathKey,
    base: Path,
    shown_base: str,
    name_key: str = "model",
    failed: list[str] | None = None,
) -> ModelSpec | None:
    entry = r.get(path)
    if not isinstance(entry, dict):
        return None
    name = r.string((*path, name_key), "the model name")
    if name is None or not check_identifier(r, name, (*path, name_key), "model name"):
        return None
    previous = r.component
    r.component = f"model {name}"
    registered = ""
    if "registered" in entry:
        registered = (r.string((*path, "registered"), "'registered'") or "").strip()
        if "artifact" in entry:
            r.problem(
                "K104",
                f"model '{name}' gives both 'artifact' and 'registered': keep one",
                path,
            )
        elif registered.count("@") != 1 or registered.startswith("@") or registered.endswith("@"):
            r.problem(
                "K104",
                f"'registered' must name a model version: NAME@VERSION or NAME@STAGE,"
                f" not {registered!r}",
                (*path, "registered"),
                "e.g. registered: fraud@2 or registered: fraud@production",
            )
            registered = ""
    required = ("artifact", "framework") if "registered" not in entry else ()
    for key in (*required, "inputs", "outputs"):
        if key not in entry:
            r.problem("K104", f"model '{name}' needs '{key}'", path)
    artifact = r.string((*path, "artifact"), "'artifact'") if not registered else ""
    framework = ""  # a registered model's framework comes from the registry
    if "framework" in entry or "registered" not in entry:
        framework = r.string((*path, "framework"), "'framework'") or ""
    inputs: list[tuple[str, Text]] = []
    raw_inputs = entry.get("inputs")
    if isinstance(raw_inputs, list):
        for i in range(len(raw_inputs)):
            text = r.text((*path, "inputs", i), "a model input")
            if text is None:
                continue
            if not _SIMPLE_PATH.match(text.text):
                r.problem(
                    "K104",
                    "a computed model input needs a name: write inputs as a "
                    "mapping, e.g. {is_online: \"channel IN ('web')\"}",
                    (*path, "inputs", i),
                )
                continue
            inputs.append((text.text.strip().rsplit(".", 1)[-1], text))
    elif isinstance(raw_inputs, dict):
        for key in raw_inputs:
            text = r.text((*path, "inputs", key), f"model input '{key}'")
            if text is not None:
                inputs.append((key, text))
    elif raw_inputs is not None:
        r.problem(
            "K104",
            "'inputs' must be a list of fields or a mapping of names to expressions",
            (*path, "inputs"),
        )
    outputs: list[tuple[str, str]] = []
    raw_outputs = entry.get("outputs")
    if isinstance(raw_outputs, dict):
        for key, value in raw_outputs.items():
            if check_identifier(r, key, (*path, "outputs", key), "output name"):
                outputs.append((key, str(value)))
    elif raw_outputs is not None:
        r.problem(
            "K104",
            "'outputs' must map output names to what the model gives, e.g. {fraud_score: score}",
            (*path, "outputs"),
        )
    tolerance = _tolerance(r, entry, (*path, "tolerance"), name)
    kernel = _kernel(r, entry, (*path, "kernel"), name)
    r.component = previous
    if artifact is None:
        if failed is not None:
            failed.extend([name, *(o for o, _ in outputs)])
        return None
    if registered:  # the store gives the artifact and framework (kaskad.compile.registered)
        artifact_path, artifact_shown = Path(), registered
    else:
        artifact_path, artifact_shown = _display(base, shown_base, artifact)
    # a registered reference is left out: fraud@production and the version it pins
    # (fraud@2) are the same component; the artifact's sha256 is in the component hash
    config = {k: entry.get(k) for k in _MODEL_KEYS if k not in ("artifact", "registered")}
    if "kernel" not in entry:  # added later: a step without it keeps its hash
        del config["kernel"]
    return ModelSpec(
        name,
        str(entry.get("description", "")),
        artifact_path,
        artifact_shown,
        framework,
        tuple(inputs),
        tuple(outputs),
        r.loc(path),
        sha256_text(canonical_json(config)),
        tolerance,
        registered,
        kernel,
    )


def _tolerance(r: Reader, entry: dict[str, object], path: PathKey, name: str) -> float | None:
    """The declared absolute tolerance of a model's outputs: a number >= 0."""
    if "tolerance" not in entry:
        return None
    value = entry["tolerance"]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        r.problem(
            "K104",
            f"model '{name}': 'tolerance' must be a number >= 0 (an absolute difference "
            f"allowed on its outputs, e.g. 1e-12), got {value!r}",
            path,
        )
        return None
    return float(value)


def _kernel(r: Reader, entry: dict[str, object], path: PathKey, name: str) -> str:
    """The declared kernel choice: 'auto' (the default) or 'library' (opt out)."""
    if "kernel" not in entry:
        return ""
    value = entry["kernel"]
    if value not in ("auto", "library"):
        r.problem(
            "K320",
            f"model '{name}': 'kernel' must be 'auto' (a compiled kernel when it is "
            f"bit-identical to the library) or 'library', got {value!r}",
            path,
        )
        return ""
    return "" if value == "auto" else "library"


def _decision(r: Reader) -> list[BranchSpec]:
    branches: list[BranchSpec] = []
    items = r.sequence(("decision",), "'decision'")
    r.component = "decision"
    for i, _ in enumerate(items):
        base: PathKey = ("decision", i)
        entry = r.mapping(base, _BRANCH_KEYS, (), f"decision branch #{i + 1}")
        if entry is None:
            continue
        reasons: tuple[str, ...] = ()
        if "reasons" in entry:
            raw = entry["reasons"]
            reasons = tuple(str(x) for x in raw) if isinstance(raw, list) else (str(raw),)
        elif "reason" in entry:
            reasons = (str(entry["reason"]),)
        if "otherwise" in entry:
            if "when" in entry:
                r.problem("K104", "a branch has either 'when' or 'otherwise', not both", base)
            if i != len(items) - 1:
                r.problem("K503", "'otherwise' must be the last decision branch", base)
            outcome = r.string((*base, "otherwise"), "the 'otherwise' outcome")
            if outcome is not None:
                branches.append(BranchSpec(None, outcome, reasons, r.loc(base)))
            continue
        when = r.text((*base, "when"), "'when'")
        outcome = r.string((*base, "outcome"), "the branch 'outcome'")
        if when is not None and outcome is not None:
            branches.append(BranchSpec(when, outcome, reasons, r.loc(base)))
    if items and (not branches or branches[-1].when is not None):
        r.problem(
            "K503",
            "the decision needs a final 'otherwise' branch, so every record gets an outcome",
            ("decision",),
            "add e.g. '- otherwise: approve'",
        )
    return branches


def load_pipeline_spec(
    path: Path, problems: list[Problem], display: str | None = None, with_shadows: bool = True
) -> PipelineSpec | None:
    """Read a pipeline file and every component it references, collecting problems."""
    shown = display or str(path)
    doc, errs = load_yaml(path, shown)
    problems.extend(errs)
    if doc is None:
        return None
    return _pipeline(doc, path, shown, problems, with_shadows)


def _pipeline(
    doc: YamlDoc, path: Path, shown: str, problems: list[Problem], with_shadows: bool
) -> PipelineSpec | None:
    r = Reader(doc, "pipeline", problems)
    top = r.mapping((), _PIPELINE_KEYS, ("pipeline", "input", "steps", "decision"), "a pipeline")
    if top is None:
        return None
    name = r.string(("pipeline",), "the pipeline name") or path.stem
    check_identifier(r, name, ("pipeline",), "pipeline name")
    r.component = f"pipeline {name}"
    base = path.parent
    shown_base = str(Path(shown).parent) if Path(shown).parent != Path(".") else ""
    schema: Schema | None = None
    schema_ref: ComponentRef | None = None
    schema_rel = r.string(("input",), "'input' (the schema file)")
    if schema_rel is not None:
        schema_path, schema_shown = _display(base, shown_base, schema_rel)
        schema, raw = load_schema(schema_path, schema_shown, problems)
        if schema is not None:
            schema_ref = ComponentRef(
                "schema",
                schema.name,
                schema_shown,
                sha256_text(canonical_json(raw)),
                str(schema_path.resolve()),
            )
    featuresets: list[FeatureSetSpec] = []
    rulesets: list[RuleSetSpec] = []
    models: list[ModelSpec] = []
    scorecards: list[ScorecardSpec] = []
    tables: list[TableSpec] = []
    failed: list[str] = []
    fallbacks: list[Fallback] = []
    for i, step in enumerate(r.sequence(("steps",), "'steps'")):
        spath: PathKey = ("steps", i)
        if not isinstance(step, dict):
            r.problem("K104", "a step must be a mapping such as '- rules: rules/aml.yaml'", spath)
            continue
        kinds = [k for k in _STEP_KINDS if k in step]
        if len(kinds) != 1:
            r.problem("K104", f"each step is exactly one of {_STEP_KINDS_TEXT}", spath)
            continue
        kind = kinds[0]
        if kind == "model":
            r.mapping(spath, (*_MODEL_KEYS, "on_error"), (), "a model step")
            model = _model(r, spath, base, shown_base, failed=failed)
            if model is not None:
                models.append(model)
                fallbacks.extend(_step_on_error(r, spath, (model.name,)))
            continue
        r.mapping(spath, (kind, "on_error"), (), f"a {kind} step")
        rel = r.string((*spath, kind), f"the {kind} file")
        if rel is None:
            continue
        cpath, cshown = _display(base, shown_base, rel)
        if kind == "scorecard":
            sc = load_scorecard(cpath, cshown, problems)
            if sc is None:
                failed.append(cpath.stem)
            else:
                scorecards.append(sc)
        elif kind == "table":
            table = load_table(cpath, cshown, problems)
            if table is None:
                failed.append(cpath.stem)
            else:
                tables.append(table)
                fallbacks.extend(_step_on_error(r, spath, (table.name,)))
        elif kind == "features":
            fs = load_featureset(cpath, cshown, problems, failed)
            if fs is not None:
                featuresets.append(fs)
                fallbacks.extend(_step_on_error(r, spath, tuple(f.name for f in fs.features)))
        else:
            rs = load_ruleset(cpath, cshown, problems)
            if rs is None:
                failed.append(cpath.stem)  # its name is most likely its file's
            else:
                rulesets.append(rs)
                fallbacks.extend(_step_on_error(r, spath, (rs.name,)))
                failed.extend(f"{rs.name}.{rule_id}" for rule_id in rs.failed)
    decision = _decision(r)
    r.component = f"pipeline {name}"
    whole = read_on_error(r, ("on_error",))
    if whole is not None:
        fallbacks.append(whole)
    shadows = _shadows(r, base, shown_base, problems) if with_shadows else []
    r.component = f"pipeline {name}"
    failed_lists: list[str] = []
    lists = read_lists(r, base, shown_base, failed_lists)
    timezone = read_timezone(r, ("timezone",))
    if schema is None or schema_ref is None:
        return None
    ref = ComponentRef(
        "pipeline", name, shown, sha256_text(canonical_json(doc.data)), str(path.resolve())
    )
    return PipelineSpec(
        name,
        str(top.get("description", "")),
        str(top.get("version", "")),
        shown,
        base,
        schema,
        schema_ref,
        tuple(featuresets),
        tuple(rulesets),
        tuple(models),
        tuple(decision),
        tuple(shadows),
        ref,
        r.loc(()),
        tuple(failed),
        tuple(fallbacks),
        scorecards=tuple(scorecards),
        tables=tuple(tables),
        owner=r.string(("owner",), "'owner' (who answers for the pipeline)", False) or "",
        purpose=r.string(("purpose",), "'purpose' (what the pipeline decides)", False) or "",
        lists=tuple(lists),
        timezone=timezone,
        failed_lists=tuple(failed_lists),
    )


def _step_on_error(r: Reader, path: PathKey, nodes: tuple[str, ...]) -> list[Fallback]:
    found = read_on_error(r, (*path, "on_error"), nodes) if nodes else None
    return [found] if found is not None else []


def _shadows(
    r: Reader,
    base: Path,
    shown_base: str,
    problems: list[Problem],
) -> list[ShadowSpec]:
    out: list[ShadowSpec] = []
    names: set[str] = set()
    for i, _ in enumerate(r.sequence(("shadow",), "'shadow'", required=False)):
        spath: PathKey = ("shadow", i)
        entry = r.mapping(spath, _SHADOW_KEYS, (), f"shadow #{i + 1}")
        if entry is None:
            continue
        kinds = [k for k in ("model", "rules", "pipeline") if k in entry]
        if len(kinds) != 1:
            r.problem("K104", "a shadow is exactly one of 'model', 'rules' or 'pipeline'", spath)
            continue
        kind = kinds[0]
        replaces = r.string((*spath, "replaces"), "'replaces'", required=kind != "pipeline")
        model = ruleset = pipeline = None
        if kind == "model":
            model = _model(r, spath, base, shown_base)
            default_name = model.name if model else f"shadow_{i + 1}"
        else:
            rel = r.string((*spath, kind), f"the shadow {kind} file")
            if rel is None:
                continue
            cpath, cshown = _display(base, shown_base, rel)
            if kind == "rules":
                ruleset = load_ruleset(cpath, cshown, problems)
                default_name = ruleset.name if ruleset else f"shadow_{i + 1}"
            else:
                pipeline = load_pipeline_spec(cpath, problems, cshown, with_shadows=False)
                default_name = pipeline.name if pipeline else f"shadow_{i + 1}"
        name = str(entry.get("name", default_name))
        if not check_identifier(r, name, (*spath, "name"), "shadow name"):
            continue
        if name in names:
            r.problem(
                "K106",
                f"shadow name '{name}' is used twice",
                spath,
                "give each shadow a distinct 'name'",
            )
            continue
        names.add(name)
        if model is None and ruleset is None and pipeline is None:
            continue
        out.append(ShadowSpec(name, replaces, model, ruleset, pipeline, r.loc(spath)))
    return out
