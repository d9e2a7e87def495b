"""Done when: a bundle of the credit example, carried into a network namespace with no
network (``unshare -n``), installs into a fresh virtual environment from its own wheels
(``pip install --no-index``), restores its release into a new store, and runs it on the
example data with output identical to the source machine's.

Slow (a few minutes): the wheelhouse is about 220 MB. pip's download cache makes the
second build fast; the offline install unpacks every wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from kaskad.deliver import build_bundle, verify_bundle
from kaskad.deliver.wheelhouse import find_project
from kaskad.registry.releases import create_release
from kaskad.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]


def can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return done.returncode == 0


def offline_env(tmp: Path) -> dict[str, str]:
    """No PYTHONPATH into the source tree, no pip configuration, index or find-links of
    this machine: only what the bundle brings."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_NO_CACHE_DIR="1")
    env["HOME"] = str(tmp / "home")
    return env


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, example_dir: Path) -> Iterator[Path]:
    """The source machine: a store with the credit example released to production, its
    output on the example data, and the bundle."""
    tmp = tmp_path_factory.mktemp("source")
    with Store.open(tmp / "store") as store:
        create_release(
            store,
            example_dir / "pipeline.yaml",
            actor="ds",
            golden_input=example_dir / "data" / "applications.jsonl",
            golden_count=100,
        )
        store.set_stage("loan_decision", "production", 1, "ds")
        build_bundle(
            store,
            ["loan_decision@production"],
            tmp / "bundle.tar",
            actor="ds",
            project=find_project(),
            work=tmp,
        )
    run = [sys.executable, "-m", "kaskad.cli.main", "run", "loan_decision@production"]
    run += ["--input", str(example_dir / "data" / "applications.jsonl")]
    run += ["--output", str(tmp / "expected.parquet"), "--store", str(tmp / "store"), "-q"]
    subprocess.run(run, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    yield tmp


def test_bundle_wheelhouse_holds_kaskad_every_locked_package_and_the_backend(
    source: Path,
) -> None:
    checked = verify_bundle(source / "bundle.tar")
    names = {w.split("-")[0].lower().replace("_", "-") for w in checked.wheels}
    assert {"kaskad", "hatchling", "polars", "scikit-learn", "lightgbm", "psycopg"} <= names
    for lock in ("requirements.lock", "requirements-build.lock"):
        for line in (ROOT / lock).read_text().splitlines():
            if line and not line.startswith((" ", "#")) and "win32" not in line:
                assert line.split("==")[0].lower() in names, f"{line} of {lock} is missing"
    assert {"Dockerfile", "entrypoint.sh", "docker-compose.yml"} <= set(checked.manifest.files)


@pytest.mark.skipif(not can_unshare(), reason="needs `unshare -n` (root or user namespaces)")
def test_offline_install_runs_the_release_with_identical_output(
    source: Path, example_dir: Path, tmp_path: Path
) -> None:
    bundle = source / "bundle.tar"
    data = example_dir / "data" / "applications.jsonl"
    script = f"""
set -eu
cd {tmp_path}
python3 -c "import socket; assert [n for _, n in socket.if_nameindex()] == ['lo']"
tar -xf {bundle}
python3 -m venv venv
venv/bin/pip install --quiet --no-index --find-links kaskad-bundle/wheelhouse \\
    --require-hashes -r kaskad-bundle/wheelhouse/requirements.txt
venv/bin/kaskad bundle verify {bundle}
venv/bin/kaskad bundle install {bundle} --store store --actor ops
venv/bin/kaskad run loan_decision@production --input {data} --output out.parquet \\
    --store store -q
venv/bin/kaskad release history loan_decision --store store
venv/bin/kaskad bundle install {bundle} --venv venv2 --store store2 --actor ops
venv2/bin/kaskad release verify loan_decision@production --store store2
"""
    done = subprocess.run(
        ["unshare", "-n", "bash", "-c", script],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "loan_decision@1: installed; stages production restored" in done.stdout
    assert "wheels into venv2" in done.stdout and "loan_decision@1 verified" in done.stdout
    expected = pl.read_parquet(source / "expected.parquet")
    got = pl.read_parquet(tmp_path / "out.parquet")
    assert got.height == expected.height == 20_000
    assert got.equals(expected), "the offline machine decided differently"
    # The installed kaskad is the bundle's wheel, not this source tree.
    where = subprocess.run(
        [str(tmp_path / "venv/bin/python"), "-c", "import kaskad; print(kaskad.__file__)"],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "site-packages" in where and str(ROOT) not in where


def gitlab_ci_local() -> str | None:
    """gitlab-ci-local as `.ci/services.sh` installs it (npm), if it is there."""
    default = Path.home() / ".cache/kaskad-tools/gitlab-ci-local-4.60.0/node_modules/.bin"
    tool = Path(os.environ.get("KASKAD_GITLAB_CI_LOCAL", default / "gitlab-ci-local"))
    if tool.exists():
        return str(tool)
    if os.environ.get("KASKAD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"gitlab-ci-local is not installed at {tool} (.ci/services.sh installs it)")
    return None


def test_gitlab_ci_template_runs_its_jobs_locally(
    source: Path, example_dir: Path, tmp_path: Path
) -> None:
    """The template's five jobs, run by gitlab-ci-local's shell executor in a project
    holding the credit example and the bundle, against an internal registry (a store)
    whose production stage is release 1: the pipeline ends with release 2 in production,
    promoted by the approver."""
    tool = gitlab_ci_local()
    if tool is None:
        pytest.skip("gitlab-ci-local is not installed (.ci/services.sh installs it)")
    project = tmp_path / "project"
    shutil.copytree(example_dir, project, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(source / "bundle.tar", project / "bundle.tar")
    shutil.copyfile(ROOT / "deploy" / "gitlab-ci.yml", project / ".gitlab-ci.yml")
    registry = tmp_path / "registry"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    kaskad = [sys.executable, "-m", "kaskad.cli.main"]
    for args in (
        ["release", "create", str(project / "pipeline.yaml")],
        ["release", "promote", "loan_decision@1", "--to", "production"],
    ):
        subprocess.run(
            [*kaskad, *args, "--store", str(registry)], check=True, env=env, capture_output=True
        )
    pipeline = project / "pipeline.yaml"  # the commit CI releases changes the pipeline
    pipeline.write_text(pipeline.read_text().replace("version: 1", "version: 2", 1))
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "pipeline"]):
        subprocess.run([*git, *step], cwd=project, check=True, capture_output=True)
    run_env = offline_env(tmp_path)
    run_env["HOME"] = os.environ.get("HOME", str(tmp_path))
    command = [tool, "--force-shell-executor", "--manual", "approval"]
    for name, value in {
        "KASKAD_STORE": str(registry),
        "KASKAD_HISTORY": "data/applications.jsonl",
        "KASKAD_GOLDEN": "data/applications.jsonl",
        "GITLAB_USER_LOGIN": "risk-committee",
    }.items():
        command += ["--variable", f"{name}={value}"]
    done = subprocess.run(
        command, cwd=project, env=run_env, capture_output=True, text=True, timeout=1200
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    for job in ("validate", "backtest", "release:create", "approval", "promote"):
        assert re.search(rf"PASS\s+{re.escape(job)}\b", log), f"{job} did not pass:\n{log[-3000:]}"
    assert "0 of 20,000 decisions (0.00%) flip" in log
    with Store.open(registry) as store:
        assert store.stages("loan_decision") == {"production": 2}
        promoted = store.stage_history("loan_decision", "production")[-1]
        # the OS user acts; --actor adds who approved, never replaces it
        assert promoted.to_release == 2
        assert promoted.actor.endswith(" (as gitlab:risk-committee)")
