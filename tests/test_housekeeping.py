"""What a daily user needs besides searching: delete, disk, versions and data fingerprints, the
objective's name and a note per trial in the dashboard, importances only when they mean something."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from conftest import TINY
from search.artifacts import open_store, study_artifact_dir
from search.cli import main
from search.study import create_study
from storage import attrs
from studies import get_family


def _smoke(url: str, name: str, trials: int = 3) -> optuna.Study:
    from search.worker import run_worker

    create_study(url, name, get_family("smoke"), "none")
    run_worker(url, name, trials, {})
    return optuna.load_study(study_name=name, storage=url)


def _upload(study: optuna.Study, folder: Path, text: str) -> str:
    """An artifact of a trial, as workers upload them (to the trial while it runs)."""
    path = folder.parent / f"{study.study_name}.txt"
    path.write_text(text)
    trial = study.ask()
    artifact_id = optuna.artifacts.upload_artifact(artifact_store=open_store(folder), file_path=str(path), study_or_trial=trial)
    study.tell(trial, 1.0)
    return artifact_id


def test_delete_removes_the_study_and_its_artifacts_and_nothing_else(capsys, storage: str, tmp_path: Path) -> None:
    doomed, kept = _smoke(storage, "doomed"), _smoke(storage, "kept")
    folder = study_artifact_dir(doomed)
    doomed_file, kept_file = _upload(doomed, folder, "a"), _upload(kept, folder, "b")
    unrelated = folder / "a-file-of-the-user"
    unrelated.write_text("mine")

    assert main(["delete", "doomed", "--storage", storage]) == 2  # without --yes: says what would go
    err = capsys.readouterr().err
    assert "delete would remove study doomed (4 trials)" in err and "1 artifact files" in err and "--yes" in err
    assert (folder / doomed_file).exists() and "doomed" in optuna.get_all_study_names(storage)

    assert main(["delete", "doomed", "--yes", "--storage", storage]) == 0
    assert "deleted study doomed (4 trials)" in capsys.readouterr().out
    assert optuna.get_all_study_names(storage) == ["kept"]
    assert not (folder / doomed_file).exists()
    assert (folder / kept_file).read_text() == "b" and unrelated.read_text() == "mine"
    assert len(optuna.load_study(study_name="kept", storage=storage).trials) == 4

    assert main(["delete", "doomed", "--yes", "--storage", storage]) == 2
    assert "no study named 'doomed'" in capsys.readouterr().err


def test_status_shows_version_data_and_disk(capsys, storage: str) -> None:
    study = _smoke(storage, "smoke")
    _upload(study, study_artifact_dir(study), "x" * 2500)
    assert main(["status", "smoke", "--storage", storage]) == 0
    out = capsys.readouterr().out
    assert "created by Clockwork git " in out or "created by Clockwork clockwork " in out
    assert "data none (the task reads no data)" in out
    assert "disk: artifacts 2.5 kB (1 files in" in out


def test_a_study_records_the_fingerprint_of_its_data_and_export_carries_it(storage: str, fashion: Path, tmp_path: Path) -> None:
    from search.tasks import task_of

    family = get_family("fashion-mlp")
    data = task_of(family).check_data(family, {})
    assert data.startswith("sha256:") and len(data.split()[0]) == len("sha256:") + 16
    assert task_of(family).check_data(family, {}) == data  # the same data, the same fingerprint
    assert main(["launch", "fashion-mlp", "--workers", "1", "--trials", "1", "--storage", storage, *sum((["--set", p] for p in TINY), [])]) == 0
    study = optuna.load_study(study_name="fashion-mlp", storage=storage)
    assert study.user_attrs[attrs.DATA_FINGERPRINT] == data
    out = tmp_path / "best.json"
    assert main(["export", "fashion-mlp", "--out", str(out), "--storage", storage]) == 0
    exported = json.loads(out.read_text())
    assert exported["data_fingerprint"] == data and exported["project_version"] == study.user_attrs[attrs.PROJECT_VERSION]


def test_fingerprints_tell_data_apart() -> None:
    from datasets.fingerprint import fingerprint

    a = np.arange(600, dtype=np.uint8).reshape(6, 10, 10)
    b = a.copy()
    assert fingerprint(a) == fingerprint(b)
    b[5, 9, 9] += 1
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) != fingerprint(a.reshape(60, 10))


def test_the_dashboard_names_the_objective_and_notes_every_finished_trial(storage: str, fashion: Path) -> None:
    from optuna_dashboard._note import get_note_from_system_attrs

    from search.worker import run_worker
    from search.pins import parse_pins

    family = get_family("fashion-mlp")
    create_study(storage, "fashion-mlp", family, "median")
    run_worker(storage, "fashion-mlp", 1, parse_pins(TINY))
    study = optuna.load_study(study_name="fashion-mlp", storage=storage)
    assert study.metric_names == [family.objective]
    trial = study.trials[0]
    note = get_note_from_system_attrs(study._storage.get_study_system_attrs(study._study_id), trial._trial_id)["body"]
    assert "learning_rate 0.01" in note and "optimizer sgd" in note
    assert "1 epochs, scored by epoch 1" in note and "test accuracy" in note


def test_a_clock_note_says_how_many_photos_read_an_hour_off() -> None:
    from search.tasks import get_task

    metrics = {attrs.EPOCHS: 16, attrs.BEST_EPOCH: 12, attrs.VAL_ERROR: 47.8, "test_mean": 49.6, "test_median": 52.7,
               "test_within_10": 0.39, "test_hour_off": 0.44}
    note = get_task("clock").note({"head": "periodic", "learning_rate": 0.003}, metrics)
    assert "head periodic, learning_rate 0.003" in note and "16 epochs, scored by epoch 12" in note
    assert "47.80 min" in note and "39% within 10 min" in note and "44% of the test photos read about an hour off" in note


@pytest.mark.parametrize("complete,drawn", [(3, False), (12, True)])
def test_importances_need_enough_trials(storage: str, tmp_path: Path, complete: int, drawn: bool) -> None:
    from search.report import write_report

    study = optuna.create_study(study_name="smoke", storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr(attrs.FAMILY, "smoke")
    study.optimize(lambda t: (t.suggest_float("x", -10, 10) - 2) ** 2 + t.suggest_float("y", 0, 1), n_trials=complete)
    out = tmp_path / "report.html"
    write_report(optuna.storages.RDBStorage(storage), out, tmp_path, storage)
    page = out.read_text()
    assert ("Hyperparameter Importances" in page) == drawn
    assert (f"{complete} completed trial(s); importances are shown from 10 on" in page) == (not drawn)
