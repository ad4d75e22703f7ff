"""The objective of the ``smoke`` family: ``(x - 2)^2`` after an optional sleep, no TensorFlow."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import optuna

from search.pins import PinnedTrial
from studies import StudyFamily


class SmokeObjective:
    """Same protocol as :class:`search.objective.Objective`: releases the budget lock first thing."""

    def __init__(self, family: StudyFamily, pins: dict[str, Any], worker: str) -> None:
        self.family = family
        self.pins = pins
        self.worker = worker
        self.release_on_start: contextlib.ExitStack | None = None
        self.last_failure: str | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        if self.release_on_start is not None:
            self.release_on_start.close()
        self.last_failure = None
        config = self.family.full_config(self.family.space(PinnedTrial(trial, self.pins)), self.pins, seed=trial.number)
        trial.set_user_attr("config", config)
        try:
            if config.get("sleep"):
                time.sleep(float(config["sleep"]))
        except (Exception, KeyboardInterrupt) as exc:
            self.last_failure = f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("fail_reason", self.last_failure)
            raise
        return (float(config["x"]) - 2.0) ** 2
