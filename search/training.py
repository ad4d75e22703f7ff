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

from models import check_config
from models.classifier import build_classifier
from models.clock import build_clock_model
from models.clock_heads import head_from_config
from models.timekeeping import common_sense_error, error_summary
from search.data import Splits


class ValidationError(keras.callbacks.Callback):
    """Adds ``val_error = 1 - val_accuracy`` to the epoch logs, for pruning and reporting."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None and "val_accuracy" in logs:
            logs["val_error"] = 1.0 - float(logs["val_accuracy"])


class EpochClock(keras.callbacks.Callback):
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


class ClockValidation(keras.callbacks.Callback):
    """Decodes the validation photos every epoch: ``val_error`` is the mean common-sense error.

    Clock heads output encodings (classes, sin/cos pairs), so Keras' own validation loss says
    little; the objective is the error in minutes after decoding.
    """

    def __init__(self, trainer: "ClockTrainer") -> None:
        super().__init__()
        self.trainer = trainer
        self.summary: dict[str, float] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        s = self.trainer.splits
        self.summary = error_summary(common_sense_error(s.y_val, self.trainer.predict_minutes(s.x_val)))
        if logs is not None:
            logs["val_error"] = self.summary["mean"]


class Trainer:
    """Build the model of ``config`` and fit it on ``splits``: the image classifiers."""

    def __init__(self, config: dict[str, Any], splits: Splits) -> None:
        self.config = config
        self.splits = splits
        keras.backend.clear_session()  # free the previous trial's graph and layer names
        keras.utils.set_random_seed(int(config.get("seed", 0)))
        self.model = self._build()
        self.clock = EpochClock()

    def _build(self) -> keras.Model:
        return build_classifier(self.config, self.splits.input_shape, self.splits.n_classes)

    def _targets(self, y: np.ndarray) -> Any:
        return y

    def _validation(self) -> tuple[Any, list[keras.callbacks.Callback]]:
        """Keras' validation data and the callbacks that put ``val_error`` in the logs."""
        return (self.splits.x_val, self.splits.y_val), [ValidationError()]

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
            callbacks=[*measure, self.clock, *callbacks],
            verbose=0,
        )

    def validation_summary(self) -> dict[str, float]:
        return {}

    def evaluate_test(self) -> dict[str, float]:
        """Test metrics by name; called once, after model selection is over."""
        _, accuracy = self.model.evaluate(self.splits.x_test, self.splits.y_test, batch_size=1024, verbose=0)
        return {"test_accuracy": float(accuracy), "test_error": 1.0 - float(accuracy)}


class ClockTrainer(Trainer):
    """The clock CNN: labels are minutes past 12:00, the objective the common-sense error."""

    def _build(self) -> keras.Model:
        check_config(self.config)
        self.head = head_from_config(self.config)
        return build_clock_model(self.config, self.head)

    def _targets(self, y: np.ndarray) -> Any:
        return self.head.encode(y)

    def _validation(self) -> tuple[Any, list[keras.callbacks.Callback]]:
        self._check = ClockValidation(self)
        return None, [self._check]

    def predict_minutes(self, x: np.ndarray) -> np.ndarray:
        outputs = self.model.predict(x, batch_size=256, verbose=0)
        return self.head.decode(outputs)

    def validation_summary(self) -> dict[str, float]:
        check = getattr(self, "_check", None)
        return {f"val_{k}": v for k, v in check.summary.items()} if check else {}

    test_minutes: np.ndarray | None = None  # the test predictions, once evaluate_test has run

    def evaluate_test(self) -> dict[str, float]:
        s = self.splits
        self.test_minutes = self.predict_minutes(s.x_test)
        summary = error_summary(common_sense_error(s.y_test, self.test_minutes))
        return {f"test_{k}": v for k, v in summary.items()}


def make_trainer(config: dict[str, Any], splits: Splits) -> Trainer:
    return ClockTrainer(config, splits) if config.get("model") == "clock" else Trainer(config, splits)
