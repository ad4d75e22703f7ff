"""Task two: the best task-one networks retrained on pixel-permuted images.

For each task-one study (fashion-mlp, fashion-cnn, mnist-mlp, mnist-cnn) the best completed
trial's config is taken (the reference network when the study has none), and trained with
``seeds`` seeds on the original images and on the images with every pixel moved by one fixed
permutation (``permute_seed``, :mod:`datasets.permute`). Every run is an enqueued trial of the
study ``permutation``, so the dashboard shows them with their learning curves; the table is
dataset x network x {original, permuted}: test accuracy mean and standard deviation.

Runs already in the study with the same config are reused, so a second call with the same
options only prints the table again, and an interrupted call resumes.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from datasets import DataError, load_images
from datasets.permute import pixel_permutation
from search.errors import UserError
from search.objective import Objective
from storage import Location, attrs, open_storage
from storage.export import export_study
from studies import BUDGET_DEFAULTS, TASK_ONE, get_family

log = logging.getLogger(__name__)

STUDY = "permutation"
DEFAULT_PERMUTE_SEED = 1234
CONDITIONS = ("original", "permuted")
# Pins with their own option or set by the command itself.
RESERVED = ("seed", "permute_seed", "data_dir", "dataset", "family", "model")


@dataclass(frozen=True)
class Source:
    """Where a network's config came from: a study's best trial or the reference network."""

    study: str
    dataset: str
    network: str
    config: dict[str, Any]
    trial: int | None  # None: the reference network (the study has no completed trial)

    @property
    def origin(self) -> str:
        return f"{self.study} trial #{self.trial}" if self.trial is not None else f"{self.study} reference network (no completed trial)"


def source_configs(url: str | Location, studies: tuple[str, ...] = TASK_ONE) -> list[Source]:
    """The best exported config of each task-one study, or its family's reference network."""
    storage = open_storage(url, heartbeat=False)
    names = set(optuna.get_all_study_names(storage))
    out = []
    for name in studies:
        family = get_family(name)
        config, number = None, None
        if name in names:
            study = optuna.load_study(study_name=name, storage=storage)
            done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if attrs.CONFIG in t.user_attrs]
            if done:
                best = export_study(study, 1, str(url))["trials"][0]
                config, number = dict(best["config"]), best["trial"]
        if config is None:
            config = family.full_config(family.reference, {}, seed=0)
        out.append(Source(name, family.dataset, config["model"], config, number))
    return out


def apply_pins(sources: list[Source], pins: dict[str, Any]) -> list[Source]:
    """Budget keys pin every config; any other key pins the configs that have it (``stem_filters``: CNNs)."""
    for key in pins:
        if key in RESERVED:
            raise UserError(f"--set {key}: set by the permutation command itself (see --seeds, --permute-seed, --data-dir-mnist)")
        if key not in BUDGET_DEFAULTS and not any(key in s.config for s in sources):
            known = sorted(set().union(*(s.config for s in sources)) - set(RESERVED))
            raise UserError(f"--set {key}: no network's config has this key; known keys: {', '.join(known)}")
    pinned = []
    for s in sources:
        config = dict(s.config)
        config.update({k: v for k, v in pins.items() if k in BUDGET_DEFAULTS or k in s.config})
        pinned.append(Source(s.study, s.dataset, s.network, config, s.trial))
    return pinned


def plan_runs(sources: list[Source], seeds: int, permute_seed: int) -> list[dict[str, Any]]:
    """One config per source x condition x seed, ready to train."""
    runs = []
    for s in sources:
        for condition in CONDITIONS:
            for seed in range(seeds):
                config = {**s.config, "seed": seed, "permute_seed": permute_seed if condition == "permuted" else None}
                runs.append({"config": config, "source": s.origin, "dataset": s.dataset, "network": s.network, "condition": condition})
    return runs


def check_datasets(sources: list[Source], data_dirs: dict[str, str | None]) -> tuple[list[Source], list[str]]:
    """Sources whose data loads offline, with their ``data_dir`` set; and a line per skipped dataset."""
    kept, skipped, seen = [], [], {}
    for s in sources:
        data_dir = data_dirs.get(s.dataset) or s.config.get("data_dir")
        if s.dataset not in seen:
            try:
                seen[s.dataset] = load_images(s.dataset, data_dir).source
            except DataError as exc:
                seen[s.dataset] = None
                skipped.append(f"skipped {s.dataset}: {exc}")
        if seen[s.dataset] is not None:
            kept.append(Source(s.study, s.dataset, s.network, {**s.config, "data_dir": data_dir}, s.trial))
    return kept, skipped


def open_permutation_study(url: str | Location, permute_seed: int) -> optuna.Study:
    """The study ``permutation`` (created on first use) with the permutation itself recorded."""
    storage = open_storage(url)
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="minimize", load_if_exists=True)
    if study.user_attrs.get(attrs.KIND) not in (None, STUDY):
        raise UserError(f"study {STUDY!r} exists in {url} and was not made by the permutation command")
    if attrs.KIND not in study.user_attrs:  # new: its runs are scored by their best epoch
        study.set_user_attr(attrs.SCORING, attrs.BEST_EPOCH_SCORING)
    study.set_user_attr(attrs.KIND, STUDY)
    study.set_user_attr(attrs.OBJECTIVE, "validation error (1 - accuracy), on permuted images for permuted runs")
    permutations = dict(study.user_attrs.get(attrs.PERMUTATIONS, {}))
    permutations[str(permute_seed)] = pixel_permutation(permute_seed).tolist()
    study.set_user_attr(attrs.PERMUTATIONS, permutations)
    if attrs.ARTIFACT_DIR not in study.user_attrs:
        from search.artifacts import default_artifact_dir

        study.set_user_attr(attrs.ARTIFACT_DIR, str(default_artifact_dir(url)))
    return study


class StaleRun(Exception):
    """A run queued by an earlier, interrupted call with other options: recorded FAIL, not trained."""


class RunObjective(Objective):
    """The service's objective, on the config an enqueued run carries instead of a family's space."""

    keep_best_model = False

    def __init__(self, planned: set[str], scoring: str = attrs.BEST_EPOCH_SCORING) -> None:
        from search.tasks import TASKS
        from search.tasks.classification import ClassificationTask
        from search.worker import keras_backend, versions

        super().__init__(TASKS[ClassificationTask.name], None, {}, versions(keras_backend()), scoring)
        self.planned = planned

    def configure(self, trial: optuna.Trial) -> dict[str, Any]:
        config = trial.user_attrs[attrs.CONFIG]
        if _key(config) not in self.planned:
            raise StaleRun(f"trial {trial.number} was queued by an earlier call with other options; not run")
        # The fixed parameters make the runs filterable in the dashboard; enqueueing pins them.
        trial.suggest_categorical("dataset", ("fashion", "mnist"))
        trial.suggest_categorical("network", ("mlp", "cnn"))
        trial.suggest_categorical("condition", CONDITIONS)
        trial.suggest_int("seed", 0, 1_000_000)
        log.info("trial %d: %s %s %s seed %d", trial.number, config["family"], trial.params["condition"], config["model"], config["seed"])
        for key, value in {
            "permuted": config.get("permute_seed") is not None,
            "permute_seed": config.get("permute_seed"),
            "seed": config["seed"],
            attrs.DATA_SOURCE: self.data.get(config).source,
        }.items():
            trial.set_user_attr(key, value)
        return config


def run_permutation(
    url: str | Location,
    seeds: int,
    permute_seed: int,
    pins: dict[str, Any],
    data_dirs: dict[str, str | None],
    studies: tuple[str, ...] = TASK_ONE,
) -> dict[str, Any]:
    """Train what is missing and return the result: table rows, runs, skipped datasets."""
    if seeds < 1:
        raise UserError("--seeds must be at least 1")
    sources = apply_pins(source_configs(url, studies), pins)
    sources, skipped = check_datasets(sources, data_dirs)
    if not sources:
        raise UserError("no dataset could be loaded offline: " + "; ".join(skipped))
    runs = plan_runs(sources, seeds, permute_seed)
    study = open_permutation_study(url, permute_seed)
    have = _trials_by_config(study)
    todo = [r for r in runs if _key(r["config"]) not in have[TrialState.COMPLETE]]
    for run in todo:
        if _key(run["config"]) not in have[TrialState.WAITING]:
            params = {"dataset": run["dataset"], "network": run["network"], "condition": run["condition"], "seed": run["config"]["seed"]}
            study.enqueue_trial(params, user_attrs={attrs.CONFIG: run["config"], "source": run["source"]})
    if todo:
        log.info("%d of %d runs to train (%d already in study %s)", len(todo), len(runs), len(runs) - len(todo), STUDY)
        study.sampler = optuna.samplers.RandomSampler()
        study.pruner = optuna.pruners.NopPruner()
        objective = RunObjective({_key(r["config"]) for r in runs}, study.user_attrs.get(attrs.SCORING, attrs.LAST_EPOCH_SCORING))
        waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        study.optimize(objective, n_trials=waiting, catch=(Exception,), gc_after_trial=False)
        have = _trials_by_config(study)
    done = [have[TrialState.COMPLETE].get(_key(r["config"])) for r in runs]
    missing = sum(t is None for t in done)
    result = {
        "study": STUDY,
        "storage": str(url),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "permute_seed": permute_seed,
        "permutation": pixel_permutation(permute_seed).tolist(),
        "seeds": seeds,
        "pins": pins,
        "sources": sorted({r["source"] for r in runs}),
        "skipped": skipped,
        "failed_runs": missing,
        "trials": [t.number for t in done if t is not None],
        "data": sorted({f"{t.user_attrs['config']['dataset']}: {t.user_attrs.get('data_source')}" for t in done if t is not None and not t.user_attrs["permuted"]}),
        "rows": table_rows([t for t in done if t is not None]),
    }
    study.set_user_attr(attrs.LATEST, {k: result[k] for k in ("created_at", "permute_seed", "seeds", "pins", "sources", "skipped", "data", "trials")})
    return result


def _key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


def _trials_by_config(study: optuna.Study) -> dict[TrialState, dict[str, optuna.trial.FrozenTrial]]:
    out: dict[TrialState, dict[str, optuna.trial.FrozenTrial]] = {TrialState.COMPLETE: {}, TrialState.WAITING: {}}
    for t in study.get_trials(deepcopy=False, states=tuple(out)):
        if attrs.CONFIG in t.user_attrs:
            out[t.state][_key(t.user_attrs[attrs.CONFIG])] = t
    return out


def table_rows(trials: list[optuna.trial.FrozenTrial]) -> list[dict[str, Any]]:
    """dataset x network x condition: test accuracy mean, sample standard deviation, count."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    for t in trials:
        if t.user_attrs.get("test_accuracy") is None:
            continue
        config = t.user_attrs["config"]
        condition = "permuted" if config.get("permute_seed") is not None else "original"
        groups.setdefault((config["dataset"], config["model"], condition), []).append(float(t.user_attrs["test_accuracy"]))
    order = {"fashion": 0, "mnist": 1, "mlp": 0, "cnn": 1, "original": 0, "permuted": 1}
    rows = []
    for (dataset, network, condition), accs in sorted(groups.items(), key=lambda kv: [order.get(k, 9) for k in kv[0]]):
        rows.append({
            "dataset": dataset,
            "network": network,
            "condition": condition,
            "n": len(accs),
            "mean": float(np.mean(accs)),
            "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else None,  # one seed: no spread
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table, one line per dataset x network, with the change permutation made."""
    by = {(r["dataset"], r["network"], r["condition"]): r for r in rows}
    lines = [
        "| dataset | network | original test accuracy | permuted test accuracy | change | seeds |",
        "|---|---|---|---|---|---|",
    ]
    pairs = sorted({(r["dataset"], r["network"]) for r in rows}, key=lambda p: (p[0] != "fashion", p[1] != "mlp"))
    for dataset, network in pairs:
        orig, perm = by.get((dataset, network, "original")), by.get((dataset, network, "permuted"))
        change = f"{perm['mean'] - orig['mean']:+.4f}" if orig and perm else "-"
        seeds = "/".join(str(r["n"]) for r in (orig, perm) if r)
        lines.append(f"| {_name(dataset)} | {network.upper()} | {_cell(orig)} | {_cell(perm)} | {change} | {seeds} |")
    return "\n".join(lines)


def _name(dataset: str) -> str:
    return {"fashion": "Fashion-MNIST", "mnist": "MNIST"}.get(dataset, dataset)


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    std = "n/a" if row["std"] is None else f"{row['std']:.4f}"
    return f"{row['mean']:.4f} ± {std}"


def write_result(result: dict[str, Any], path: Path) -> None:
    """The result as JSON (with the permutation itself) and the table as Markdown beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    path.with_suffix(".md").write_text(format_table(result["rows"]) + "\n")
