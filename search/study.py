"""Creating and opening studies with the service's sampler, pruner and bookkeeping.

A study records its family and pruner as study user attributes, so every worker (on any
machine) builds the same objective and pruner from the study name alone.
"""

from __future__ import annotations

import logging
from collections import Counter

import optuna
from optuna.trial import TrialState

from search.artifacts import default_artifact_dir
from search.errors import UserError
from storage import Location, attrs, open_storage
from studies import StudyFamily, get_family

log = logging.getLogger(__name__)

PRUNERS = ("median", "hyperband", "none")


def make_pruner(name: str, epochs: int, min_epochs: int = 1) -> optuna.pruners.BasePruner:
    """The pruner ``name`` for trials of ``epochs`` epochs, judging none before ``min_epochs``."""
    first = max(1, min(min_epochs, epochs))
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=first)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first, max_resource=max(epochs, 1), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"unknown pruner {name!r}; choose from {', '.join(PRUNERS)}")


def make_sampler(seed: int | None = None) -> optuna.samplers.BaseSampler:
    # group=True: conditional dimensions (momentum only for SGD with momentum) get their own
    # multivariate groups instead of being dropped.
    return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)


def create_study(url: str | Location, name: str, family: StudyFamily, pruner: str) -> optuna.Study:
    """Create ``name`` (or open it if it exists) and enqueue the reference network as trial 0."""
    storage = open_storage(url)
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if name in existing:
        stored_family = existing[name].user_attrs.get(attrs.FAMILY)
        if stored_family != family.name:
            raise UserError(f"study {name!r} exists with family {stored_family!r}, not {family.name!r}")
        study = optuna.load_study(study_name=name, storage=storage)
        stored_pruner = study.user_attrs.get(attrs.PRUNER)
        if stored_pruner != pruner:
            log.warning("study %s keeps the pruner it was created with: %s", name, stored_pruner)
        return study
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    study.set_user_attr(attrs.FAMILY, family.name)
    study.set_user_attr(attrs.PRUNER, pruner)
    study.set_user_attr(attrs.OBJECTIVE, family.objective)
    study.set_user_attr(attrs.SCORING, attrs.BEST_EPOCH_SCORING)
    study.set_user_attr(attrs.ARTIFACT_DIR, str(default_artifact_dir(url)))  # workers upload where the dashboard looks
    study.enqueue_trial(family.reference_params, user_attrs={attrs.REFERENCE: True})
    for params in family.seeds:
        study.enqueue_trial(params, user_attrs={attrs.SEED: True})
    log.info(
        "created study %s (family %s, pruner %s) with the reference network as trial 0%s",
        name, family.name, pruner, f" and {len(family.seeds)} seed(s) after it" if family.seeds else "",
    )
    return study


def open_study(url: str | Location, name: str, *, heartbeat: bool = True) -> optuna.Study:
    """Open an existing study; a clear error lists the stored ones when ``name`` is not there."""
    storage = open_storage(url, heartbeat=heartbeat, create=False)
    names = optuna.get_all_study_names(storage)
    if name not in names:
        stored = ", ".join(names) if names else "none"
        raise UserError(f"no study named {name!r} in {url} (stored studies: {stored})")
    return optuna.load_study(study_name=name, storage=storage)


def family_of(study: optuna.Study) -> StudyFamily:
    name = study.user_attrs.get(attrs.FAMILY)
    if name is None:
        raise UserError(f"study {study.study_name!r} was not created by clockwork (no family recorded)")
    return get_family(name)


def state_counts(study: optuna.Study) -> Counter[str]:
    trials = study.get_trials(deepcopy=False)
    return Counter(t.state.name for t in trials)


def finished_count(counts: Counter[str]) -> int:
    return counts["COMPLETE"] + counts["PRUNED"]


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=lambda t: t.value) if complete else None
