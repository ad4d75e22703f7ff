"""Trials that resume: a checkpoint after every epoch, and a stopped trial continued where it stopped.

Each epoch a running trial writes ``arrays.npz`` (the model's weights, the optimizer's variables
with its step count and learning rate, the best epoch's weights) and then ``state.json`` (the
epoch, the losses, validation errors and learning rates so far, the training seconds): the state
file is written last, by rename, so a checkpoint is either whole or absent. They live in
``ARTIFACT_DIR/checkpoints/STUDY/trial-N/`` beside the artifacts, where N is the first trial of a
retry series: every worker of the study must see that folder (one machine, or a shared file
system for workers on several; a worker that cannot see it starts the trial from epoch 0).

A trial stopped by ``--timeout``, Ctrl-C or SIGTERM ends FAIL and is queued again at once
(:func:`requeue`); a killed worker's trial is queued again by its heartbeat (at most
``storage.urls.MAX_RETRY`` times). The worker that takes the queued trial finds the checkpoint,
reports the finished epochs' validation errors to the new trial (so its curve has every epoch
once), records ``resumed_from_epoch`` and trains on from the next epoch. A finished trial's
checkpoint is removed (its best model is an artifact already), so the disk does not fill.

The plateau schedule's patience counter and a trial's time limit start afresh on resume.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import TrialState

from search.artifacts import study_artifact_dir
from storage import attrs

if TYPE_CHECKING:
    from search.training import Trainer

log = logging.getLogger(__name__)

STATE, ARRAYS = "state.json", "arrays.npz"
# What a queued copy of a stopped trial keeps of its user attributes: why it was enqueued.
KEPT_ATTRS = (attrs.REFERENCE, attrs.SEED, attrs.WARM_START)


def origin(trial: optuna.trial.BaseTrial) -> int:
    """The first trial of ``trial``'s retry series (itself when it is no retry)."""
    if isinstance(trial, optuna.trial.FrozenTrial):
        system = trial.system_attrs
    else:
        system = trial.storage.get_trial_system_attrs(trial._trial_id)
    return int(system.get("failed_trial", trial.number))


def folder_of(study: optuna.Study, trial: optuna.trial.BaseTrial) -> Path:
    return study_artifact_dir(study) / "checkpoints" / study.study_name / f"trial-{origin(trial)}"


class Checkpoint:
    """The checkpoint folder of one retry series of a trial."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def exists(self) -> bool:
        return (self.folder / STATE).is_file() and (self.folder / ARRAYS).is_file()

    def state(self) -> dict[str, Any]:
        return json.loads((self.folder / STATE).read_text())

    def save(self, trainer: Trainer) -> None:
        """Write the trainer's state after its latest epoch (whole or not at all)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        model, record = trainer.model, trainer.record
        arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
        arrays.update({f"o{i}": keras_numpy(v) for i, v in enumerate(model.optimizer.variables)})
        best = trainer.best_weights.weights
        if best is not None:
            arrays.update({f"b{i}": w for i, w in enumerate(best)})
        tmp = self.folder / f"{ARRAYS}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        tmp.replace(self.folder / ARRAYS)
        state = {
            "config": _identity(trainer.config),
            "epochs": record.epochs, "seconds": record.seconds, "val_errors": record.val_errors, "losses": record.losses,
            "learning_rates": record.learning_rates, "best": trainer.best_weights.best if best is not None else None,
            "extra": trainer.extra_state(),
        }
        tmp = self.folder / f"{STATE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(self.folder / STATE)

    def matches(self, config: dict[str, Any]) -> bool:
        """Whether the checkpoint was written by a trial of ``config`` (a folder left by a deleted
        study of the same name, or a changed config, is not continued)."""
        try:
            return self.exists and self.state().get("config") == _identity(config)
        except (OSError, ValueError):
            return False

    def restore(self, trainer: Trainer) -> int:
        """Load the checkpoint into ``trainer`` (weights, optimizer, best weights, record); return
        the epochs it had finished."""
        state = self.state()
        with np.load(self.folder / ARRAYS) as data:
            model = trainer.model
            model.set_weights([data[f"w{i}"] for i in range(len(model.get_weights()))])
            optimizer = model.optimizer
            optimizer.build(model.trainable_variables)
            for i, variable in enumerate(optimizer.variables):
                variable.assign(data[f"o{i}"])
            if state["best"] is not None:
                trainer.best_weights.weights = [data[f"b{i}"] for i in range(len(model.get_weights()))]
                trainer.best_weights.best = float(state["best"])
        record = trainer.record
        record.epochs, record.seconds = int(state["epochs"]), float(state["seconds"])
        record.val_errors, record.losses = list(state["val_errors"]), list(state["losses"])
        record.learning_rates = list(state["learning_rates"])
        trainer.restore_extra(state.get("extra", {}))
        return record.epochs

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# Keys a continued trial may change: its seed (a queued copy has a new trial number, hence a new
# default seed) and its time limit (a relaunch may cap it differently).
FREE_KEYS = ("seed", "trial_timeout")


def _identity(config: dict[str, Any]) -> str:
    """The part of a config a checkpoint must match to be continued."""
    return json.dumps({k: v for k, v in config.items() if k not in FREE_KEYS}, sort_keys=True, default=str)


def keras_numpy(variable: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable))


def requeue(study: optuna.Study, number: int, max_retry: int | None = None) -> bool:
    """Queue a copy of the failed trial ``number`` to be continued; return whether it was.

    The copy has the same parameters and retry series (Optuna's ``failed_trial`` and
    ``retry_history``), and of the user attributes only why the trial was enqueued. A trial
    stopped by a signal is always queued again (``max_retry`` None); one whose worker died, at
    most ``max_retry`` times (a config that kills its worker would otherwise loop).
    """
    trial = study._storage.get_trial(study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number))
    if trial.state != TrialState.FAIL or not trial.params:
        return False
    if any((t.system_attrs.get("retry_history") or [None])[-1] == number for t in study.get_trials(deepcopy=False)):
        return False  # already queued again (by the worker itself, a heartbeat, or the launcher)
    system = {"failed_trial": trial.number, "retry_history": [], **trial.system_attrs}
    system["retry_history"] = [*system["retry_history"], trial.number]
    if max_retry is not None and len(system["retry_history"]) > max_retry:
        return False
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={k: v for k, v in trial.user_attrs.items() if k in KEPT_ATTRS},
            system_attrs=system,
        )
    )
    log.info("trial %d was stopped: queued again, to continue from its last checkpoint", trial.number)
    return True
