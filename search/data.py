"""The arrays a worker trains on: prepared once per worker by the study's task, by data key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Splits
    from search.tasks import Task

# Two configs that agree on these keys train on identical arrays.
DATA_KEYS = ("dataset", "data_dir", "val_size", "train_limit", "input_size", "permute_seed")


def data_key(config: dict[str, Any]) -> tuple:
    return tuple(config.get(k) for k in DATA_KEYS)


class DataCache:
    """The splits a worker has loaded, by data key: each dataset (and size) is loaded once.

    Most studies use one key for every trial; a study that searches the input size holds one
    entry per size it has seen.
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self._splits: dict[tuple, Splits] = {}

    def get(self, config: dict[str, Any]) -> Splits:
        key = data_key(config)
        if key not in self._splits:
            self._splits[key] = self.task.prepare(config)
        return self._splits[key]


def prepare(config: dict[str, Any]) -> Splits:
    """The splits of a whole trial config (``train``, tests, benchmarks), through its family's task."""
    from search.tasks import task_of_config

    return task_of_config(config).prepare(config)
