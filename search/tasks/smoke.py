"""The smoke task: ``(x - 2)^2`` after an optional sleep, no data and no TensorFlow.

For load tests of the storages and for the service's own tests: a trial costs milliseconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import optuna

from search.tasks._base import Task

if TYPE_CHECKING:
    from search.objective import Objective


class SmokeTask(Task):
    name = "smoke"
    trains = False

    def run(self, trial: optuna.Trial, config: dict[str, Any], objective: Objective) -> float:
        if config.get("sleep"):
            time.sleep(float(config["sleep"]))
        return (float(config["x"]) - 2.0) ** 2
