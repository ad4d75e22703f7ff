"""TensorFlow under `python -m search` takes its tensors from its own pooling allocator.

Without it every step's buffers go back to malloc and from there to the kernel, and a 2-core VM
paid 1.4-1.7x the time a clock epoch (BENCHMARKS.md, "The CPU allocator"). Only the pooling
allocator counts the bytes it holds, so ``get_memory_info`` tells which one a process runs: under
malloc TensorFlow 2.x raises ValueError for the CPU on some machines and reports a peak of 0 on
others (both seen with the pinned release), and the pooling allocator reports the bytes it holds.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

AFTER_THE_CLI = """
import contextlib, io
from search import cli
with contextlib.redirect_stdout(io.StringIO()):
    cli.main(["studies"])
import tensorflow as tf
tf.matmul(tf.ones((64, 64)), tf.ones((64, 64)))
try:
    print("pooled" if tf.config.experimental.get_memory_info("CPU:0")["peak"] > 0 else "empty")
except ValueError:
    print("malloc")
"""


def _allocator(setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if setting is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = setting
    result = subprocess.run(
        [sys.executable, "-c", AFTER_THE_CLI], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), f"no output; stderr: {result.stderr[-2000:]}"
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(("setting", "expected"), [(None, {"pooled"}), ("false", {"malloc", "empty"})])
def test_the_cli_gives_tensorflow_its_pooling_allocator_unless_the_user_says_otherwise(setting, expected) -> None:
    assert _allocator(setting) in expected
