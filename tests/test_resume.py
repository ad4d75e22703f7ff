"""Trials that resume: a trial stopped mid-way (its worker killed, or the launch stopped) is queued
again and continued from its last finished epoch, reporting every epoch once, within the budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import ROOT, cli, pins

EPOCHS = 6
TINY_CLOCK = ["input_size=32", "conv_blocks=2", "filters=8", "dense_units=16", "batch_size=8", f"epochs={EPOCHS}", "val_size=100"]


@pytest.fixture(scope="module")
def clock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets.synth import synthesize

    out = tmp_path_factory.mktemp("clock")
    # Enough photos that an epoch takes a second or more: the stop must land while the trial runs.
    synthesize(out, 1200, seed=3, style="clean")  # (it learns now: the studies below prune nothing)
    return out


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "search", *args], cwd=ROOT, env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )


def _stop_after_two_epochs(proc: subprocess.Popen, url: str, sig: int) -> int:
    """Signal ``proc`` once trial 0 has reported two epochs; return how many it had then."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the worker ended before its trial reached epoch 2"
        try:
            trial = optuna.load_study(study_name="clock", storage=url).trials[0]
        except (KeyError, IndexError):
            trial = None
        if trial is not None and len(trial.intermediate_values) >= 2:
            assert trial.state == TrialState.RUNNING and len(trial.intermediate_values) < EPOCHS
            proc.send_signal(sig)
            proc.wait(timeout=120)
            return len(trial.intermediate_values)
        time.sleep(0.05)
    raise AssertionError("trial 0 never reached epoch 2")


def _check_resumed(url: str, stopped_at: int, checkpoints: Path) -> None:
    """The relaunch's budget of 2: the enqueued seed (queued before the copy) and trial 0's copy."""
    study = optuna.load_study(study_name="clock", storage=url)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 2 and not [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)], [(t.number, t.state.name, t.system_attrs.get("failed_trial"), t.user_attrs.get("fail_reason")) for t in study.trials]
    (resumed,) = [t for t in done if t.system_attrs.get("failed_trial") == 0]
    assert resumed.user_attrs["resumed_from_epoch"] >= max(2, stopped_at - 1)
    assert sorted(resumed.intermediate_values) == list(range(EPOCHS))  # epochs 1-6, once each
    assert resumed.user_attrs["epochs"] == EPOCHS
    assert [t.state for t in study.trials if t.number == 0] == [TrialState.FAIL]
    assert not any(checkpoints.rglob("state.json"))  # a finished trial's checkpoint is removed


def test_a_killed_workers_trial_continues_from_its_last_epoch(clock_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env = {"CLOCKWORK_HEARTBEAT_SECONDS": "1"}
    sets = pins(*TINY_CLOCK, f"data_dir={clock_dir}")
    assert cli("launch", "clock", "--workers", "0", "--trials", "1", "--pruner", "none", "--storage", url, *sets).returncode == 0
    worker = _start(["worker", "clock", "--trials", "1", "--storage", url, *sets], env)
    stopped_at = _stop_after_two_epochs(worker, url, signal.SIGKILL)
    # the heartbeat finds the dead worker's trial (3 silent seconds), fails it and queues it again
    again = cli("launch", "clock", "--workers", "1", "--trials", "2", "--storage", url, *sets, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    _check_resumed(url, stopped_at, tmp_path / "artifacts" / "checkpoints")


def test_a_stopped_launch_queues_its_trial_and_the_next_launch_continues_it(clock_dir: Path, tmp_path: Path) -> None:
    """SIGTERM to launch: the path --timeout takes for a worker still busy 30 s after its deadline."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    sets = pins(*TINY_CLOCK, f"data_dir={clock_dir}")
    launch = _start(["launch", "clock", "--workers", "1", "--trials", "1", "--timeout", "3600", "--pruner", "none", "--storage", url, *sets], {})
    stopped_at = _stop_after_two_epochs(launch, url, signal.SIGTERM)
    study = optuna.load_study(study_name="clock", storage=url)
    assert [t.state for t in study.trials if t.number == 0] == [TrialState.FAIL]
    assert any(t.state == TrialState.WAITING and t.system_attrs.get("failed_trial") == 0 for t in study.trials)
    again = cli("launch", "clock", "--workers", "1", "--trials", "2", "--storage", url, *sets)
    assert again.returncode == 0, again.stdout + again.stderr
    _check_resumed(url, stopped_at, tmp_path / "artifacts" / "checkpoints")


def test_a_journal_workers_trial_is_freed_by_its_lease_when_the_worker_dies(tmp_path: Path) -> None:
    """Journals have no heartbeats: a worker started by hand renews a lease; when it dies, the next
    worker ends its trial FAIL, queues it again and finishes the budget."""
    journal = str(tmp_path / "studies.log")
    env = {"CLOCKWORK_HEARTBEAT_SECONDS": "1"}  # a lease of 3 s
    assert cli("launch", "smoke", "--workers", "0", "--storage", journal).returncode == 0
    worker = _start(["worker", "smoke", "--trials", "1", "--storage", journal, "--set", "sleep=600"], env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        trials = optuna.load_study(study_name="smoke", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(journal))).trials
        # killed once it has sampled: a trial that dies before it has parameters has nothing to
        # continue, and the next worker rightly samples a fresh one (a loaded CI machine lost this race)
        if trials and trials[0].params and trials[0].user_attrs.get("lease_until"):
            break
        time.sleep(0.1)
    worker.kill()
    worker.wait()
    # the next worker comes after the dead one's lease ran out (a worker that came sooner would see a
    # live lease, rightly, and run a trial of its own: the race this test once lost on a fast start)
    until = optuna.load_study(study_name="smoke", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(journal))).trials[0].user_attrs["lease_until"]
    time.sleep(max(0.0, until - time.time()) + 0.5)
    done = cli("worker", "smoke", "--trials", "1", "--storage", journal, "--set", "sleep=0", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="smoke", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(journal)))
    states = [(t.number, t.state) for t in study.trials]
    assert states == [(0, TrialState.FAIL), (1, TrialState.COMPLETE)]
    assert study.trials[0].user_attrs["fail_reason"] == "its worker stopped renewing its lease (it died)"
    assert study.trials[1].system_attrs["failed_trial"] == 0


def test_trials_under_a_timeout_end_scored_and_in_time_for_the_budget(clock_dir: Path, tmp_path: Path) -> None:
    """launch --timeout ends long trials before its deadline: tested, scored by their best epoch,
    their checkpoints removed, the launch over by the deadline rather than by SIGTERM after it (a
    worker still busy then takes the SIGTERM path the other tests here resume from). Trials of a
    thousand epochs would each run to the deadline; the first ones end early enough for the
    trials --trials still asks for, so one worker runs all three."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    long = [*[p for p in TINY_CLOCK if not p.startswith("epochs=")], "epochs=1000", f"data_dir={clock_dir}"]
    # --pruner none: a tiny network still at chance after 12 of its one-second epochs would be
    # pruned (the family's at_chance), which ended this test once before the time limit it tests
    began = time.monotonic()
    # 90 s: a CI machine loaded enough to take 23 minutes over the suite fitted only 2 of the 3 in 60
    timeout = 90
    first = cli("launch", "clock", "--workers", "1", "--trials", "3", "--timeout", str(timeout), "--pruner", "none", "--storage", url, *pins(*long))
    took = time.monotonic() - began
    assert first.returncode == 0, first.stdout + first.stderr
    assert "study clock: 3 complete" in first.stdout, first.stdout
    trials = optuna.load_study(study_name="clock", storage=url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    # the reference network and the seed made room for the trials after them; the last had none to make
    assert [t.user_attrs["ended_by"] for t in trials] == ["later_trials", "later_trials", "deadline"]
    for trial in trials:
        epochs = trial.user_attrs["epochs"]
        assert 1 <= epochs < 1000 and sorted(trial.intermediate_values) == list(range(epochs))
        assert trial.value == pytest.approx(min(trial.intermediate_values.values())) and "test_mean" in trial.user_attrs
    assert not any((tmp_path / "artifacts" / "checkpoints").rglob("state.json"))
    assert took < timeout + 20  # the workers' own end, not the launcher's SIGTERM 30 s after the deadline
