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


def _flat_trial(pruner: optuna.pruners.BasePruner, curve: list[float]) -> int | None:
    """The first trial of a study, alone at every epoch: the epoch (1-based) it is pruned at, or None."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    trial = study.ask()
    for step, value in enumerate(curve):
        trial.report(value, step)
        if trial.should_prune():
            return step + 1
    return None


@pytest.mark.parametrize("name", ["hyperband", "median"])
def test_a_trial_alone_at_chance_is_cut_after_the_familys_epochs(name: str) -> None:
    at_chance = [181.0] * 30
    assert _flat_trial(make_pruner(name, 60, min_epochs=8), at_chance) is None  # the control: no peer, no cut
    assert _flat_trial(make_pruner(name, 60, min_epochs=8, at_chance=(12, 162.0)), at_chance) == 12
    # a trial that left chance at epoch 10 goes on, and so does every trial under the "none" pruner
    late = [181.0] * 9 + [150.0 - e for e in range(21)]
    assert _flat_trial(make_pruner(name, 60, min_epochs=8, at_chance=(12, 162.0)), late) is None
    assert _flat_trial(make_pruner("none", 60, min_epochs=8, at_chance=(12, 162.0)), at_chance) is None


def test_the_clock_familys_pruner_keeps_hyperband_brackets() -> None:
    # Optuna's samplers sample within a trial's Hyperband bracket only when the study's pruner is one
    from studies import get_family

    clock = get_family("clock")
    assert isinstance(make_pruner(clock.pruner, 60, clock.min_epochs, clock.at_chance), optuna.pruners.HyperbandPruner)


def _pruned_seed(study: optuna.Study, best: float) -> tuple[optuna.Trial, bool]:
    """Ask the next queued trial (a seed), prune it with ``best`` as its best epoch, offer a restart."""
    from search.study import restart_stuck_seed
    from studies import get_family

    trial = study.ask()
    trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    trial.suggest_categorical("head", ["periodic", "multi"])
    restarted = restart_stuck_seed(trial, get_family("clock"), best)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return trial, restarted


def test_a_seed_pruned_at_chance_is_queued_once_more_under_another_training_seed() -> None:
    from search.study import restart_lines
    from storage import attrs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize")
    seed = {"learning_rate": 0.003, "head": "periodic"}
    study.enqueue_trial(seed, user_attrs={attrs.SEED: True})
    first, restarted = _pruned_seed(study, 173.2)  # the clock family's chance level is 162
    assert restarted
    (copy,) = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert copy.number != first.number  # a new trial: another training seed (a trial's seed is its number)
    assert copy.user_attrs == {attrs.SEED: True, attrs.RESTART_OF: first.number}
    again, restarted = _pruned_seed(study, 175.0)  # the copy stays at chance too: no third try
    assert again.number == copy.number and again.params == seed and not restarted
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert restart_lines(study) == [
        f"trial #{first.number}, a seed, was pruned at chance after None epochs; trial #{copy.number} is it again "
        "under another training seed (pruned)"
    ]


def test_only_a_seed_still_at_chance_is_queued_again() -> None:
    from storage import attrs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize")
    study.enqueue_trial({"learning_rate": 0.003, "head": "periodic"}, user_attrs={attrs.SEED: True})
    study.enqueue_trial({"learning_rate": 0.001, "head": "multi"}, user_attrs={attrs.REFERENCE: True})
    study.enqueue_trial({"learning_rate": 0.002, "head": "multi"})  # a queued trial that is not a seed
    assert not _pruned_seed(study, 120.0)[1]  # a seed that left chance and was cut by its peers
    assert not _pruned_seed(study, 180.0)[1]  # the reference: a measurement, not restarted
    assert not _pruned_seed(study, 180.0)[1]
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))
