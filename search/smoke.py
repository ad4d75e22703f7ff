"""The objective of the ``smoke`` family: ``(x - 2)^2`` after an optional sleep, no TensorFlow."""

from __future__ import annotations

import time

import optuna

from search._protocol import TrialObjective


class SmokeObjective(TrialObjective):
    """The trivial objective for load and smoke tests: ``x`` is the only dimension."""

    def __call__(self, trial: optuna.Trial) -> float:
        config = self.begin(trial)
        try:
            if config.get("sleep"):
                time.sleep(float(config["sleep"]))
        except (Exception, KeyboardInterrupt) as exc:
            self.failed(trial, exc)
            raise
        return (float(config["x"]) - 2.0) ** 2
