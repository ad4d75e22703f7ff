"""The launcher's closing summary: each objective in its unit."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from search.launcher import print_summary


def _study(*trials: tuple[float, dict], family: str = "fashion-mlp") -> optuna.Study:
    study = optuna.create_study(study_name="s", direction="minimize")
    study.set_user_attr("family", family)  # the family's task words the summary
    for value, attrs in trials:
        study.add_trial(optuna.trial.create_trial(
            params={"head": "multi"}, distributions={"head": CategoricalDistribution(["multi"])},
            value=value, user_attrs={"epochs": 6, "param_count": 10, "config": {}, **attrs},
        ))
    return study


def test_clock_summary_speaks_minutes(capsys: pytest.CaptureFixture[str]) -> None:
    clock = {"val_mean": 0.0, "test_mean": 159.52, "test_median": 151.85}
    print_summary(_study((172.06, {**clock, "reference": True}), (161.137, clock), family="clock"))
    out = capsys.readouterr().out
    assert "best trial #1: validation error 161.14 min, test error 159.52 min mean, 151.85 median" in out
    assert "reference network (trial #0): validation error 172.06 min" in out


def test_classifier_summary_keeps_the_error_rate(capsys: pytest.CaptureFixture[str]) -> None:
    print_summary(_study((0.12184, {"test_accuracy": 0.8689})))
    assert "best trial #0: validation error 0.1218, test accuracy 0.8689" in capsys.readouterr().out


def test_when_every_sampled_trial_was_pruned_the_best_of_them_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    study = _study((50.0, {"val_mean": 0.0, "test_mean": 52.0, "test_median": 40.0, "seed": True}), family="clock")
    for number, error in ((1, 170.5), (2, 120.25)):
        study.add_trial(optuna.trial.create_trial(
            params={"head": "multi"}, distributions={"head": CategoricalDistribution(["multi"])},
            state=optuna.trial.TrialState.PRUNED, intermediate_values={5: error},
            user_attrs={"epochs": 5, "val_error": error, "test_mean": error, "test_median": error},
        ))
    print_summary(study)
    out = capsys.readouterr().out
    assert "best sampled trial #2 (pruned after 5 epochs): validation error 120.25 min, test error 120.25 min mean" in out


def test_a_pruned_reference_is_shown_as_far_as_it_got(capsys: pytest.CaptureFixture[str]) -> None:
    # make demo's reference is usually pruned at chance: the summary still names it beside the best
    study = _study((30.0, {"val_mean": 0.0, "test_mean": 31.0, "test_median": 4.0, "seed": True}), family="clock")
    study.add_trial(optuna.trial.create_trial(
        params={"head": "multi"}, distributions={"head": CategoricalDistribution(["multi"])},
        state=optuna.trial.TrialState.PRUNED, intermediate_values={8: 173.94},
        user_attrs={"epochs": 9, "val_error": 173.94, "reference": True},
    ))
    print_summary(study)
    assert "reference network (trial #1, pruned after 9 epochs): validation error 173.94 min" in capsys.readouterr().out


def test_a_search_whose_enqueued_trials_took_the_time_says_no_sampled_trial_ran(capsys: pytest.CaptureFixture[str]) -> None:
    # A 30-minute clock search on 2 cores: the seed and the reference train until the deadline.
    seed = {"val_mean": 0.0, "test_mean": 9.36, "test_median": 1.16, "seed": True, "ended_by": "deadline"}
    print_summary(_study((17.43, {"reference": True, "ended_by": "deadline"}), (8.51, seed), family="clock"))
    out = capsys.readouterr().out
    assert "no sampled trial finished: the enqueued trials trained until the deadline" in out
    assert "reference network (trial #0): validation error 17.43 min" in out
    # without a deadline nothing is said: a launch of --trials 2 simply asked for no sampled trial
    print_summary(_study((17.43, {"reference": True}), (8.51, {**seed, "ended_by": None}), family="clock"))
    assert "no sampled trial" not in capsys.readouterr().out
