"""Only verified code runs: a release's cache folder holds its files and nothing else (a
planted ``__pycache__/*.pyc`` is refused before anything runs), and while a release is
loaded only feature modules with the release's hashes run."""

from __future__ import annotations

import py_compile
import sys
from pathlib import Path

import pytest

from kaskad.features import PythonModule, UnverifiedModuleError, only_verified, run_module
from kaskad.registry.errors import ReleaseError
from kaskad.registry.releases import load_release
from kaskad.store import Store
from tests.cli.test_cli import kaskad
from tests.registry.test_releases import ACTOR, make_release


def _plant_pyc(folder: Path, marker: Path) -> Path:
    """An unchecked-hash .pyc of credit.py that writes ``marker`` when it runs."""
    source = folder.parent / "evil.py"
    source.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    tag = sys.implementation.cache_tag
    target = folder / "features" / "__pycache__" / f"credit.{tag}.pyc"
    target.parent.mkdir(parents=True, exist_ok=True)
    py_compile.compile(
        str(source),
        cfile=str(target),
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return target


@pytest.mark.slow
def test_a_planted_pyc_is_refused(local_store: Store, project: Path, tmp_path: Path) -> None:
    make_release(local_store, project, count=20)
    cache = tmp_path / "c"
    loaded = load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=cache)
    marker = tmp_path / "ran.txt"
    planted = _plant_pyc(loaded.root, marker)
    with pytest.raises(ReleaseError, match="unexpected file") as refused:
        load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=cache)
    assert "features/__pycache__/credit." in str(refused.value)
    assert not marker.exists()

    # the same from the shell: `release verify` no longer says "verified"
    store = str(tmp_path / "store")
    verify = kaskad("release", "verify", "loan_decision@1", "--store", store)
    if verify.returncode == 0:  # the shell's cache folder is another one: plant there too
        root = next(p.parent.parent for p in (tmp_path / "store").rglob("features/credit.py"))
        _plant_pyc(root, marker)
        verify = kaskad("release", "verify", "loan_decision@1", "--store", store)
    assert verify.returncode == 1
    assert "unexpected file" in verify.stderr and "verified" not in verify.stdout
    assert not marker.exists()
    planted.unlink()
    planted.parent.rmdir()
    again = load_release(local_store, "loan_decision@1", actor=ACTOR, cache_root=cache)
    assert again.plan.hash == loaded.plan.hash
    assert not list(again.root.rglob("__pycache__"))  # loading writes no bytecode cache


def test_only_verified_modules_run_while_a_release_loads() -> None:
    good = PythonModule("good", "a" * 64, "VALUE = 1\n")
    edited = PythonModule("edited", "b" * 64, "VALUE = 2\n")
    with only_verified(["a" * 64]):
        assert run_module(good).VALUE == 1
        with pytest.raises(UnverifiedModuleError, match="not one of the release's verified"):
            run_module(edited)
    assert run_module(edited).VALUE == 2  # outside a release load: the spec's own code
