"""Surviving faults: a SIGKILLed worker on database storages, SIGTERM / Ctrl-C on `launch`, resume.

Trivial ``smoke`` trials that sleep stand in for training, so a signal lands mid-trial.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from backends import check_exact, load, storage_for, wait_for
from conftest import ROOT, cli, pins
from optuna.trial import TrialState

from storage import StorageError

HEARTBEAT = {"CLOCKWORK_HEARTBEAT_SECONDS": "1"}


def _worker(url: str, trials: int, *extra: str, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "search", "worker", "smoke", "--storage", url, "--trials", str(trials), *extra],
            cwd=ROOT,
            env={**os.environ, **HEARTBEAT},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _running(url: str) -> list:
    """The running trials that have sampled (one killed before it has parameters is not queued again)."""
    return [t for t in load(url).get_trials() if t.state == TrialState.RUNNING and t.params]


@pytest.mark.parametrize("kind", ["postgresql", "mysql", "grpc"])
def test_killed_worker_trial_fails_and_is_retried(kind: str, tmp_path: Path) -> None:
    with storage_for(kind, tmp_path) as url:
        assert cli("launch", "smoke", "--workers", "0", "--storage", url).returncode == 0
        slow = _worker(url, 3, *pins("sleep=120"), log=tmp_path / "slow.log")
        try:
            wait_for(lambda: bool(_running(url)), 60, "a sampled running trial")
            wait_for(lambda: bool(_running(url)[0].system_attrs) or kind != "grpc", 10, "a heartbeat")
            slow.send_signal(signal.SIGKILL)
            slow.wait(30)
        finally:
            if slow.poll() is None:
                slow.kill()
        (killed,) = _running(url)

        rescuer = _worker(url, 3, log=tmp_path / "rescuer.log")
        assert rescuer.wait(120) == 0, (tmp_path / "rescuer.log").read_text()[-3000:]
        trials = check_exact(url, 3, killed=(killed.number,))
        assert trials[killed.number].state == TrialState.FAIL
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
        assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
        assert retries[0].params == killed.params  # the same configuration was tried again


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


# workers-only: SIGINT reaches the workers but not the launcher (one started with SIGINT ignored,
# as a shell script's background job is), which must still report a stop, not a failure.
@pytest.mark.parametrize(
    "kind,how", [("sqlite", "sigterm"), ("journal", "ctrl-c"), ("postgresql", "sigterm"), ("journal", "workers-only")]
)
def test_stopped_launch_leaves_no_running_trial_and_resumes(kind: str, how: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with storage_for(kind, tmp_path) as url:
        launch = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "search",
                "launch",
                "smoke",
                "--workers",
                "2",
                "--trials",
                "50",
                "--storage",
                url,
                *pins("sleep=1.5"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            # As from a terminal: a shell script's background job (CI's, say) inherits SIGINT
            # ignored, and Python then keeps ignoring it, which is right for the launcher but
            # would make this a test of the caller's shell.
            preexec_fn=_default_sigint,
        )
        try:
            wait_for(
                lambda: _counts(url)["COMPLETE"] >= 1 and _counts(url)["RUNNING"] == 2,
                90,
                "finished and running trials",
            )
            if how == "sigterm":
                launch.send_signal(signal.SIGTERM)
            elif how == "workers-only":
                for pid in _children(launch.pid):
                    os.kill(pid, signal.SIGINT)
            else:  # a terminal's Ctrl-C: SIGINT to the launcher and its workers at once
                os.killpg(launch.pid, signal.SIGINT)
            out, err = launch.communicate(timeout=90)
        finally:
            if launch.poll() is None:
                launch.kill()
        assert launch.returncode == 130, err[-3000:]
        assert "Traceback" not in err
        assert "left RUNNING" not in err  # the workers ended their own trials
        counts = _counts(url)
        assert counts["RUNNING"] == 0 and counts["WAITING"] == 0, counts
        assert counts["FAIL"] >= 1  # the interrupted trials
        assert f"study smoke: {counts['COMPLETE']} complete, {counts['FAIL']} fail" in out
        assert "launch again to resume" in out
        stopped = load(url).get_trials()
        if kind == "sqlite":
            _integrity_ok(url)

        done = counts["COMPLETE"]
        again = cli(
            "launch",
            "smoke",
            "--workers",
            "2",
            "--trials",
            str(done + 4),
            "--storage",
            url,
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT)},
        )
        assert again.returncode == 0, again.stderr[-3000:]
        trials = load(url).get_trials()
        assert [t.number for t in trials] == list(range(len(trials)))
        new = trials[len(stopped) :]
        assert [t.state for t in new] == [TrialState.COMPLETE] * 4  # numbers continue, the budget counts what was done
        assert sum(t.state == TrialState.COMPLETE for t in trials) == done + 4
        if kind == "sqlite":
            _integrity_ok(url)


def _counts(url: str) -> Counter[str]:
    try:
        return Counter(t.state.name for t in load(url).get_trials())
    except (StorageError, KeyError):  # the launcher has not created the study yet
        return Counter()


def _integrity_ok(url: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_killed_worker_on_a_journal_is_retried_by_the_launcher(tmp_path: Path) -> None:
    """A journal has no heartbeats: the launcher notices the dead worker and requeues its trial."""
    url = str(tmp_path / "studies.log")
    launch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "search",
            "launch",
            "smoke",
            "--workers",
            "2",
            "--trials",
            "6",
            "--storage",
            url,
            *pins("sleep=1"),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # a worker records itself on its trial just after the trial starts, and the trial then samples:
        # wait for both (a trial dead before it has parameters is not queued again)
        def running() -> list:
            return [
                t for t in load(url).get_trials()
                if t.state == TrialState.RUNNING and "worker" in t.user_attrs and t.params
            ]

        wait_for(lambda: _counts(url)["RUNNING"] >= 1 and bool(running()), 90, "a running trial with its worker recorded")
        victim = running()[0]
        os.kill(int(victim.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
        out, err = launch.communicate(timeout=120)
    finally:
        if launch.poll() is None:
            launch.kill()
    assert "6 complete, 1 fail" in out, (out, err[-3000:])
    trials = check_exact(url, 6, killed=(victim.number,))
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE and retries[0].params == victim.params
