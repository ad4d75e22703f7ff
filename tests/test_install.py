"""``pip install .`` gives a ``clockwork`` command that works from any folder, and installs no
top-level ``datasets`` (or ``models``, ``search``, ...) that would shadow another distribution."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FOLDERS = ("datasets", "models", "search", "storage", "studies")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout installed with ``pip install --no-deps`` into a folder of its own (the test
    environment's packages serve its dependencies); the build needs no network."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("src")
    # Build from a copy of the working tree (committed or not: it is what is under test), since
    # setup.py writes build/ and *.egg-info beside the sources.
    (build / "clockwork").mkdir()
    for path in ROOT.glob("*"):
        if path.name in (".git", ".venv", "runs", "data", "build") or path.name.endswith(".egg-info"):
            continue
        subprocess.run(["cp", "-a", str(path), str(build / "clockwork")], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(build / "clockwork")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target


def _clockwork(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("CLOCKWORK_STORAGE", None)
    return subprocess.run(
        [sys.executable, str(installed / "bin" / "clockwork"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )


def test_only_the_clockwork_package_is_installed(installed: Path) -> None:
    top = {p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")}
    assert top == {"clockwork", "bin"}
    assert {p.name for p in (installed / "clockwork").iterdir()} >= set(FOLDERS)


def test_no_module_imports_a_bare_project_folder(installed: Path) -> None:
    import re

    bare = re.compile(rf"^\s*(from|import)\s+({'|'.join(FOLDERS)})\b", re.MULTILINE)
    offenders = [str(p) for p in (installed / "clockwork").rglob("*.py") if bare.search(p.read_text())]
    assert offenders == []


def test_help_works_from_a_new_folder(installed: Path, tmp_path: Path) -> None:
    result = _clockwork(installed, tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: clockwork ")
    assert "Relative paths resolve against the current folder" in result.stdout


def test_a_search_runs_from_a_new_folder_into_that_folder(installed: Path, tmp_path: Path) -> None:
    """Workers are started as ``python -m clockwork.search``; the default storage lands in ./runs."""
    result = _clockwork(installed, tmp_path, "launch", "smoke", "--workers", "2", "--trials", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "study smoke: 4 complete" in result.stdout
    assert "open the dashboard: clockwork dashboard" in result.stdout
    assert (tmp_path / "runs" / "clockwork.db").is_file()
    status = _clockwork(installed, tmp_path, "status", "smoke")
    assert status.returncode == 0 and "study smoke: 4 complete" in status.stdout


def test_bare_datasets_is_not_ours_once_installed(installed: Path, tmp_path: Path) -> None:
    """With only the installed package on the path, ``import datasets`` is not this project's."""
    code = "import importlib.util as u; print(u.find_spec('datasets') is None, u.find_spec('clockwork.datasets') is not None)"
    env = {**os.environ, "PYTHONPATH": str(installed)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True"], done.stderr
