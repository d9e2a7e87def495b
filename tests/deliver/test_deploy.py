"""The files in deploy/: the Dockerfile (hadolint, non-root, healthcheck on /ready, no
secrets), its entry point run for real (configuration by environment and mounted files),
docker-compose.yml with PostgreSQL, and the GitLab CI template against GitLab's schema.

No container engine runs on the build machines, so images are not built here (see
docs/delivery.md); everything else about them is checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kaskad.deliver import build_bundle
from kaskad.deliver.files import CONTAINER_FILES, deploy_folder
from kaskad.deliver.layout import unpack
from kaskad.registry.releases import create_release
from kaskad.serve import hash_key
from kaskad.store import Store

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY(?!S_FILE)|PRIVATE", re.I)


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing: install requirements-dev.lock"
    return str(path)


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_package_ships_the_repository_deploy_files() -> None:
    assert deploy_folder() in (DEPLOY, Path(__file__).parents[2] / "deploy")
    for name in CONTAINER_FILES:
        assert (DEPLOY / name).is_file()


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_non_root_healthcheck_offline_and_no_secrets() -> None:
    steps = dockerfile_instructions()
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (health,) = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert "/ready" in health
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    assert "--no-index" in runs and "--require-hashes" in runs  # nothing from the network
    for op, arg in steps:
        if op in ("ENV", "ARG"):
            assert not SECRET_WORDS.search(arg), f"{op} {arg}: secrets are mounted, not baked"
        if op == "COPY":
            assert "secret" not in arg.lower()
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(arg for op, arg in steps if op == "ENV")
    assert (DEPLOY / ".dockerignore").read_text().split() == ["secrets/"]


def test_compose_file_is_valid_and_production_like() -> None:
    done = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    db, app = compose["services"]["db"], compose["services"]["kaskad"]
    assert "postgres" in db["image"] and db["healthcheck"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["read_only"] is True and "/tmp" in app["tmpfs"]
    assert app["user"].split(":")[0] not in ("0", "root")
    assert any("/ready" in part for part in app["healthcheck"]["test"])
    env = app["environment"]
    assert env["KASKAD_STORE"].startswith("postgresql://")
    assert ":" not in env["KASKAD_STORE"].removeprefix("postgresql://").split("@")[0]
    for service in (db, app):
        for key, value in service.get("environment", {}).items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/")
    assert {s if isinstance(s, str) else s["source"] for s in app["secrets"]} == {
        "pgpass",
        "api_keys",
        "masking_key",
    }
    assert all("file" in s for s in compose["secrets"].values())


def test_gitlab_ci_template_passes_gitlabs_schema() -> None:
    done = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(DEPLOY / "gitlab-ci.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_gitlab_ci_stages_approval_and_offline_installs() -> None:
    ci: dict[str, Any] = yaml.safe_load((DEPLOY / "gitlab-ci.yml").read_text())
    assert ci["stages"] == ["validate", "backtest", "release", "approval", "promote"]
    jobs = {k: v for k, v in ci.items() if isinstance(v, dict) and "stage" in v}
    assert [jobs[j]["stage"] for j in jobs] == ci["stages"]
    approval = jobs["approval"]
    assert approval["when"] == "manual" and approval["allow_failure"] is False
    assert all(job["extends"] == ".kaskad" for job in jobs.values())
    setup = " ".join(ci[".kaskad"]["before_script"])
    assert "--no-index" in setup and "--require-hashes" in setup
    assert "--no-compile" in setup  # a job's environment lasts one job
    assert ci["variables"]["PIP_NO_INDEX"] == "1"
    scripts = " ".join(" ".join(job["script"]) for job in jobs.values())
    assert "kaskad bundle verify" in scripts and "--baseline" in scripts
    assert "kaskad release create" in scripts and "--to production" in scripts
    assert "http://" not in scripts and "https://" not in scripts


# ---- the entry point, run for real --------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def image_like(project: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """What the image holds: the bundle without wheels at KASKAD_BUNDLE, a `kaskad`
    command on PATH, and an API keys file as a mounted secret; an empty working folder."""
    with Store.open(tmp_path / "source") as source:
        create_release(source, project / "pipeline.yaml", actor="ci")
        source.set_stage("loan_decision", "production", 1, "ci")
        bundle = tmp_path / "bundle.tar"
        build_bundle(source, ["loan_decision@production"], bundle, actor="ci", wheels=False)
    folder = unpack(bundle, tmp_path / "image")
    entry = tmp_path / "entrypoint.sh"  # in the image: beside the bundle's files
    entry.write_bytes((DEPLOY / "entrypoint.sh").read_bytes())
    entry.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kaskad").write_text(f'#!/bin/sh\nexec {sys.executable} -m kaskad.cli.main "$@"\n')
    (bin_dir / "kaskad").chmod(0o755)
    keys = tmp_path / "secrets" / "api_keys.yaml"
    keys.parent.mkdir()
    keys.write_text(yaml.safe_dump({"keys": [{"sha256": hash_key("k-decide"), "role": "decide"}]}))
    masking = tmp_path / "secrets" / "masking.key"
    masking.write_text("a-masking-secret-mounted-as-a-file\n")
    work = tmp_path / "work"
    work.mkdir()
    yield {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "KASKAD_BUNDLE": str(folder),
        "KASKAD_STORE": str(work / "store"),
        "KASKAD_PIPELINES": "loan_decision@production",
        "KASKAD_API_KEYS_FILE": str(keys),
        "KASKAD_MASKING_KEY_FILE": str(masking),
        "KASKAD_PORT": str(_free_port()),
        "KASKAD_SERVE_OPTIONS": "--log-level warning",
        "WORK": str(work),
        "ENTRYPOINT": str(entry),
    }


@pytest.mark.slow
def test_entrypoint_installs_the_bundle_and_serves_configured_by_environment(
    image_like: dict[str, str], example_dir: Path
) -> None:
    env = image_like
    entry = Path(env["ENTRYPOINT"])
    log = Path(env["WORK"]) / "server.log"
    with log.open("wb") as errors:
        proc = subprocess.Popen(
            [str(entry)], cwd=env["WORK"], env=env, stdout=errors, stderr=errors
        )
    url = f"http://127.0.0.1:{env['KASKAD_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with (example_dir / "data" / "applications.jsonl").open() as fh:
            record = json.loads(fh.readline())
        path = f"{url}/v1/pipelines/loan_decision/decide"
        assert httpx.post(path, json=record, timeout=10).status_code == 401
        reply = httpx.post(path, json=record, headers={"X-API-Key": "k-decide"}, timeout=10)
        assert reply.status_code == 200, reply.text
        assert reply.json()["release"] == "loan_decision@1"
        assert "loan_decision@1: installed; stages production restored" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(20)
    # Any other command runs kaskad itself (here: the release's history).
    done = subprocess.run(
        [str(entry), "release", "history", "loan_decision"],
        cwd=env["WORK"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "production" in done.stdout, done.stdout + done.stderr
