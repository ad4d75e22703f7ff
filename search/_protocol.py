"""What every objective a worker runs does first and on failure, TensorFlow-free.

The worker holds the storage's budget lock while Optuna creates a trial and hands it to the
objective via ``release_on_start``; the objective releases it first thing, turns the trial into
its config (pins applied) and records it. A failure is recorded as ``fail_reason`` and kept in
``last_failure`` so the worker can stop after too many in a row.
"""

from __future__ import annotations

import contextlib
from typing import Any

import optuna

from search.pins import PinnedTrial
from studies import StudyFamily


class TrialObjective:
    def __init__(self, family: StudyFamily, pins: dict[str, Any], worker: str) -> None:
        self.family = family
        self.pins = pins
        self.worker = worker
        self.release_on_start: contextlib.ExitStack | None = None
        self.last_failure: str | None = None

    def begin(self, trial: optuna.Trial) -> dict[str, Any]:
        """Release the budget lock and return the trial's recorded config."""
        if self.release_on_start is not None:
            self.release_on_start.close()
        self.last_failure = None
        config = self.family.full_config(self.family.space(PinnedTrial(trial, self.pins)), self.pins, seed=trial.number)
        trial.set_user_attr("config", config)  # (the worker records "worker" and "gpu" itself)
        return config

    def failed(self, trial: optuna.Trial, exc: BaseException) -> None:
        self.last_failure = f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("fail_reason", self.last_failure)
