"""Each worker gets its own GPU, round robin; found without importing TensorFlow."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from search import launcher
from search.launcher import assign_gpus, detect_gpu_count, visible_gpus


def test_round_robin_over_the_visible_gpus() -> None:
    assert assign_gpus(5, ["0", "1"]) == ["0", "1", "0", "1", "0"]
    assert assign_gpus(2, ["3", "1", "2"]) == ["3", "1"]
    assert assign_gpus(3, ["GPU-aaaa"]) == ["GPU-aaaa"] * 3


def test_no_gpu_means_no_assignment() -> None:
    assert assign_gpus(4, []) == [None] * 4


@pytest.mark.parametrize(
    "value,expected",
    [
        ("0,1", ["0", "1"]),
        ("2, 3", ["2", "3"]),
        ("", []),
        ("-1", []),
        ("1,-1,2", ["1"]),
        ("GPU-ab,GPU-cd", ["GPU-ab", "GPU-cd"]),
    ],
)
def test_cuda_visible_devices_wins(value: str, expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "detect_gpu_count", lambda: pytest.fail("must not detect when the variable is set"))
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": value}) == expected


def _fake_nvidia_smi(folder: Path, output: str, code: int = 0) -> None:
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\nprintf '{output}'\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_detects_gpus_with_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nvidia_smi(tmp_path, "GPU 0: NVIDIA H100 (UUID: GPU-a)\\nGPU 1: NVIDIA H100 (UUID: GPU-b)\\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert detect_gpu_count() == 2
    assert visible_gpus({}) == ["0", "1"]


def test_falls_back_to_the_driver_proc_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_nvidia_smi(bin_dir, "NVIDIA-SMI has failed", code=9)
    gpus = tmp_path / "gpus"
    for pci in ("0000:01:00.0", "0000:02:00.0", "0000:03:00.0"):
        (gpus / pci).mkdir(parents=True)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(launcher, "PROC_GPUS", gpus)
    assert detect_gpu_count() == 3


def test_no_driver_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    monkeypatch.setattr(launcher, "PROC_GPUS", tmp_path / "absent")
    assert detect_gpu_count() == 0 and visible_gpus({}) == []


def test_launch_gives_each_worker_its_gpu(tmp_path: Path) -> None:
    """Two workers on a machine whose nvidia-smi lists two GPUs: each trial records its worker's GPU."""
    from backends import load
    from conftest import ROOT, pins

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_nvidia_smi(bin_dir, "GPU 0: A\\nGPU 1: B\\n")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "search",
            "launch",
            "smoke",
            "--workers",
            "2",
            "--trials",
            "8",
            "--storage",
            url,
            *pins("sleep=0.3"),
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GPUs 0, 1" in result.stdout
    by_worker = {}
    for trial in load(url).get_trials():
        by_worker.setdefault(trial.user_attrs["worker"], set()).add(trial.user_attrs.get("gpu"))
    assert sorted(gpu for gpus in by_worker.values() for gpu in gpus) == ["0", "1"]
