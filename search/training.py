"""Fit one config on prepared arrays: the part of a trial that is plain Keras.

Both the worker's objective and ``python -m search train`` go through :class:`Trainer`, so a
retrained model is built and fitted exactly as the trial's was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from datasets import Splits
from models.classifier import build_classifier


class ErrorFromAccuracy(keras.callbacks.Callback):
    """Adds ``val_error = 1 - val_accuracy`` to the epoch logs, for pruning and reporting."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None and "val_accuracy" in logs:
            logs["val_error"] = 1.0 - float(logs["val_accuracy"])


class EpochRecord(keras.callbacks.Callback):
    """Counts finished epochs and their wall time; raises FloatingPointError when the loss diverges.

    Everything happens at epoch ends: a callback with a per-batch hook (like Keras'
    ``TerminateOnNaN``) makes Keras fetch the logs after every batch, which costs more than a
    diverged epoch does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.epochs = 0
        self.seconds = 0.0
        self.val_errors: list[float] = []
        self.losses: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds += time.perf_counter() - self._start
        self.epochs += 1
        logs = logs or {}
        self.losses.append(float(logs.get("loss", math.nan)))
        if not math.isfinite(self.losses[-1]):
            # Raised before the pruning callback sees the epoch: a diverged trial FAILs, with
            # this reason, instead of passing as PRUNED.
            raise FloatingPointError(f"training loss became {self.losses[-1]} at epoch {self.epochs}")
        if "val_error" in logs:
            self.val_errors.append(float(logs["val_error"]))


class Trainer:
    """Build the model of ``config`` and fit it on ``splits``; a task's trainer says how.

    Subclasses build the model (``_build``), turn labels into the model's targets
    (``_targets``), put ``val_error`` into the epoch logs (``_validation``) and test
    (``evaluate_test``).
    """

    def __init__(self, config: dict[str, Any], splits: Splits) -> None:
        self.config = config
        self.splits = splits
        keras.backend.clear_session()  # free the previous trial's graph and layer names
        keras.utils.set_random_seed(int(config.get("seed", 0)))
        self.model = self._build()
        self.record = EpochRecord()

    def _build(self) -> keras.Model:
        raise NotImplementedError

    def _targets(self, y: np.ndarray) -> Any:
        return y

    def _validation(self) -> tuple[Any, list[keras.callbacks.Callback]]:
        """Keras' validation data and the callbacks that put ``val_error`` in the logs."""
        raise NotImplementedError

    @property
    def param_count(self) -> int:
        return int(self.model.count_params())

    def fit(self, callbacks: Sequence[keras.callbacks.Callback] = (), *, with_validation: bool = True) -> None:
        """Fit for ``config['epochs']``; raise FloatingPointError if the loss diverges.

        ``callbacks`` run after the validation error is in the logs, so a pruning callback can
        monitor ``val_error``. Without validation (final retraining) the validation images join
        the training set.
        """
        s = self.splits
        validation, measure = self._validation() if with_validation else (None, [])
        if with_validation:
            x, y = s.x_train, s.y_train
        else:
            x, y = np.concatenate([s.x_train, s.x_val]), np.concatenate([s.y_train, s.y_val])
        self.model.fit(
            x,
            self._targets(y),
            batch_size=self.config["batch_size"],
            epochs=self.config["epochs"],
            validation_data=validation,
            callbacks=[*measure, self.record, *callbacks],
            verbose=0,
        )

    def validation_summary(self) -> dict[str, float]:
        return {}

    def evaluate_test(self) -> dict[str, float]:
        """Test metrics by name; called once, after model selection is over."""
        raise NotImplementedError


class ClassifierTrainer(Trainer):
    """The image classifiers: sparse labels, ``val_error = 1 - val_accuracy``."""

    def _build(self) -> keras.Model:
        return build_classifier(self.config, self.splits.input_shape, self.splits.n_classes)

    def _validation(self) -> tuple[Any, list[keras.callbacks.Callback]]:
        return (self.splits.x_val, self.splits.y_val), [ErrorFromAccuracy()]

    def evaluate_test(self) -> dict[str, float]:
        _, accuracy = self.model.evaluate(self.splits.x_test, self.splits.y_test, batch_size=1024, verbose=0)
        return {"test_accuracy": float(accuracy), "test_error": 1.0 - float(accuracy)}


