"""A worker killed mid-trial: heartbeats fail its trial, another worker retries it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from backends import wait_for
from conftest import ROOT, TINY, cli, pins

HEARTBEAT = {"CLOCKWORK_HEARTBEAT_SECONDS": "1"}


def _worker(url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "search", "worker", "fashion-mlp", "--storage", url, "--trials", "2", "--threads", "1", *extra],
        cwd=ROOT, env={**os.environ, **HEARTBEAT}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def test_killed_worker_trial_fails_and_is_retried(storage: str, fashion: Path) -> None:
    assert cli("launch", "fashion-mlp", "--workers", "0", "--storage", storage).returncode == 0
    study = optuna.load_study(study_name="fashion-mlp", storage=storage)
    # A slow first trial, so the kill lands mid-trial.
    slow = _worker(storage, *pins("epochs=200", "train_limit=1500", "val_size=500"))
    try:
        wait_for(lambda: any(t.state == TrialState.RUNNING for t in study.get_trials()), 120, "a running trial")
        time.sleep(2)
        slow.send_signal(signal.SIGKILL)
        slow.wait(30)
    finally:
        if slow.poll() is None:
            slow.kill()
    killed = next(t for t in study.get_trials() if t.state == TrialState.RUNNING)

    rescuer = _worker(storage, *pins(*TINY))
    assert rescuer.wait(180) == 0
    trials = study.get_trials()
    assert trials[killed.number].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params  # the same configuration was tried again
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 2
    with sqlite3.connect(storage.removeprefix("sqlite:///")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
