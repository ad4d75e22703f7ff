"""Error versus size: a 2-objective study runs, shows and exports its Pareto front, and nothing that
reads a trial's value or the best trial breaks on it."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from conftest import TINY, cli, pins
from search.cli import main


@pytest.fixture(scope="module")
def two_objectives(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, object]:
    from conftest import FASHION_DIR, require

    require((FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(), "Debian's dataset-fashion-mnist is not installed")
    tmp = tmp_path_factory.mktemp("mo")
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    done = cli("launch", "fashion-mlp", "--objectives", "error,params", "--workers", "2", "--trials", "5",
               "--storage", url, *pins(*TINY))
    return url, tmp, done


def test_the_launch_minimises_both_and_prints_the_pareto_front(two_objectives) -> None:
    url, _, done = two_objectives
    assert done.returncode == 0, done.stdout + done.stderr
    study = optuna.load_study(study_name="fashion-mlp", storage=url)
    assert len(study.directions) == 2 and study.user_attrs["objectives"] == ["error", "params"]
    assert study.metric_names == ["validation error (1 - accuracy)", "parameters"]
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 5 and all(t.values[1] == t.user_attrs["param_count"] for t in trials)
    assert not study.get_trials(states=(optuna.trial.TrialState.PRUNED,))  # nothing prunes a 2-objective study
    front = sorted(study.best_trials, key=lambda t: t.values[0])
    assert f"Pareto front (validation error, parameters), {len(front)} trial(s):" in done.stdout
    assert f"  #{front[0].number}: {front[0].values[0]:.4f}, {int(front[0].values[1]):,} parameters" in done.stdout
    status = cli("status", "fashion-mlp", "--storage", url)
    assert status.returncode == 0 and "Pareto front" in status.stdout


def test_export_pareto_writes_the_front_and_plain_export_is_unchanged(two_objectives) -> None:
    url, tmp, _ = two_objectives
    study = optuna.load_study(study_name="fashion-mlp", storage=url)
    assert cli("export", "fashion-mlp", "--pareto", "--out", str(tmp / "front.json"), "--storage", url).returncode == 0
    front = json.loads((tmp / "front.json").read_text())
    assert front["objectives"] == ["error", "params"] and front["pareto"] is True
    assert sorted(t["trial"] for t in front["trials"]) == sorted(t.number for t in study.best_trials)
    assert all(set(t["values"]) == {"error", "params"} and t["value"] == t["values"]["error"] for t in front["trials"])
    assert cli("export", "fashion-mlp", "--out", str(tmp / "best.json"), "--storage", url).returncode == 0
    best = json.loads((tmp / "best.json").read_text())["trials"]
    assert len(best) == 1 and best[0]["value"] == min(t.values[0] for t in study.best_trials)
    trained = cli("train", str(tmp / "front.json"), "--entry", "0", "--out", str(tmp / "model"))
    assert trained.returncode == 0, trained.stderr


def test_the_report_draws_the_pareto_front(two_objectives) -> None:
    url, tmp, _ = two_objectives
    done = cli("report", "--out", str(tmp / "report.html"), "--storage", url)
    assert done.returncode == 0, done.stderr
    page = (tmp / "report.html").read_text()
    assert "Pareto-front Plot" in page and "trial(s) on the Pareto front" in page


def test_what_a_two_objective_study_cannot_do_is_one_line(capsys, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["launch", "smoke", "--objectives", "error,seconds", "--sampler", "cmaes", "--workers", "0", "--storage", url]) == 2
    assert "the cmaes sampler is single-objective" in capsys.readouterr().err
    assert main(["launch", "smoke", "--objectives", "error,seconds", "--workers", "0", "--storage", url]) == 0
    assert main(["launch", "smoke", "--objectives", "error,params", "--workers", "0", "--storage", url]) == 2
    assert "minimises error,seconds; it cannot change to error,params" in capsys.readouterr().err
    assert main(["launch", "smoke", "--workers", "0", "--storage", url, "--study-name", "single"]) == 0
    from search.worker import run_worker

    run_worker(url, "single", 1, {})
    assert main(["export", "single", "--pareto", "--out", str(tmp_path / "x.json"), "--storage", url]) == 2
    assert "has one objective" in capsys.readouterr().err
