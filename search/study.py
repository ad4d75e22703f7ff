"""Creating and opening studies with the service's sampler, pruner and bookkeeping.

A study records its family and pruner as study user attributes, so every worker (on any
machine) builds the same objective and pruner from the study name alone.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from search.artifacts import default_artifact_dir
from search.errors import UserError
from search.version import project_version
from storage import Location, attrs, open_storage
from studies import StudyFamily, get_family

log = logging.getLogger(__name__)

PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random", "qmc", "cmaes", "gp")


# Budget keys a study keeps from its creation when its family's defaults change later.
KEPT_BUDGET = ("epochs", "trial_timeout")
# How a clock study builds and reads its models, recorded as study attributes (of the same names)
# when a study is created, and what a study created before each key existed does: a resumed study
# reads photos, builds its alignment stage and reads the hands' angle as its earlier trials did.
RECORDED = {attrs.READ_TURNS: 1, attrs.ALIGN_STAGE: 1, attrs.GAP_READ: 0.0}


def kept_budget(study: optuna.Study) -> dict[str, Any]:
    """The epochs and time limit the study's trials train for when nothing is pinned: those its
    family gave when the study was created, so that resuming it after the family's budget changed
    (the clock family's went from 30 epochs to 60 or 25 minutes) does not mix two budgets in one
    study, nor change its pruner's rungs. A study older than the attribute: its trials' own."""
    kept = study.user_attrs.get(attrs.BUDGET)
    if kept is not None:
        return dict(kept)
    for trial in study.get_trials(deepcopy=False):
        config = trial.user_attrs.get(attrs.CONFIG)
        if config and "epochs" in config:
            return {k: config.get(k) for k in KEPT_BUDGET}
    return {}


def _refuse_changed_choices(study: optuna.Study, family: StudyFamily) -> None:
    """A study whose trials chose from other categorical choices than the family's space now
    offers cannot be resumed: Optuna refuses every new trial of it. Say so once, here."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created in memory" line
    try:
        probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    finally:
        optuna.logging.set_verbosity(verbosity)
    now: dict[str, tuple[Any, ...]] = {}
    for _ in range(64):  # enough draws to reach every conditional branch of the built-in spaces
        trial = probe.ask()
        family.space(trial)
        now.update({k: tuple(d.choices) for k, d in trial.distributions.items() if isinstance(d, CategoricalDistribution)})
    for trial in study.get_trials(deepcopy=False):
        for key, dist in trial.distributions.items():
            if isinstance(dist, CategoricalDistribution) and key in now and tuple(dist.choices) != now[key]:
                then, choices = ", ".join(map(str, dist.choices)), ", ".join(map(str, now[key]))
                raise UserError(
                    f"study {study.study_name!r} was created with another {family.name} search space ({key}: {then} "
                    f"then, {choices} now): launch with a new --study-name, or resume it with the Clockwork that created it"
                )


class _AtChance:
    """Prunes a trial whose best value is still at chance after ``after`` epochs, whatever the
    pruner it is mixed into would say; otherwise that pruner judges.

    Hyperband and the median rule compare a trial with others at its epoch, so a trial with no
    peer there (one of two enqueued trials, say) is never cut however flat its curve: in a clock
    search one sat at chance for all 52 epochs of its 25 minutes, half the search's CPU.
    """

    after: int = 0
    ceiling: float = math.inf

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        values = trial.intermediate_values
        if self.after and len(values) >= self.after and min(values.values()) >= self.ceiling:
            return True
        return super().prune(study, trial)  # type: ignore[misc]


# Subclasses, not wrappers: Optuna's samplers look for a HyperbandPruner on the study to sample
# within a trial's bracket.
class _HyperbandAtChance(_AtChance, optuna.pruners.HyperbandPruner):
    pass


class _MedianAtChance(_AtChance, optuna.pruners.MedianPruner):
    pass


def make_pruner(
    name: str, epochs: int, min_epochs: int = 1, at_chance: tuple[int, float] | None = None
) -> optuna.pruners.BasePruner:
    """The pruner ``name`` for trials of ``epochs`` epochs, judging none before ``min_epochs``.

    ``at_chance`` = (epochs, ceiling): a trial whose best value is still at or above ``ceiling``
    after that many epochs is pruned too, with or without peers (a minimised objective's chance
    level; see :class:`_AtChance`). The ``none`` pruner prunes nothing, this included.
    """
    first = max(1, min(min_epochs, epochs))
    if name == "median":
        pruner: optuna.pruners.BasePruner = _MedianAtChance(n_startup_trials=5, n_warmup_steps=first)
    elif name == "hyperband":
        pruner = _HyperbandAtChance(min_resource=first, max_resource=max(epochs, 1), reduction_factor=3)
    elif name == "none":
        return optuna.pruners.NopPruner()
    else:
        raise UserError(f"unknown pruner {name!r}; choose from {', '.join(PRUNERS)}")
    if at_chance is not None:
        pruner.after, pruner.ceiling = int(at_chance[0]), float(at_chance[1])  # type: ignore[attr-defined]
    return pruner


def make_sampler(name: str = "tpe", seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler ``name``, seeded with ``seed`` (None: from the system's entropy).

    ``tpe`` (the default) is multivariate with ``group=True``, so conditional dimensions (momentum
    only for SGD with momentum, a head's own keys) get their own groups instead of being dropped,
    and uses the constant liar so parallel workers do not all sample next to the same running
    trial. ``cmaes`` and ``gp`` handle only the dimensions every trial has: they hand the
    conditional ones to an independent random sampler.
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401  Optuna's GP sampler runs on PyTorch
        except ImportError:
            raise UserError("the gp sampler needs PyTorch, which is not installed: pip install torch") from None
        return optuna.samplers.GPSampler(seed=seed)
    raise UserError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")


# The second objective a study may minimise beside the error, and its name in the dashboard.
SECOND_OBJECTIVES = {"params": "parameters", "seconds": "training seconds"}
OBJECTIVE_CHOICES = ("error", *(f"error,{k}" for k in SECOND_OBJECTIVES))


def parse_objectives(text: str) -> list[str]:
    """``error`` or ``error,params`` / ``error,seconds`` -> the list a study records."""
    names = [p.strip() for p in text.split(",")]
    if text not in OBJECTIVE_CHOICES:
        raise UserError(f"--objectives {text}: expected one of {', '.join(OBJECTIVE_CHOICES)}")
    return names


def objectives_of(study: optuna.Study) -> list[str]:
    """What a study minimises: ``["error"]``, or the error and a second objective."""
    return list(study.user_attrs.get(attrs.OBJECTIVES, ["error"]))


def error_of(trial: optuna.trial.FrozenTrial) -> float | None:
    """A trial's error: its value, or a multi-objective trial's first value."""
    return trial.values[0] if trial.values else None


def create_study(
    url: str | Location,
    name: str,
    family: StudyFamily,
    pruner: str,
    sampler: str | None = None,
    sampler_seed: int | None = None,
    data: str | None = None,
    objectives: list[str] | None = None,
) -> optuna.Study:
    """Create ``name`` (or open it if it exists) and enqueue the reference network as trial 0.

    The family, pruner, sampler and its seed are recorded as study attributes: every worker, on
    any machine, builds the same ones from the study name alone, and a resumed study keeps them.
    So are the Clockwork version and ``data``, the fingerprint of the data (a resumed study whose
    data changed says so). The dashboard names the objective after the family's.
    """
    storage = open_storage(url)
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if name in existing:
        stored_family = existing[name].user_attrs.get(attrs.FAMILY)
        if stored_family != family.name:
            raise UserError(f"study {name!r} exists with family {stored_family!r}, not {family.name!r}")
        stored_sha = existing[name].user_attrs.get(attrs.FAMILY_SHA256)
        if family.sha256 and stored_sha and stored_sha != family.sha256:
            raise UserError(
                f"study {name!r} was created from another version of {family.source} (sha256 {stored_sha[:12]}... then, "
                f"{family.sha256[:12]}... now): restore that version, or launch with a new --study-name"
            )
        study = optuna.load_study(study_name=name, storage=storage)
        if not family.sha256:  # a family file's changes are caught by its sha256 above
            _refuse_changed_choices(study, family)
        # None: not asked for. A study made before samplers were chosen used an unseeded TPE.
        stored = {attrs.PRUNER: None, attrs.SAMPLER: "tpe", attrs.SAMPLER_SEED: None}
        stored.update({k: study.user_attrs[k] for k in stored if k in study.user_attrs})
        for key, asked in ((attrs.PRUNER, pruner), (attrs.SAMPLER, sampler), (attrs.SAMPLER_SEED, sampler_seed)):
            if asked is not None and asked != stored[key]:
                log.warning("study %s keeps the %s it was created with: %s", name, key.replace("_", " "), stored[key])
        if objectives is not None and objectives != objectives_of(study):
            raise UserError(f"study {name!r} minimises {','.join(objectives_of(study))}; it cannot change to {','.join(objectives)}")
        recorded = study.user_attrs.get(attrs.DATA_FINGERPRINT)
        if data and recorded and data.split()[0] != recorded.split()[0]:
            log.warning("study %s was created on other data (%s); now: %s", name, recorded, data)
        return study
    objectives = objectives or ["error"]
    if len(objectives) > 1:
        if sampler == "cmaes":
            raise UserError("the cmaes sampler is single-objective; with --objectives use tpe, random, qmc or gp")
        if pruner != "none":
            log.info("a multi-objective study prunes nothing: Optuna's pruners judge one objective")
            pruner = "none"
    study = optuna.create_study(study_name=name, storage=storage, directions=["minimize"] * len(objectives))
    study.set_user_attr(attrs.FAMILY, family.name)
    study.set_user_attr(attrs.OBJECTIVES, objectives)
    if family.sha256:
        study.set_user_attr(attrs.FAMILY_SHA256, family.sha256)
    study.set_user_attr(attrs.PRUNER, pruner)
    sampler = sampler or "tpe"
    make_sampler(sampler, sampler_seed)  # an unusable sampler (gp without PyTorch) fails here, not in N workers
    study.set_user_attr(attrs.SAMPLER, sampler)
    study.set_user_attr(attrs.SAMPLER_SEED, sampler_seed)
    study.set_user_attr(attrs.OBJECTIVE, family.objective)
    # optuna-dashboard's names for the values ("Objective 0" without them)
    study.set_metric_names([family.objective, *(SECOND_OBJECTIVES[k] for k in objectives[1:])])
    study.set_user_attr(attrs.PROJECT_VERSION, project_version())
    study.set_user_attr(attrs.DATA_FINGERPRINT, data)
    study.set_user_attr(attrs.SCORING, attrs.BEST_EPOCH_SCORING)
    study.set_user_attr(attrs.BUDGET, {k: family.budget_defaults()[k] for k in KEPT_BUDGET})
    for key in RECORDED:
        if key in family.budget_defaults():
            study.set_user_attr(key, family.budget_defaults()[key])
    study.set_user_attr(attrs.ARTIFACT_DIR, str(default_artifact_dir(url)))  # workers upload where the dashboard looks
    study.enqueue_trial(family.reference_params, user_attrs={attrs.REFERENCE: True})
    for params in family.seeds:
        study.enqueue_trial(params, user_attrs={attrs.SEED: True})
    log.info(
        "created study %s (family %s, pruner %s) with the reference network as trial 0%s",
        name, family.name, pruner, f" and {len(family.seeds)} seed(s) after it" if family.seeds else "",
    )
    return study


def worker_sampler(study: optuna.Study, index: int) -> optuna.samplers.BaseSampler:
    """The study's sampler for worker ``index``: seeded with the study's sampler seed plus the index,
    so a launch with a seed samples the same trials again (exactly so with one worker)."""
    seed = study.user_attrs.get(attrs.SAMPLER_SEED)
    return make_sampler(study.user_attrs.get(attrs.SAMPLER, "tpe"), None if seed is None else int(seed) + index)


def warm_start_params(source: str, location: str | Location, family: StudyFamily, top: int = 3) -> list[dict[str, Any]]:
    """The parameters of the best ``top`` trials of ``source``, checked against ``family``'s schema.

    ``source`` is a study in the same storage, or an export file (``export --out FILE``). Keys the
    family does not have are dropped (a warm start may cross families); read before the new study
    is created, so a bad source leaves nothing behind.
    """
    path = Path(source)
    if path.suffix == ".json" or path.is_file():
        from storage.export import ExportError, read_export

        try:
            entries = read_export(path)[:top]
        except ExportError as exc:
            raise UserError(str(exc)) from None
        params = [e.get("params") for e in entries]
        if not all(isinstance(p, dict) for p in params):
            raise UserError(f"{path} has no trial parameters to start from (export it again with this version)")
    else:
        from storage import StorageError

        try:
            earlier = open_study(location, source, heartbeat=False)
        except (StorageError, UserError) as exc:
            raise UserError(f"--warm-start {source}: not an export file, and {exc}") from None
        done = sorted(earlier.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=error_of)
        if not done:
            raise UserError(f"study {source!r} has no completed trial to start from")
        params = [t.params for t in done[:top]]
    from search.pins import check_pins, known_keys

    known = known_keys(family)
    params = [{k: v for k, v in p.items() if k in known} for p in params]
    for p in params:
        try:
            check_pins(family, p)
        except UserError as exc:
            raise UserError(f"--warm-start {source}: {str(exc).removeprefix('--set ')}") from None
    return params


def warm_start(study: optuna.Study, source: str, params: list[dict[str, Any]]) -> int:
    """Enqueue ``params`` (from :func:`warm_start_params`) into ``study``; return how many."""
    for p in params:
        study.enqueue_trial(p, user_attrs={attrs.SEED: True, attrs.WARM_START: source}, skip_if_exists=True)
    log.info("enqueued the best %d trial(s) of %s into study %s", len(params), source, study.study_name)
    return len(params)


REPEATED_FAILURES = 3  # this many trials in a row failing with one error stop a launch


def restart_stuck_seed(trial: optuna.Trial, family: StudyFamily | None, best: float) -> bool:
    """Queue an enqueued seed once more when it was pruned still at chance; whether it was.

    Whether a clock run leaves chance at all, and when, depends on its training seed and on small
    changes to its schedule (BENCHMARKS.md, "Which clock runs leave chance" and "A seed that stayed
    at chance"), and a short search leans on its seed: one pruned at chance leaves it to the
    reference. The copy is a new trial, so it trains under another training seed (a trial's
    ``seed`` is its number), and Optuna hands queued trials out before sampling new ones. Once per
    seed: a copy that stays at chance is not queued again. Only families with an ``at_chance``
    level, and only seeds whose best epoch is at or above it.
    """
    if family is None or family.at_chance is None or best < family.at_chance[1]:
        return False
    marks = trial.user_attrs
    if not marks.get(attrs.SEED) or marks.get(attrs.RESTART_OF) is not None:
        return False
    user_attrs: dict[str, Any] = {attrs.SEED: True, attrs.RESTART_OF: trial.number}
    if marks.get(attrs.WARM_START):
        user_attrs[attrs.WARM_START] = marks[attrs.WARM_START]
    trial.study.enqueue_trial(trial.params, user_attrs=user_attrs)
    log.warning(
        "trial %d, a seed, was pruned still at chance (best %.2f): queued again as a new trial, under another training seed",
        trial.number, best,
    )
    return True


def restart_lines(study: Any) -> list[str]:
    """``trial #1, a seed, was pruned at chance after 9 epochs; trial #3 is it again, ...``."""
    trials = study.get_trials(deepcopy=False)
    lines = []
    for copy in (t for t in trials if t.user_attrs.get(attrs.RESTART_OF) is not None):
        first = trials[copy.user_attrs[attrs.RESTART_OF]]
        lines.append(
            f"trial #{first.number}, a seed, was pruned at chance after {first.user_attrs.get(attrs.EPOCHS)} epochs; "
            f"trial #{copy.number} is it again under another training seed ({copy.state.name.lower()})"
        )
    return lines


def repeated_failure(study: optuna.Study, count: int = REPEATED_FAILURES) -> str | None:
    """The error of the last ``count`` finished trials when they all failed with that same error.

    Only a trial's own error counts (``attrs.ERROR``): a budget race lost behind the gRPC proxy,
    a trial stopped by a signal or a killed worker's trial ended by heartbeat are skipped, and a
    trial ended by a time limit is COMPLETE. A complete or pruned trial breaks the run.
    """
    finished = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
        if t.state != TrialState.FAIL or t.user_attrs.get(attrs.ERROR)
    ]
    finished.sort(key=lambda t: (t.datetime_complete is None, t.datetime_complete, t.number))
    last = finished[-count:]
    errors = {t.user_attrs.get(attrs.ERROR) for t in last}
    if len(last) == count and len(errors) == 1 and None not in errors:
        return errors.pop()
    return None


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
    return get_family(name, study.user_attrs.get(attrs.FAMILY_SHA256))


def state_counts(study: optuna.Study) -> Counter[str]:
    trials = study.get_trials(deepcopy=False)
    return Counter(t.state.name for t in trials)


def finished_count(counts: Counter[str]) -> int:
    return counts["COMPLETE"] + counts["PRUNED"]


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The completed trial of lowest error (a multi-objective study's too: its Pareto front is
    :func:`pareto_front`)."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    return min(complete, key=error_of) if complete else None


def pareto_front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials no other beats on every objective, by error; a single-objective study's best."""
    if len(objectives_of(study)) == 1:
        best = best_trial(study)
        return [best] if best else []
    return sorted(study.best_trials, key=error_of)
