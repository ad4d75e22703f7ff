"""What a kind of work is: the part of a trial that depends on the task, not on the family.

A study family names its task (``StudyFamily.task``); the engine asks the task for everything
that differs between image classification, reading clocks and the smoke test: the data check
before workers start, the splits, the trainer, the objective value in words, the test summary,
the trial artifacts. This module imports no Keras: ``status`` and ``launch`` use tasks to print.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from search import artifacts
from storage import attrs

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

    def check_data(self, family: StudyFamily, pins: dict[str, Any]) -> str | None:
        """Fail before any worker starts when the data is missing (a worker would fail N times);
        return a fingerprint of the data (``sha256:...``), which a new study records."""
        return None

    def cache_dirs(self) -> list[Path]:
        """Folders of derived data this task keeps between runs (``status`` shows their size)."""
        return []

    def note(self, params: dict[str, Any], metrics: dict[str, Any]) -> str:
        """A finished trial in a few lines of Markdown: the dashboard shows it beside the trial."""
        searched = ", ".join(f"{k} {_short(v)}" for k, v in sorted(params.items()))
        lines = [f"**{searched or 'no searched parameters'}**", ""]
        epochs, best = metrics.get(attrs.EPOCHS), metrics.get(attrs.BEST_EPOCH)
        if epochs:
            lines.append(f"- {epochs} epochs" + (f", scored by epoch {best}" if best else ""))
        lines.append(f"- {self.error_label} {self.format_value(metrics[attrs.VAL_ERROR])}" if metrics.get(attrs.VAL_ERROR) is not None else "- not validated")
        lines.append(f"- {self.test_line(metrics)}")
        return "\n".join(lines)

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


def _short(value: Any) -> str:
    """A parameter value for a note: floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)
