"""The three parts every dataset is split into, and the one path that carves them.

A dataset brings a labelled pool to learn from and a test part that never takes part in training
or model selection; :func:`carve` takes the validation part out of the pool (reproducibly, from a
seed) and limits the training part. MNIST, Fashion-MNIST and the clock photos all go this way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets.errors import DataError


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays of one dataset; ``n_classes`` is 0 for a non-class target."""

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

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[1])


def validation_count(n: int, val_size: int | float) -> int:
    """How many of ``n`` images ``val_size`` (a count, or a fraction below 1) takes for validation."""
    return int(round(val_size * n)) if val_size < 1 else int(val_size)


def check_validation_size(n: int, val_size: int | float, minimum: int) -> None:
    """Before any worker starts: ``val_size`` of a pool of ``n`` leaves ``minimum`` images or more
    to judge on, and some to train on."""
    count = validation_count(n, val_size)
    if count < minimum:
        raise DataError(
            f"--set val_size={val_size}: {count} of {n} images; a validation set under {minimum} images judges nothing"
        )
    if count >= n:
        raise DataError(f"--set val_size={val_size}: takes all {n} images of the training pool, leaving none to train on")


def validation_split(n: int, val_size: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, validation) index arrays, disjoint and covering ``range(n)``.

    Training indices come shuffled, so a prefix of them is a random subset (``train_limit``).

    ``val_size`` is a count, or a fraction when below 1. The test set never enters here: model
    selection sees only these two parts of the training set.
    """
    n_val = validation_count(n, val_size)
    if not 0 < n_val < n:
        raise DataError(f"validation size {val_size} does not fit a training set of {n}")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], np.sort(order[:n_val])


def carve(
    x: np.ndarray,
    y: np.ndarray,
    pool: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    val_size: int | float,
    seed: int,
    train_limit: int | None = None,
    n_classes: int = 0,
    source: str = "",
) -> Splits:
    """Split the rows ``pool`` of ``x``/``y`` into training and validation parts; test as given.

    ``train_limit`` keeps a random subset of the training part (its first rows, which come
    shuffled). Fancy indexing copies: the parts are ordinary arrays, not views of a memory map.
    """
    train, val = validation_split(len(pool), val_size, seed)
    train, val = pool[train], pool[val]
    if train_limit:
        train = train[: int(train_limit)]
    return Splits(x[train], y[train], x[val], y[val], x_test, y_test, n_classes, source)
