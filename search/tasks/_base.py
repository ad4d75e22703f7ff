"""What a kind of work is: the part of a trial that depends on the task, not on the family.

A study family names its task (``StudyFamily.task``); the engine asks the task for everything
that differs between image classification, reading clocks and the smoke test: the data check
before workers start, the splits, the trainer, the objective value in words, the test summary,
the trial artifacts. This module imports no Keras: ``status`` and ``launch`` use tasks to print.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import optuna

from search import artifacts

if TYPE_CHECKING:
    from datasets import Splits
    from search.objective import Objective
    from search.training import Trainer
    from studies import StudyFamily

log = logging.getLogger(__name__)


class Task:
    """One kind of work. Subclasses set :attr:`name` and override what differs.

    ``trains``: whether trials fit a Keras model (the smoke task does not, and never imports
    TensorFlow). ``reads_clocks``: whether its models read the time (``predict``, the report's
    clock section).
    """

    name: str = ""
    trains: bool = True
    reads_clocks: bool = False
    error_label: str = "validation error"

    def check_data(self, family: StudyFamily, pins: dict[str, Any]) -> None:
        """Fail before any worker starts when the data is missing (a worker would fail N times)."""

    def prepare(self, config: dict[str, Any]) -> Splits:
        """Load the config's data and carve train / validation / test (once per worker and key)."""
        raise NotImplementedError

    def trainer(self, config: dict[str, Any], splits: Splits) -> Trainer:
        """The Keras trainer that builds and fits the config's model."""
        raise NotImplementedError

    def run(self, trial: optuna.Trial, config: dict[str, Any], objective: Objective) -> float:
        """Train ``config`` for ``trial`` and return the objective value (see search.objective)."""
        from search.objective import train_trial  # imports Keras: only workers pay for it

        return train_trial(self, trial, config, objective)

    def format_value(self, value: float) -> str:
        """The objective value in its unit, as ``launch`` and ``status`` print it."""
        return f"{value:.4f}"

    def test_line(self, metrics: dict[str, Any]) -> str:
        """The test result in words, from a trial's user attributes or a metrics dict."""
        if metrics.get("test_accuracy") is not None:
            return f"test accuracy {metrics['test_accuracy']:.4f}"
        return "not tested"

    def summary_notes(self, study: optuna.Study, best: optuna.trial.FrozenTrial) -> list[str]:
        """Lines the launch and status summaries end with (none by default)."""
        return []

    def upload_artifacts(self, trial: optuna.Trial, trainer: Trainer, *, tested: bool) -> None:
        """Learning curves for every trial that ran an epoch, plus :meth:`extra_artifacts`.

        An upload that fails (a full disk, an unwritable folder) is logged, never fails the trial.
        """
        record = trainer.record
        if not record.epochs:
            return
        try:
            artifacts.upload_learning_curves(trial, record.losses, record.val_errors, self.error_label)
            if tested:
                self.extra_artifacts(trial, trainer)
        except Exception as exc:  # noqa: BLE001 - artifacts are a convenience, the trial's numbers are not
            log.warning("trial %d: artifacts not uploaded: %s", trial.number, exc)

    def extra_artifacts(self, trial: optuna.Trial, trainer: Trainer) -> None:
        """Artifacts of a tested trial beyond the learning curves (none by default)."""
