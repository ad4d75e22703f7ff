"""Trial artifacts: learning curves for every finished trial, clock predictions, the best model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from PIL import Image

from conftest import TINY
from search.artifacts import (
    CONTACT_SHEET, CURVES, ENV_VAR, MODEL, PREDICTIONS, STUDY_ATTR, default_artifact_dir, find_artifact, open_store,
    read_artifact,
)


def test_the_store_sits_beside_the_database_unless_told_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_artifact_dir(f"sqlite:///{tmp_path / 'a' / 'studies.db'}") == tmp_path / "a" / "artifacts"
    assert default_artifact_dir(str(tmp_path / "journal.log")) == tmp_path / "artifacts"
    assert default_artifact_dir("postgresql+psycopg://u@h/db") == Path("runs/artifacts").resolve()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    assert default_artifact_dir(f"sqlite:///{tmp_path / 'studies.db'}") == tmp_path / "elsewhere"


def _png(store, storage, trial, name: str) -> Image.Image:
    artifact_id = find_artifact(trial, storage, name)
    assert artifact_id, f"trial {trial.number} has no {name}"
    return Image.open(io.BytesIO(read_artifact(store, artifact_id)))


def _trials(url: str, name: str):
    study = optuna.load_study(study_name=name, storage=url)
    return study, study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def _new_study(url: str, family: str):
    from search.study import create_study
    from studies import get_family

    return create_study(url, family, get_family(family), "none")


def test_worker_uploads_curves_and_the_best_model(tmp_path: Path, fashion: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from search.pins import parse_pins
    from search.worker import run_worker

    monkeypatch.delenv(ENV_VAR, raising=False)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _new_study(url, "fashion-mlp")
    run_worker(url, "fashion-mlp", 3, parse_pins([*TINY, "epochs=2"]))
    study, trials = _trials(url, "fashion-mlp")
    assert study.user_attrs[STUDY_ATTR] == str(tmp_path / "artifacts")
    store = open_store(tmp_path / "artifacts")
    best_so_far = float("inf")
    for trial in trials:
        image = _png(store, study._storage, trial, CURVES)
        assert image.format == "PNG" and image.size[0] > 300
        model_id = find_artifact(trial, study._storage, MODEL)
        if trial.value < best_so_far:  # a new best: its model is there and is the trial's model
            assert model_id, f"trial {trial.number} was the best so far but has no model"
            path = tmp_path / f"model-{trial.number}.keras"
            path.write_bytes(read_artifact(store, model_id))
            assert keras.saving.load_model(path).count_params() == trial.user_attrs["param_count"]
            best_so_far = trial.value
        else:
            assert model_id is None


def test_clock_trials_upload_predictions_that_the_report_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets.synth import synthesize
    from search.pins import parse_pins
    from search.report import write_report
    from search.worker import run_worker

    monkeypatch.delenv(ENV_VAR, raising=False)
    synthesize(tmp_path / "clock", 200, seed=3, style="clean")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _new_study(url, "clock")
    tiny = ["input_size=32", "conv_blocks=2", "filters=8", "dense_units=16", "batch_size=32", "epochs=1", "val_size=100"]
    run_worker(url, "clock", 1, parse_pins([*tiny, f"data_dir={tmp_path / 'clock'}"]))
    study, (trial,) = _trials(url, "clock")
    store = open_store(tmp_path / "artifacts")
    assert _png(store, study._storage, trial, CONTACT_SHEET).format == "PNG"
    with np.load(io.BytesIO(read_artifact(store, find_artifact(trial, study._storage, PREDICTIONS)))) as npz:
        n = len(npz["y_true"])
        assert n == len(npz["y_pred"]) == len(npz["error"]) > 0
        assert npz["error"].mean() == pytest.approx(trial.user_attrs["test_mean"], abs=1e-6)
        assert npz["worst_images"].shape == (min(16, n), 32, 32) and npz["worst_images"].dtype == np.uint8
        assert npz["error"][npz["worst_index"][0]] == npz["error"].max()

    out = tmp_path / "report.html"
    write_report(optuna.storages.RDBStorage(url), out, tmp_path / "artifacts", url)
    page = out.read_text()
    assert "common-sense error of every test photo" in page and "16 worst predictions" in page
    assert page.count('<img class="sheet"') == 2
