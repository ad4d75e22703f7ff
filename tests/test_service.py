"""The service end to end: parallel workers on SQLite, budgets, failures, pruning, export, train."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import TINY, cli, pins

TRIALS = 6


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, subprocess.CompletedProcess]:
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    url = f"sqlite:///{tmp_path_factory.mktemp('launch') / 'studies.db'}"
    result = cli("launch", "fashion-mlp", "--workers", "2", "--trials", str(TRIALS), "--storage", url, *pins(*TINY))
    return url, result


def _study(url: str, name: str = "fashion-mlp") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def test_two_workers_finish_exactly_the_budget(launched) -> None:
    url, result = launched
    assert result.returncode == 0, result.stderr
    trials = _study(url).get_trials()
    states = [t.state for t in trials]
    assert sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states) == TRIALS
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert "best trial #" in result.stdout and "python -m search dashboard" in result.stdout


def test_trial_zero_is_the_reference_mlp(launched) -> None:
    url, _ = launched
    first = _study(url).trials[0]
    assert first.user_attrs["reference"] is True
    assert first.user_attrs["config"]["hidden_units"] == [300, 100]
    assert first.user_attrs["config"]["optimizer"] == "sgd"
    assert first.user_attrs["param_count"] == 266_610


def test_finished_trials_store_what_a_user_inspects(launched) -> None:
    url, _ = launched
    for trial in _study(url).get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        attrs = trial.user_attrs
        assert attrs["config"]["epochs"] == 1 and attrs["config"]["train_limit"] == 1500
        assert 0.0 <= attrs["test_accuracy"] <= 1.0
        assert attrs["train_seconds"] > 0 and attrs["epochs"] >= 1 and attrs["param_count"] > 0
        assert set(attrs["versions"]) >= {"tensorflow", "keras", "optuna"}
        assert trial.intermediate_values  # every epoch reported


def test_the_two_workers_ran_trials_at_the_same_time(launched) -> None:
    url, _ = launched
    trials = _study(url).get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    overlapping = [
        (a.number, b.number)
        for a in trials for b in trials
        if a.user_attrs["worker"] < b.user_attrs["worker"]
        and a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
    ]
    assert overlapping, "no two trials of different workers overlapped in time"


def test_stock_optuna_cli_reads_the_storage(launched) -> None:
    url, _ = launched
    optuna_cli = shutil.which("optuna", path=str(Path(__import__("sys").executable).parent))
    assert optuna_cli, "the optuna command is not installed next to this Python"
    out = subprocess.run(
        [optuna_cli, "trials", "--study-name", "fashion-mlp", "--storage", url, "-f", "json"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == TRIALS


def test_status_shows_states_and_best(launched) -> None:
    url, _ = launched
    result = cli("status", "fashion-mlp", "--storage", url)
    assert result.returncode == 0, result.stderr
    assert f"{TRIALS} " in result.stdout and "best trial #" in result.stdout


def test_export_then_train_reproduces_the_model(launched, tmp_path: Path) -> None:
    url, _ = launched
    out = tmp_path / "best.json"
    result = cli("export", "fashion-mlp", "--top", "3", "--out", str(out), "--storage", url)
    assert result.returncode == 0, result.stderr
    exported = json.loads(out.read_text())
    entries = exported["trials"]
    assert len(entries) == 3
    assert [e["value"] for e in entries] == sorted(e["value"] for e in entries)
    for entry in entries:
        assert entry["study"] == "fashion-mlp" and isinstance(entry["trial"], int)
        assert {"test_accuracy", "param_count", "epochs", "train_seconds"} <= set(entry["metrics"])
        assert {"tensorflow", "keras", "optuna"} <= set(entry["versions"])
    run_dir = tmp_path / "run"
    result = cli("train", str(out), "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["param_count"] == entries[0]["metrics"]["param_count"]
    assert metrics["train_images"] == 1500 + 500  # train + validation
    assert 0.0 < metrics["test_accuracy"] <= 1.0
    assert (run_dir / "model.keras").stat().st_size > 0
    assert json.loads((run_dir / "config.json").read_text()) == entries[0]["config"]


def test_relaunch_resumes_and_counts_what_was_done(launched) -> None:
    url, _ = launched
    result = cli("launch", "fashion-mlp", "--workers", "2", "--trials", str(TRIALS + 2), "--storage", url, *pins(*TINY))
    assert result.returncode == 0, result.stderr
    trials = _study(url).get_trials()
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == TRIALS + 2
    assert sum(bool(t.user_attrs.get("reference")) for t in trials) == 1


# In-process worker tests: TensorFlow is imported once for all of them.

def _new_study(url: str, family: str = "fashion-mlp"):
    from search.study import create_study
    from studies import get_family

    return create_study(url, family, get_family(family), "median")


def test_a_failing_trial_is_recorded_and_the_worker_goes_on(storage: str, fashion: Path) -> None:
    from search.pins import parse_pins
    from search.worker import run_worker
    from studies import get_family

    study = _new_study(storage)
    diverging = {**get_family("fashion-mlp").reference_params, "learning_rate": 1e6}
    study.enqueue_trial(diverging)
    run_worker(storage, "fashion-mlp", 2, parse_pins(TINY))
    trials = _study(storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert "loss became nan" in trials[1].user_attrs["fail_reason"]


def test_pruned_trials_show_as_pruned(storage: str, fashion: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import search.worker
    from search.pins import parse_pins

    # A pruner that prunes every trial after its first epoch: pruning must end the fit, record the
    # epochs actually run and still test the model.
    monkeypatch.setattr(search.worker, "make_pruner", lambda name, epochs, min_epochs=1, at_chance=None: optuna.pruners.ThresholdPruner(upper=0.0))
    _new_study(storage)
    search.worker.run_worker(storage, "fashion-mlp", 2, parse_pins([*TINY, "epochs=3"]))
    trials = _study(storage).get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.PRUNED]
    for trial in trials:
        assert trial.user_attrs["epochs"] == 1 and list(trial.intermediate_values) == [0]
        assert 0.0 <= trial.user_attrs["test_accuracy"] <= 1.0


def test_mnist_study_runs_offline_from_the_subset(storage: str, mnist_10k: Path) -> None:
    from search.pins import parse_pins
    from search.worker import run_worker

    _new_study(storage, "mnist-mlp")
    run_worker(storage, "mnist-mlp", 1, parse_pins([*TINY, f"data_dir={mnist_10k}"]))
    (trial,) = _study(storage, "mnist-mlp").get_trials()
    assert trial.state == TrialState.COMPLETE and trial.user_attrs["test_accuracy"] > 0.3  # chance is 0.1


def test_cnn_study_trial_runs(storage: str, fashion: Path) -> None:
    from search.pins import parse_pins
    from search.worker import run_worker

    _new_study(storage, "fashion-cnn")
    # The reference CNN is too slow for a unit test: pin a small architecture, tiny data.
    small = ["stem_filters=16", "block_filters=16", "blocks=1", "convs_per_block=1", "n_dense=1", "dense_0=32"]
    run_worker(storage, "fashion-cnn", 1, parse_pins([*TINY, "train_limit=300", *small]))
    (trial,) = _study(storage, "fashion-cnn").get_trials()
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs["config"]["model"] == "cnn" and trial.user_attrs["config"]["blocks"] == 1
