"""The objective a worker optimizes: config from the trial, fit with pruning, record results."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna_integration import KerasPruningCallback

from search.data import DataCache
from search._protocol import TrialObjective
from search.training import Trainer, make_trainer
from storage.artifacts import upload_model_if_best, upload_trial_artifacts
from studies import StudyFamily

log = logging.getLogger(__name__)


class Objective(TrialObjective):
    """``objective(trial) -> validation error`` over arrays loaded once for this worker."""

    def __init__(
        self,
        family: StudyFamily,
        pins: dict[str, Any],
        data: DataCache,
        versions: dict[str, str],
        worker: str,
    ) -> None:
        super().__init__(family, pins, worker)
        self.data = data
        self.versions = versions

    def __call__(self, trial: optuna.Trial) -> float:
        config = self.begin(trial)
        trial.set_user_attr("versions", self.versions)
        trainer = None
        try:
            trainer = make_trainer(config, self.data.get(config))
            trial.set_user_attr("param_count", trainer.param_count)
            log.info("trial %d: %s", trial.number, config)
            trainer.fit([KerasPruningCallback(trial, "val_error")])
        except optuna.TrialPruned:
            self._record(trial, trainer)
            raise
        except (Exception, KeyboardInterrupt) as exc:
            self.failed(trial, exc)
            if trainer is not None:
                self._record(trial, trainer, test=False)
            raise
        try:  # testing and uploads can fail or be interrupted too: say why the trial failed
            self._record(trial, trainer)
            upload_model_if_best(trial, trainer, trainer.clock.val_errors[-1])
        except (Exception, KeyboardInterrupt) as exc:
            self.failed(trial, exc)
            raise
        return trainer.clock.val_errors[-1]

    def _record(self, trial: optuna.Trial, trainer: Trainer, *, test: bool = True) -> None:
        clock = trainer.clock
        trial.set_user_attr("epochs", clock.epochs)
        trial.set_user_attr("train_seconds", round(clock.seconds, 3))
        if clock.val_errors:
            trial.set_user_attr("val_error", clock.val_errors[-1])
        for key, value in trainer.validation_summary().items():
            trial.set_user_attr(key, value)
        if test and clock.epochs:
            for key, value in trainer.evaluate_test().items():
                trial.set_user_attr(key, value)
        upload_trial_artifacts(trial, trainer, tested=test)  # learning curves; clock predictions
