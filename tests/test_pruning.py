"""A family's ``min_epochs``: no trial is pruned before it, whatever it reports."""

from __future__ import annotations

import optuna
import pytest

from search.study import make_pruner


def _pruned_steps(pruner: optuna.pruners.BasePruner, epochs: int = 20) -> list[int]:
    """40 trials, every other one hopeless (180 every epoch): the epochs at which trials were cut."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    cuts = []
    for i in range(40):
        trial, hopeless = study.ask(), i % 2 == 1
        for step in range(epochs):
            trial.report(180.0 if hopeless else 100.0 - step, step)
            if trial.should_prune():
                cuts.append(step)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, 180.0 if hopeless else 100.0 - epochs)
    return cuts


@pytest.mark.parametrize("name", ["hyperband", "median"])
def test_no_trial_is_pruned_before_min_epochs(name: str) -> None:
    default = _pruned_steps(make_pruner(name, 20))
    assert default and min(default) < 5  # the control: hopeless trials are cut early by default
    later = _pruned_steps(make_pruner(name, 20, min_epochs=5))
    assert len(later) >= 10 and min(later) >= 5  # still cut, but never before epoch 5


def test_a_budget_shorter_than_min_epochs_runs_unpruned() -> None:
    # `--set epochs=2` on a family with min_epochs=5: the pruner builds, and judges no one early
    assert _pruned_steps(make_pruner("hyperband", 2, min_epochs=5), epochs=2) == []
    assert _pruned_steps(make_pruner("hyperband", 2, min_epochs=1), epochs=2)  # the control
