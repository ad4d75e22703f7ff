"""The arrays one trial trains on: train / validation / test, prepared once per worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from datasets import load_images, validation_split

log = logging.getLogger(__name__)

# The validation split is fixed for a study: every trial is judged on the same images.
SPLIT_SEED = 0
DATA_KEYS = ("dataset", "data_dir", "val_size", "train_limit")


@dataclass(frozen=True)
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    source: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def data_key(config: dict[str, Any]) -> tuple:
    """Two configs with the same key train on identical arrays."""
    return tuple(config.get(k) for k in DATA_KEYS)


class DataCache:
    """The arrays a worker has loaded, by data key: each dataset (and size) is loaded once.

    Most studies use one key for every trial; a study that searches the input size holds one
    entry per size it has seen.
    """

    def __init__(self) -> None:
        self._splits: dict[tuple, Splits] = {}

    def get(self, config: dict[str, Any]) -> Splits:
        key = data_key(config)
        if key not in self._splits:
            self._splits[key] = prepare(config)
        return self._splits[key]


def prepare(config: dict[str, Any]) -> Splits:
    """Load the config's dataset and carve its validation set (and ``train_limit``)."""
    images = load_images(config["dataset"], config.get("data_dir"))
    train_idx, val_idx = validation_split(len(images.x_train), config["val_size"], SPLIT_SEED)
    limit = config.get("train_limit")
    if limit:
        train_idx = train_idx[: int(limit)]
    log.info(
        "%s from %s: %d train, %d validation, %d test",
        config["dataset"], images.source, len(train_idx), len(val_idx), len(images.x_test),
    )
    return Splits(
        images.x_train[train_idx], images.y_train[train_idx],
        images.x_train[val_idx], images.y_train[val_idx],
        images.x_test, images.y_test, images.n_classes, images.source,
    )
