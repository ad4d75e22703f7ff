"""Shared fixtures. Tests use tiny budgets; data comes from Debian's Fashion-MNIST package or
the 10,000-digit MNIST subset beside the project, never from a download."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli import tensorflow_defaults

ROOT = Path(__file__).resolve().parents[1]
MNIST_10K = ROOT.parent / "shared" / "data" / "mnist-10k.npz"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Budget pins that make a trial take about a second.
TINY = ["epochs=1", "train_limit=1500", "val_size=500"]

tensorflow_defaults()  # tests run TensorFlow as `python -m search` does
os.environ["CLOCKWORK_OFFLINE"] = "1"  # no test may try a download


def require(condition: bool, reason: str) -> None:
    """Skip when a resource is absent, unless CI asked for every resource to be present."""
    if not condition:
        if os.environ.get("CLOCKWORK_REQUIRE_ALL"):
            pytest.fail(f"required in this run: {reason}")
        pytest.skip(reason)


@pytest.fixture
def fashion() -> Path:
    require((FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(), "Debian's dataset-fashion-mnist is not installed")
    return FASHION_DIR


@pytest.fixture
def mnist_10k() -> Path:
    require(MNIST_10K.is_file(), f"{MNIST_10K} is not present")
    return MNIST_10K


@pytest.fixture
def storage(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m search ARGS`` as a user would, from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "search", *args],
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def pins(*items: str) -> list[str]:
    out = []
    for item in items:
        out += ["--set", item]
    return out
