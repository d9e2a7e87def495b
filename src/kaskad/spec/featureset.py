"""Feature sets: derived fields as expressions (YAML) and Python feature modules."""

from __future__ import annotations

import ast
import traceback
from dataclasses import dataclass
from pathlib import Path

from kaskad.errors import Location, Problem
from kaskad.features import RETURN_TYPES, FeatureFunction, PythonModule, features_of, run_module
from kaskad.spec.common import ComponentRef, canonical_json, sha256_bytes, sha256_text
from kaskad.spec.reader import Reader, Text
from kaskad.spec.rules import check_identifier
from kaskad.spec.yamlfile import load_yaml


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    description: str
    expr: Text | None
    func: FeatureFunction | None
    location: Location
    component: ComponentRef
    module: PythonModule | None = None  # the module of a Python feature


@dataclass(frozen=True)
class FeatureSetSpec:
    name: str
    features: tuple[FeatureSpec, ...]
    refs: tuple[ComponentRef, ...]


def load_python_module(
    path: Path,
    display: str,
    problems: list[Problem],
) -> tuple[list[FeatureFunction], ComponentRef, PythonModule] | None:
    """Run a feature module from a file and return its registered features."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(
            Problem("K101", f"cannot read feature module: {exc.strerror}", Location(display))
        )
        return None
    digest = sha256_bytes(data)
    ref = ComponentRef("python", path.stem, display, digest, str(path.resolve()))
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(
            Problem("K401", f"feature module is not UTF-8 text: {exc}", Location(display))
        )
        return None
    loaded = PythonModule(path.stem, digest, source, str(path))
    try:
        module = run_module(loaded)
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames else getattr(exc, "lineno", None)
        problems.append(
            Problem(
                "K401",
                f"feature module failed to import: {type(exc).__name__}: {exc}",
                Location(display, line),
            )
        )
        return None
    found = features_of(module)
    for meta in found:
        code = meta.func.__code__
        loc = Location(display, code.co_firstlineno, 1, f"feature {meta.name}")
        if meta.returns not in RETURN_TYPES:
            problems.append(
                Problem(
                    "K402",
                    f"feature '{meta.name}' returns '{meta.returns}'; "
                    f"use one of {', '.join(RETURN_TYPES)}",
                    loc,
                )
            )
        for param in meta.inputs:
            if param not in meta.params:
                problems.append(
                    Problem(
                        "K402",
                        f"feature '{meta.name}' maps input '{param}', which is not a parameter",
                        loc,
                    )
                )
    if not found:
        problems.append(
            Problem(
                "K402",
                "the module defines no @feature functions",
                Location(display),
                "decorate functions with @kaskad.feature",
            )
        )
    return found, ref, loaded


def _python_features(
    funcs: list[FeatureFunction],
    ref: ComponentRef,
    display: str,
    module: PythonModule,
) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            m.name,
            m.description,
            None,
            m,
            Location(display, m.func.__code__.co_firstlineno, 1, f"feature {m.name}"),
            ref,
            module,
        )
        for m in funcs
    ]


def declared_features(path: Path) -> list[str]:
    """The names of the @feature functions a module's source declares, read without
    importing it (for a module that failed to import); empty when it cannot be parsed."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call is not None else deco
            if not (
                (isinstance(target, ast.Name) and target.id == "feature")
                or (isinstance(target, ast.Attribute) and target.attr == "feature")
            ):
                continue
            name = node.name
            for kw in call.keywords if call is not None else ():
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    name = str(kw.value.value)
            names.append(name)
    return names


def load_featureset(
    path: Path, display: str, problems: list[Problem], failed: list[str] | None = None
) -> FeatureSetSpec | None:
    """A ``.py`` module of @feature functions, or a ``.yaml`` feature set.

    ``failed`` receives the names of features known to be declared but left out after a
    reported problem (a module that failed to import, a feature without a valid 'expr')."""
    failed = failed if failed is not None else []
    if path.suffix == ".py":
        loaded = load_python_module(path, display, problems)
        if loaded is None:
            failed.extend(declared_features(path))
            return None
        funcs, ref, source = loaded
        features = _python_features(funcs, ref, display, source)
        return FeatureSetSpec(path.stem, tuple(features), (ref,))
    doc, errs = load_yaml(path, display)
    problems.extend(errs)
    if doc is None:
        return None
    r = Reader(doc, f"featureset {path.stem}", problems)
    top = r.mapping(
        (), ("featureset", "description", "module", "features"), ("featureset",), "a feature set"
    )
    if top is None:
        return None
    name = r.string(("featureset",), "the feature set name") or path.stem
    r.component = f"featureset {name}"
    refs: list[ComponentRef] = []
    specs: list[FeatureSpec] = []
    own = ComponentRef(
        "features", name, display, sha256_text(canonical_json(doc.data)), str(path.resolve())
    )
    refs.append(own)
    module = r.string(("module",), "module", required=False)
    if module is not None:
        mod_display = str(Path(display).parent / module)
        loaded = load_python_module(path.parent / module, mod_display, problems)
        if loaded is None:
            failed.extend(declared_features(path.parent / module))
        else:
            funcs, ref, module_source = loaded
            refs.append(ref)
            specs.extend(_python_features(funcs, ref, mod_display, module_source))
    for i, _ in enumerate(r.sequence(("features",), "'features'", required=module is None)):
        base = ("features", i)
        entry = r.mapping(
            base, ("name", "description", "expr"), ("name", "expr"), f"feature #{i + 1}"
        )
        if entry is None:
            continue
        fname = r.string((*base, "name"), "the feature name")
        if fname is None or not check_identifier(r, fname, (*base, "name"), "feature name"):
            continue
        r.component = f"featureset {name}, feature {fname}"
        expr = r.text((*base, "expr"), "'expr'")
        if expr is None:
            failed.append(fname)
        else:
            specs.append(
                FeatureSpec(fname, str(entry.get("description", "")), expr, None, r.loc(base), own)
            )
        r.component = f"featureset {name}"
    return FeatureSetSpec(name, tuple(specs), tuple(refs))
