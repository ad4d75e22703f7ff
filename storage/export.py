"""Export files: the best trials of a study as JSON that ``train`` consumes as it is.

Format (``format: clockwork-export/1``)::

    {"format": ..., "study": ..., "storage": ..., "exported_at": ..., "project_version": ..., "data_fingerprint": ...,
     "trials": [{"study", "trial", "value", "config", "params", "metrics", "versions"}, ...]}
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from storage import attrs

FORMAT = "clockwork-export/1"
METRIC_KEYS = (attrs.EPOCHS, attrs.TRAIN_SECONDS, attrs.PARAM_COUNT)  # plus every val_* and test_* attribute


class ExportError(Exception):
    """A study with nothing to export, or an export file that cannot be read."""


def export_study(study: optuna.Study, top: int, storage_url: str, pareto: bool = False) -> dict[str, Any]:
    """The ``top`` completed trials of ``study``, lowest error first; with ``pareto``, a
    multi-objective study's Pareto front instead (each entry then has ``values`` by objective)."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if attrs.CONFIG in t.user_attrs]
    if not complete:
        raise ExportError(f"study {study.study_name!r} has no completed trial to export yet")
    objectives = list(study.user_attrs.get(attrs.OBJECTIVES, ["error"]))
    if pareto:
        if len(objectives) == 1:
            raise ExportError(f"study {study.study_name!r} has one objective: its Pareto front is its best trial (export without --pareto)")
        front = {t.number for t in study.best_trials}
        chosen = sorted((t for t in complete if t.number in front), key=lambda t: t.values[0])
    else:
        reverse = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        chosen = sorted(complete, key=lambda t: t.values[0], reverse=reverse)[:top]
    best_epoch = study.user_attrs.get(attrs.SCORING) == attrs.BEST_EPOCH_SCORING
    return {
        "format": FORMAT,
        "study": study.study_name,
        "storage": storage_url,
        "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "project_version": study.user_attrs.get(attrs.PROJECT_VERSION),  # None: a study made before it was recorded
        "data_fingerprint": study.user_attrs.get(attrs.DATA_FINGERPRINT),
        **({"objectives": objectives, "pareto": pareto} if len(objectives) > 1 else {}),
        "trials": [
            {
                "study": study.study_name,
                "trial": t.number,
                "value": t.values[0],  # the error, also in a multi-objective study
                **({"values": dict(zip(objectives, t.values))} if len(objectives) > 1 else {}),
                "config": retrain_config(t, best_epoch),
                "params": t.params,
                "metrics": {
                    k: v for k, v in t.user_attrs.items() if k in METRIC_KEYS or k.startswith(("val_", "test_"))
                },
                "versions": t.user_attrs.get(attrs.VERSIONS, {}),
            }
            for t in chosen
        ],
    }


def retrain_config(trial: optuna.trial.FrozenTrial, best_epoch: bool) -> dict[str, Any]:
    """The trial's config, plus (scored by its best epoch) that epoch and the learning rates up to
    it, which ``train`` replays: it trains as long as the trial did until its best epoch."""
    config = dict(trial.user_attrs[attrs.CONFIG])
    epoch = trial.user_attrs.get(attrs.BEST_EPOCH)
    rates = trial.user_attrs.get(attrs.LEARNING_RATES)
    if best_epoch and epoch:
        config[attrs.BEST_EPOCH] = int(epoch)
        if rates:
            config[attrs.LEARNING_RATES] = list(rates[:epoch])
    opened = trial.user_attrs.get(attrs.ALIGN_OPENED)
    if opened is not None:  # train opens the gated alignment stage where the trial did
        config[attrs.ALIGN_OPENED] = int(opened)
    return config


def write_export(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # never leave a half-written file behind


def read_export(path: Path) -> list[dict[str, Any]]:
    """The exported trials of ``path``; a bare config object counts as one entry."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(data, dict) and "trials" in data:
        entries = data["trials"]
        if not isinstance(entries, list) or not entries:
            raise ExportError(f"{path}: 'trials' must be a non-empty list")
    elif isinstance(data, dict) and "family" in data:
        entries = [{"config": data}]
    else:
        raise ExportError(f"{path}: expected an export file (with 'trials') or a config object (with 'family')")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise ExportError(f"{path}: trials[{i}] has no 'config' object")
    return entries
