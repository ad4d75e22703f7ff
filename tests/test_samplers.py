"""Choosing the sampler, reproducing a search from its seed, and warm-starting from earlier results."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from conftest import cli


def _launch(url: str, *args: str) -> None:
    result = cli("launch", "smoke", "--workers", "1", "--storage", url, *args)
    assert result.returncode == 0, result.stderr[-2000:]


def _xs(url: str, name: str = "smoke") -> list[float]:
    study = optuna.load_study(study_name=name, storage=url)
    return [t.params["x"] for t in study.trials]


@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc", "cmaes"])
def test_a_seeded_search_samples_the_same_trials_again(sampler: str, tmp_path: Path) -> None:
    first, second = (f"sqlite:///{tmp_path / f'{i}.db'}" for i in (1, 2))
    for url in (first, second):
        _launch(url, "--trials", "8", "--sampler", sampler, "--sampler-seed", "5")
    assert _xs(first) == _xs(second) and len(set(_xs(first))) > 4
    study = optuna.load_study(study_name="smoke", storage=first)
    assert study.user_attrs["sampler"] == sampler and study.user_attrs["sampler_seed"] == 5


def test_an_unseeded_search_samples_differently(tmp_path: Path) -> None:
    first, second = (f"sqlite:///{tmp_path / f'{i}.db'}" for i in (1, 2))
    for url in (first, second):
        _launch(url, "--trials", "5")
    assert _xs(first)[1:] != _xs(second)[1:]  # trial 0 is the enqueued reference in both


def test_the_gp_sampler_without_pytorch_is_one_clear_line(storage: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        result = cli("launch", "smoke", "--workers", "1", "--trials", "2", "--sampler", "gp", "--storage", storage)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == ["clockwork: error: the gp sampler needs PyTorch, which is not installed: pip install torch"]
        return
    pytest.skip("PyTorch is installed here: the gp sampler runs")


def test_warm_start_enqueues_the_best_trials_of_a_study_or_an_export_file(storage: str, tmp_path: Path) -> None:
    _launch(storage, "--trials", "6", "--sampler-seed", "1")
    earlier = optuna.load_study(study_name="smoke", storage=storage)
    best = sorted(earlier.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.value)[:3]
    # A configuration the new study already queues (its reference, x = 0) is not queued twice.
    expected = [t.params["x"] for t in best if t.params["x"] != 0.0]
    _launch(storage, "--study-name", "again", "--trials", "4", "--warm-start", "smoke")
    again = optuna.load_study(study_name="again", storage=storage)
    warm = [t for t in again.trials if t.user_attrs.get("warm_start") == "smoke"]
    assert [t.params["x"] for t in warm] == expected and [t.number for t in warm] == list(range(1, len(expected) + 1))

    out = tmp_path / "best.json"
    assert cli("export", "smoke", "--top", "2", "--out", str(out), "--storage", storage).returncode == 0
    assert [e["params"]["x"] for e in json.loads(out.read_text())["trials"]] == [t.params["x"] for t in best[:2]]
    _launch(storage, "--study-name", "from-file", "--trials", "3", "--warm-start", str(out))
    from_file = optuna.load_study(study_name="from-file", storage=storage)
    warm = [t.params["x"] for t in from_file.trials if t.user_attrs.get("warm_start") == str(out)]
    assert warm == [x for x in (t.params["x"] for t in best[:2]) if x != 0.0]


def test_warm_start_from_a_study_that_is_not_there_is_one_clear_line(storage: str) -> None:
    result = cli("launch", "smoke", "--workers", "0", "--warm-start", "nope", "--storage", storage)
    assert result.returncode == 2 and result.stderr.startswith("clockwork: error: --warm-start nope: not an export file")
    assert not Path(storage.removeprefix("sqlite:///")).exists()  # rejected before the study was created
