"""The common-sense error as a Keras metric, for tensors of times (minutes, or hours with ``scale``).

The numpy version in :mod:`datasets.clocktime` scores decoded predictions; this one runs inside
Keras, so a head whose output is itself a time (the regression head's hours) shows the error in
minutes in the training logs, epoch by epoch.
"""

from __future__ import annotations

from typing import Any

import keras

from datasets.clocktime import MINUTES


def common_sense_error_ops(true_minutes: Any, predicted_minutes: Any) -> Any:
    """Element-wise circular distance in minutes, in [0, 360], on backend tensors."""
    diff = keras.ops.mod(keras.ops.abs(true_minutes - predicted_minutes), float(MINUTES))
    return keras.ops.minimum(diff, MINUTES - diff)


@keras.saving.register_keras_serializable(package="clockwork")
class MeanCommonSenseError(keras.metrics.MeanMetricWrapper):
    """Mean common-sense error in minutes; ``scale`` turns the tensors into minutes (60 for hours)."""

    def __init__(self, scale: float = 1.0, name: str = "common_sense_error", dtype: Any = None) -> None:
        self.scale = scale
        super().__init__(fn=self._error, name=name, dtype=dtype)

    def _error(self, y_true: Any, y_pred: Any) -> Any:
        y_true = keras.ops.cast(y_true, "float32") * self.scale
        y_pred = keras.ops.cast(y_pred, "float32") * self.scale
        return keras.ops.mean(common_sense_error_ops(y_true, y_pred), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "name": self.name, "dtype": self.dtype}
