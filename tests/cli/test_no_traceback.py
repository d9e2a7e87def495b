"""Every command, given broken inputs — a missing file, bad YAML, a release that does not
exist, a stage typo, an unreachable database — says what is wrong in a line and exits with
a documented code: never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kaskad.cli.exitcodes import EXIT_CODES, ExitCode
from kaskad.cli.main import app

DOWN = "postgresql://kaskad@127.0.0.1:9/nothing?connect_timeout=2"  # nothing listens on 9


def commands() -> Iterator[tuple[list[str], Any]]:
    def walk(command: Any, words: list[str]) -> Iterator[tuple[list[str], Any]]:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, [*words, name])
        else:
            yield words, command

    yield from walk(typer.main.get_command(app), [])


COMMANDS = list(commands())


def _value(param: Any, scenario: str, files: dict[str, Path]) -> str:
    """A broken value for a required parameter, by what it names."""
    name = param.name
    broken = files[scenario]
    if name in ("ref", "a", "b", "releases", "baseline", "candidate"):
        return "nope@prodution" if scenario == "bad_yaml" else "nope@7"
    if name in ("decision_id", "key", "name", "reason"):
        return "nope"
    if name == "framework":
        return "lightgbm"
    if name == "to":
        return "prodution"
    if name == "before":
        return "soon"
    if name in ("output", "out_path"):
        return str(files["out"] / "report.html")
    if name == "pipeline" and param.param_type_name == "option":
        return "nope"
    if name == "pipeline" and scenario == "down":
        return "nope@1"
    return str(broken)


def _args(words: list[str], command: Any, scenario: str, files: dict[str, Path]) -> list[str]:
    args = list(words)
    if words == ["docs"]:  # with the site built (mkdocs build), it would serve until stopped
        args.append("--no-serve")
    for param in command.params:
        if param.name == "store":
            args += ["--store", DOWN if scenario == "down" else str(files["store"])]
        if not param.required:
            continue
        value = _value(param, scenario, files)
        if param.param_type_name == "argument":
            args.append(value)
        else:
            args += [param.opts[0], value]
    return args


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("broken")
    bad = root / "bad.yaml"
    bad.write_text("pipeline: [unclosed\n  steps: {\n", encoding="utf-8")
    (root / "out").mkdir()
    return {
        "missing": root / "no-such-file.yaml",
        "bad_yaml": bad,
        "down": bad,
        "store": root / "empty-store",
        "out": root / "out",
    }


@pytest.mark.parametrize("scenario", ["missing", "bad_yaml", "down"])
@pytest.mark.parametrize("words", [w for w, _ in COMMANDS], ids=" ".join)
def test_no_command_prints_a_traceback(
    words: list[str], scenario: str, files: dict[str, Path]
) -> None:
    command = dict((tuple(w), c) for w, c in COMMANDS)[tuple(words)]
    args = _args(words, command, scenario, files)
    result = CliRunner().invoke(app, args, input="not json", env={"COLUMNS": "120"})
    shown = " ".join(args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"kaskad {shown}: raised {result.exception!r}") from result.exception
    assert "Traceback" not in result.output, f"kaskad {shown}:\n{result.output}"
    assert result.exit_code in EXIT_CODES, f"kaskad {shown}: exit {result.exit_code}"
    if scenario == "down" and any(p.name == "store" for p in command.params):
        assert result.exit_code != ExitCode.OK, f"kaskad {shown} succeeded with no store"
