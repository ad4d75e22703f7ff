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
DATA_KEYS = ("dataset", "data_dir", "val_size", "train_limit", "input_size", "permute_seed")
DEFAULT_CLOCK_DIR = "data/clock"  # where `make demo` renders the synthetic set


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
    if config["dataset"] == "clock":
        return _prepare_clock(config)
    from datasets.permute import permute_images

    images = permute_images(load_images(config["dataset"], config.get("data_dir")), config.get("permute_seed"))
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


def _prepare_clock(config: dict[str, Any]) -> Splits:
    """Clock photos at the config's input size (resized once, cached on disk); labels in minutes."""
    from datasets.clock import load_clock, to_minutes

    data = load_clock(config.get("data_dir") or DEFAULT_CLOCK_DIR, size=int(config["input_size"]), val_size=config["val_size"])
    x_train, y_train = data.x_train, to_minutes(data.y_train)
    limit = config.get("train_limit")
    if limit:
        x_train, y_train = x_train[: int(limit)], y_train[: int(limit)]
    return Splits(
        x_train, y_train, data.x_val, to_minutes(data.y_val), data.x_test, to_minutes(data.y_test),
        n_classes=0, source=data.source,
    )
