"""Validation splits carved from a training set, reproducible from a seed."""

from __future__ import annotations

import numpy as np

from datasets.errors import DataError


def validation_split(n: int, val_size: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, validation) index arrays, disjoint and covering ``range(n)``.

    Training indices come shuffled, so a prefix of them is a random subset (``train_limit``).

    ``val_size`` is a count, or a fraction when below 1. The test set never enters here: model
    selection sees only these two parts of the training set.
    """
    n_val = int(round(val_size * n)) if val_size < 1 else int(val_size)
    if not 0 < n_val < n:
        raise DataError(f"validation size {val_size} does not fit a training set of {n}")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], np.sort(order[:n_val])
