"""`report`: one offline HTML file over the studies of a storage; sections without data say so.

The studies here are built with Optuna alone (configs from the real search spaces, made-up
values), so these tests need neither TensorFlow nor data.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from conftest import cli
from search.report import write_report
from search.artifacts import PREDICTIONS, open_store, predictions_npz
from studies import get_family

SEED = 7


def search_study(url: str, family_name: str, values: list[float], *, name: str | None = None,
                 artifacts: Path | None = None, fail_only: bool = False) -> optuna.Study:
    """A study like the service makes: the reference as trial 0, then sampled configs."""
    family = get_family(family_name)
    study = optuna.create_study(study_name=name or family_name, storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("family", family_name)
    study.set_user_attr("objective", family.objective)
    study.enqueue_trial(family.reference_params, user_attrs={"reference": True})
    best = int(np.argmin(values)) if values else -1
    for i, value in enumerate(values or [0.5, 0.5]):
        trial = study.ask()
        config = family.full_config(family.space(trial), {}, seed=trial.number)
        trial.set_user_attr("config", config)
        if fail_only:
            trial.set_user_attr("fail_reason", "FloatingPointError: training loss became nan at epoch 1")
            study.tell(trial, state=TrialState.FAIL)
            continue
        if family.task == "clock":
            trial.set_user_attr("val_mean", value)
            trial.set_user_attr("test_mean", value * 1.1)
            if artifacts is not None and i == best:
                _upload_predictions(trial, artifacts)
        else:
            trial.set_user_attr("test_accuracy", 1.0 - value - 0.01)
        study.tell(trial, value)
    return study


def _upload_predictions(trial: optuna.Trial, folder: Path) -> None:
    rng = np.random.default_rng(0)
    true = rng.integers(0, 720, 60)
    pred = (true + rng.normal(0, 20, 60)) % 720
    images = rng.integers(0, 256, (60, 32, 32), dtype=np.uint8)
    path = folder.parent / PREDICTIONS
    path.write_bytes(predictions_npz(images, true, pred))
    optuna.artifacts.upload_artifact(artifact_store=open_store(folder), file_path=str(path), study_or_trial=trial)


def permutation_study(url: str) -> optuna.Study:
    study = optuna.create_study(study_name="permutation", storage=url)
    study.set_user_attr("kind", "permutation")
    for dataset in ("fashion", "mnist"):
        for model, acc in (("mlp", 0.88), ("cnn", 0.91)):
            for permute_seed, drop in ((None, 0.0), (SEED, 0.001 if model == "mlp" else 0.05)):
                for seed in range(3):
                    config = {"dataset": dataset, "model": model, "seed": seed, "permute_seed": permute_seed}
                    study.add_trial(optuna.trial.create_trial(value=0.1, user_attrs={
                        "config": config, "test_accuracy": acc - drop + 0.002 * seed, "data_source": f"{dataset} files"}))
    return study


@pytest.fixture
def full_storage(storage: str, tmp_path: Path) -> tuple[str, Path]:
    artifacts = tmp_path / "artifacts"
    # ten completed fashion-mlp trials (the first is the reference): enough for parameter importances
    search_study(storage, "fashion-mlp", [0.15, 0.12, 0.2, 0.14, 0.18, 0.16, 0.22, 0.13, 0.17, 0.19])
    search_study(storage, "fashion-cnn", [], fail_only=True)
    search_study(storage, "clock", [30.0, 12.0, 45.0, 20.0, 25.0], artifacts=artifacts)
    permutation_study(storage)
    return storage, artifacts


def _figure_titles(page: str) -> list[str]:
    return re.findall(r'"title":\{"text":"([^"]+)"', page)


def test_report_covers_every_kind_of_study(full_storage: tuple[str, Path], tmp_path: Path) -> None:
    url, artifacts = full_storage
    out = tmp_path / "report.html"
    summary = write_report(optuna.storages.RDBStorage(url), out, artifacts, url)
    page = out.read_text()
    assert summary.startswith("4 studies")
    # Self-contained: plotly.js inline, no script or stylesheet from the network.
    assert "plotly.js v" in page and not re.search(r'<script[^>]+src=', page)
    titles = " | ".join(_figure_titles(page))
    for wanted in ("Optimization History Plot", "Hyperparameter Importances", "Parallel Coordinate Plot",
                   "fashion-mlp: objective by categorical choice", "test accuracy: best trial vs reference network",
                   "test accuracy on original and permuted pixels", "clock: best mean error by head type",
                   "common-sense error of every test photo", "error against the true time"):
        assert wanted in titles, wanted
    # the box plots cover the categorical dimensions of each family
    for dim in ("initializer", "activation", "optimizer", "regularizer", "head"):
        assert f'"text":"{dim}"' in page
    # the clock study has 5 completed trials: too few to rank 20-odd parameters, and it says so
    assert "5 completed trial(s); importances are shown from 10 on" in page
    # the study with only failed trials says so, and the rest of the report is still there
    assert "Study fashion-cnn" in page and "No data: no completed trial to plot" in page
    # task one: the reference network is trial 0 of fashion-mlp
    assert "<td>fashion-mlp</td><td>#1</td><td>0.1200</td><td>0.8700</td><td>#0</td><td>0.1500</td>" in page
    # task two: the table has every cell
    for cell in ("<td>Fashion-MNIST</td><td>MLP</td><td>original</td><td>3</td>", "<td>MNIST</td><td>CNN</td><td>permuted</td><td>3</td>"):
        assert cell in page
    # clock: the best trial's predictions give the grids
    assert page.count('<img class="sheet"') == 2 and "16 worst predictions" in page
    assert "No data: no clock study" not in page


def test_storage_without_clock_or_permutation_study(storage: str, tmp_path: Path) -> None:
    search_study(storage, "mnist-cnn", [0.03, 0.02])
    out = tmp_path / "report.html"
    summary = write_report(optuna.storages.RDBStorage(storage), out, tmp_path / "none", storage)
    page = out.read_text()
    assert "No data: no clock study in this storage" in page
    assert "No data: no permutation study" in page
    assert "Optimization History Plot" in page and "mnist-cnn" in page
    assert "without data: task two, clock" in summary


def test_clock_study_without_stored_predictions_says_so(storage: str, tmp_path: Path) -> None:
    search_study(storage, "clock", [30.0, 12.0])
    out = tmp_path / "report.html"
    write_report(optuna.storages.RDBStorage(storage), out, tmp_path / "artifacts", storage)
    page = out.read_text()
    assert "clock: best mean error by head type" in page
    assert "has no stored predictions" in page and '<img class="sheet"' not in page


def test_a_single_trial_study_draws_what_it_can(storage: str, tmp_path: Path) -> None:
    search_study(storage, "fashion-mlp", [0.2])  # the reference and one more trial
    study = optuna.load_study(study_name="fashion-mlp", storage=storage)
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    out = tmp_path / "report.html"
    write_report(optuna.storages.RDBStorage(storage), out, tmp_path, storage)
    assert "Optimization History Plot" in out.read_text()


def test_report_command(full_storage: tuple[str, Path], tmp_path: Path) -> None:
    url, artifacts = full_storage
    out = tmp_path / "sub" / "report.html"
    result = cli("report", "--storage", url, "--out", str(out), "--artifact-dir", str(artifacts))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}: 4 studies" in result.stdout
    assert out.stat().st_size > 1_000_000  # plotly.js is inline


def test_report_on_a_missing_storage_is_a_user_error(tmp_path: Path) -> None:
    result = cli("report", "--storage", f"sqlite:///{tmp_path / 'nothing.db'}", "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2 and result.stderr.startswith("clockwork: error: no storage at")
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "nothing.db").exists()
