"""Clock heads: how a network says what time it is, and how that is read back in minutes.

Each head owns four things: the label encoding (minutes -> training targets), the output
layer(s), their losses, and the decoder (network outputs -> minutes on the 720-minute circle).
Heads whose output splits hours from minutes reconcile the two near the hour boundary: at 2:59
the hour hand points almost at 3, so "3" from the hour output and "59" from the minute output
must read as 2:59, not 3:59.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import keras
import numpy as np

from datasets.clocktime import MINUTES

from models._config import CLASS_COUNTS, HEADS, MINUTE_HEADS, READ_TURNS, REGRESSION_LOSSES  # noqa: F401 (re-exported)


def _angle_pair(fraction: np.ndarray) -> np.ndarray:
    """A fraction of a turn -> (sin, cos), the encoding with no seam at 12:00."""
    angle = 2 * np.pi * np.asarray(fraction, dtype=np.float64)
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)


def reconcile(hours: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """Join a continuous hour-hand reading (0-12) and a minute reading (0-60) into minutes.

    The whole hour is the one whose hand position ``H + minute / 60`` lies nearest ``hours`` on
    the 12-hour circle (ties go to the earlier hour).
    """
    minutes = np.asarray(minutes, dtype=np.float64) % 60
    whole = np.ceil(np.asarray(hours, dtype=np.float64) - minutes / 60 - 0.5) % 12
    return (whole * 60 + minutes) % MINUTES


def _pair_vector(pair: np.ndarray) -> np.ndarray:
    """(sin, cos) -> the complex number ``cos + i sin``: its angle is the hand's (clockwise from 12
    in the turn's own units), its length how sure the output is."""
    pair = np.asarray(pair, dtype=np.float64)
    return pair[..., 1] + 1j * pair[..., 0]


def _vector_fraction(vector: np.ndarray) -> np.ndarray:
    """A complex hand vector -> the fraction of a turn it points at, in [0, 1)."""
    return (np.angle(vector) / (2 * np.pi)) % 1.0


def read_hands(hour: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """Hour- and minute-hand vectors (complex, angles from 12) -> minutes past 12:00."""
    return reconcile(_vector_fraction(hour) * 12, _vector_fraction(minute) * 60)


def _circular_mean(values: list[np.ndarray], period: float) -> np.ndarray:
    """The mean of readings on a circle of ``period`` (hours on 12, a fraction of an hour on 1)."""
    angles = np.stack([np.asarray(v, dtype=np.float64) for v in values]) * (2 * np.pi / period)
    mean = np.arctan2(np.sin(angles).mean(axis=0), np.cos(angles).mean(axis=0))
    return (mean * period / (2 * np.pi)) % period


@keras.saving.register_keras_serializable(package="clockwork")
def circular_hours_loss(y_true: Any, y_pred: Any) -> Any:
    """1 - cos of the angle between true and predicted hours: 11.9 vs 0.1 is a small error."""
    angle = (y_true - y_pred) * (2 * math.pi / 12)
    return keras.ops.mean(1.0 - keras.ops.cos(angle), axis=-1)


class ClockHead(abc.ABC):
    """One way of predicting the time; ``resolution`` bounds decode(encode(t)) - t in minutes."""

    resolution: float = 0.5

    @abc.abstractmethod
    def outputs(self, features: Any, config: dict[str, Any]) -> dict[str, Any]:
        """Output tensors by name, on top of the backbone's feature vector."""

    @abc.abstractmethod
    def losses(self) -> dict[str, Any]: ...

    def metrics(self) -> dict[str, Any]:
        """Keras metrics by output name, for heads whose output is itself a time."""
        return {}

    def loss_weights(self) -> dict[str, float] | None:
        """Weights of the outputs' losses by name; None: all 1."""
        return None

    @abc.abstractmethod
    def encode(self, minutes: np.ndarray) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def decode(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """Network outputs -> minutes past 12:00 in [0, 720)."""

    def hands(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """The hour and minute hands a head reads apart, as complex vectors (angle from 12, length
        how sure), which :func:`read_hands` joins into its decoded time; None for a head that reads
        the time as one number."""
        return None

    def average(self, readings: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Several readings of the same photos -> one: the mean of each output (probabilities and
        sin/cos pairs average as they are)."""
        return {name: np.mean([np.asarray(r[name], dtype=np.float64) for r in readings], axis=0) for name in readings[0]}


def _dense(features: Any, units: int, name: str, activation: str | None, config: dict[str, Any]) -> Any:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=config["initializer"], name=name)(features)


class RegressionHead(ClockHead):
    """One number: the time in hours (3:30 -> 3.5), with a squared or a circular loss."""

    resolution = 0.5

    def __init__(self, loss: str = "mse") -> None:
        self.loss = loss

    def outputs(self, features, config):
        return {"hours": _dense(features, 1, "hours", None, config)}

    def losses(self):
        return {"hours": circular_hours_loss if self.loss == "circular" else "mse"}

    def metrics(self):
        from models.metrics import MeanCommonSenseError

        return {"hours": [MeanCommonSenseError(scale=60.0)]}

    def encode(self, minutes):
        return {"hours": (np.asarray(minutes, dtype=np.float32) / 60.0)[:, None]}

    def decode(self, outputs):
        return (np.asarray(outputs["hours"], dtype=np.float64)[:, 0] * 60.0) % MINUTES

    def average(self, readings):
        """The circular mean on the 12-hour dial: 11.9 and 0.1 average to 12, not 6."""
        return {"hours": _circular_mean([r["hours"] for r in readings], 12.0)}


class ClassificationHead(ClockHead):
    """``n`` equal slices of the 12 hours; the decoded time is the middle of the slice."""

    def __init__(self, classes: int) -> None:
        if MINUTES % classes:
            raise ValueError(f"{classes} classes do not divide 720 minutes evenly")
        self.classes = classes
        self.width = MINUTES // classes
        self.resolution = self.width / 2

    def outputs(self, features, config):
        return {"time_class": _dense(features, self.classes, "time_class", "softmax", config)}

    def losses(self):
        return {"time_class": "sparse_categorical_crossentropy"}

    def encode(self, minutes):
        return {"time_class": (np.asarray(minutes) // self.width).astype(np.int64)}

    def decode(self, outputs):
        return (np.argmax(outputs["time_class"], axis=-1) + 0.5) * self.width


class MultiHead(ClockHead):
    """A 12-way hour output plus a minute output (regression, 60-way classification or sin/cos)."""

    def __init__(self, minute_head: str = "sincos", hour_weight: float = 1.0) -> None:
        self.minute_head = minute_head
        self.hour_weight = float(hour_weight)
        self.resolution = 0.5 if minute_head == "classification" else 0.01

    def outputs(self, features, config):
        out = {"hour": _dense(features, 12, "hour", "softmax", config)}
        if self.minute_head == "regression":
            out["minute"] = _dense(features, 1, "minute", None, config)
        elif self.minute_head == "classification":
            out["minute"] = _dense(features, 60, "minute", "softmax", config)
        else:
            out["minute"] = _dense(features, 2, "minute", "tanh", config)
        return out

    def losses(self):
        minute = {"regression": "mse", "classification": "sparse_categorical_crossentropy", "sincos": "mse"}
        return {"hour": "sparse_categorical_crossentropy", "minute": minute[self.minute_head]}

    def loss_weights(self):
        return {"hour": self.hour_weight, "minute": 1.0} if self.hour_weight != 1 else None

    def encode(self, minutes):
        minutes = np.asarray(minutes)
        hour, minute = minutes // 60, minutes % 60
        if self.minute_head == "regression":
            target = (minute / 60.0).astype(np.float32)[:, None]
        elif self.minute_head == "classification":
            target = minute.astype(np.int64)
        else:
            target = _angle_pair(minute / 60.0)
        return {"hour": hour.astype(np.int64), "minute": target}

    def average(self, readings):
        """Hour probabilities average as they are; a regression minute on its circle (0.98 and 0.02
        of an hour average to 0, not 0.5)."""
        out = super().average(readings)
        if self.minute_head == "regression":
            out["minute"] = _circular_mean([r["minute"] for r in readings], 1.0)
        return out

    def hands(self, outputs):
        if self.minute_head == "regression":
            minute = np.exp(2j * np.pi * np.asarray(outputs["minute"], dtype=np.float64)[:, 0])
        elif self.minute_head == "classification":
            minute = np.exp(2j * np.pi * np.argmax(outputs["minute"], axis=-1) / 60)
        else:
            minute = _pair_vector(outputs["minute"])
        # The hour output as a continuous hand position: the mean of the class centres' directions
        # weighted by their probabilities, so a 2-vs-3 split at 2:59 reads as "almost 3".
        centres = np.exp(2j * np.pi * (np.arange(12) + 0.5) / 12)
        return np.asarray(outputs["hour"], dtype=np.float64) @ centres, minute

    def decode(self, outputs):
        return read_hands(*self.hands(outputs))


class PeriodicHead(ClockHead):
    """sin/cos of the hour hand's angle; with ``pairs=2`` also of the minute hand's."""

    resolution = 0.01

    def __init__(self, pairs: int = 1, hour_weight: float = 1.0) -> None:
        self.pairs = pairs
        self.hour_weight = float(hour_weight)

    def outputs(self, features, config):
        out = {"hour_angle": _dense(features, 2, "hour_angle", "tanh", config)}
        if self.pairs == 2:
            out["minute_angle"] = _dense(features, 2, "minute_angle", "tanh", config)
        return out

    def losses(self):
        return {name: "mse" for name in (("hour_angle", "minute_angle") if self.pairs == 2 else ("hour_angle",))}

    def loss_weights(self):
        return {"hour_angle": self.hour_weight, "minute_angle": 1.0} if self.pairs == 2 and self.hour_weight != 1 else None

    def encode(self, minutes):
        minutes = np.asarray(minutes, dtype=np.float64)
        out = {"hour_angle": _angle_pair(minutes / MINUTES)}
        if self.pairs == 2:
            out["minute_angle"] = _angle_pair((minutes % 60) / 60)
        return out

    def hands(self, outputs):
        return (_pair_vector(outputs["hour_angle"]), _pair_vector(outputs["minute_angle"])) if self.pairs == 2 else None

    def decode(self, outputs):
        if self.pairs == 1:
            return _vector_fraction(_pair_vector(outputs["hour_angle"])) * MINUTES
        return read_hands(*self.hands(outputs))


class HandGap(ClockHead):
    """Another head with one more output to learn from: the angle from the hour hand to the minute
    hand (sin/cos), which no turn of the dial changes.

    The time's own outputs are angles from the dial's 12, so on photos turned any way no single
    hand's direction in the picture says anything about the label: a reader must relate a hand to
    the 12 before its loss can fall. The hands' angle to each other is 11/12 of the minute hand's
    travel since 12:00 (``11 t / 720`` of a turn at ``t`` minutes), a function of the time alone
    that two hands show on any analog clock, whatever its dial or turn.

    With ``read`` 0 it is only learned from: :meth:`decode` is the inner head's. Above 0, and where
    the inner head reads the two hands apart (:meth:`ClockHead.hands`), it is read too: the hour
    hand is also where the minute hand and the hands' angle put it (the minute hand's direction
    turned back by the angle), and the time is read from the hour hand's own vector plus ``read``
    times that one, each as long as its outputs are sure.
    """

    def __init__(self, inner: ClockHead, weight: float, read: float = 0.0) -> None:
        self.inner = inner
        self.weight = float(weight)
        self.read = float(read)
        self.resolution = inner.resolution

    def outputs(self, features, config):
        return {**self.inner.outputs(features, config), "hand_gap": _dense(features, 2, "hand_gap", "tanh", config)}

    def losses(self):
        return {**self.inner.losses(), "hand_gap": "mse"}

    def metrics(self):
        return self.inner.metrics()

    def loss_weights(self):
        inner = self.inner.loss_weights() or {name: 1.0 for name in self.inner.losses()}
        return {**inner, "hand_gap": self.weight}

    def encode(self, minutes):
        gap = (11 * np.asarray(minutes, dtype=np.float64) / MINUTES) % 1.0
        return {**self.inner.encode(minutes), "hand_gap": _angle_pair(gap)}

    def average(self, readings):
        inner = self.inner.average([{k: v for k, v in r.items() if k != "hand_gap"} for r in readings])
        return {**inner, **super().average([{"hand_gap": r["hand_gap"]} for r in readings])}

    def hands(self, outputs):
        hands = self.inner.hands(outputs)
        if hands is None or not self.read:
            return hands
        hour, minute = hands
        implied = minute * np.conj(_pair_vector(outputs["hand_gap"]))  # minute hand - gap = hour hand
        return hour + self.read * implied, minute

    def decode(self, outputs):
        hands = self.hands(outputs)  # the inner head's own when read is 0, which it decodes alike
        return self.inner.decode(outputs) if hands is None else read_hands(*hands)


# The most turns an epoch's validation check reads (the check that picks the best epoch): more
# views would cost every epoch again, where the final reading costs once (BENCHMARKS.md, "Reading
# a photo at eighth turns").
WATCH_TURNS = 4
WARP_CHUNK = 2048  # photos resampled at once (bounds the float32 copies of a large folder)


def turned(images: np.ndarray, k: int, turns: int) -> np.ndarray:
    """N x S x S photos turned by ``k / turns`` of a whole turn: a multiple of a quarter turn moves
    pixels exactly (``np.rot90``); any other angle resamples bilinearly, the corners repeating
    the border as the training turns of :mod:`datasets.augment` do, rounded back to the photos'
    pixel type."""
    if (4 * k) % turns == 0:
        quarter = (4 * k) // turns % 4
        return np.ascontiguousarray(np.rot90(images, quarter, axes=(1, 2))) if quarter else images
    from datasets.augment import homographies, warp_batch

    h = homographies(np.array([2 * np.pi * k / turns]), np.ones(1), np.zeros((1, 2)), np.zeros((1, 2)))
    out = np.empty_like(images)
    for i in range(0, len(images), WARP_CHUNK):
        part = images[i:i + WARP_CHUNK]
        warped = warp_batch(part, np.broadcast_to(h, (len(part), 3, 3)))
        out[i:i + WARP_CHUNK] = np.clip(np.rint(warped), 0, 255) if np.issubdtype(images.dtype, np.integer) else warped
    return out


def read_clocks(model: Any, head: ClockHead, images: np.ndarray, turns: int = 1) -> np.ndarray:
    """Minutes past 12:00 read from N x S x S photos by a clock model.

    With ``turns`` above 1 each photo is also read turned by each multiple of a ``1 / turns``
    turn, which shows the same time, and the readings are averaged before decoding: the hour
    hand's angle, the usual miss, is then judged from several views. Costs ``turns`` forward
    passes (and, beyond quarter turns, a bilinear resampling of each photo per view).
    """
    if turns not in READ_TURNS:
        raise ValueError(f"read_turns must be one of {', '.join(map(str, READ_TURNS))}, not {turns!r}")
    return head.decode(read_outputs(model, head, images, turns))


def read_outputs(model: Any, head: ClockHead, images: np.ndarray, turns: int = 1) -> dict[str, np.ndarray]:
    """The outputs :func:`read_clocks` decodes: a model's outputs by name, averaged over ``turns``
    even turns of each photo by the head's :meth:`ClockHead.average`."""
    readings = []
    for k in range(turns):
        out = model.predict(turned(images, k, turns), batch_size=256, verbose=0)
        if not isinstance(out, dict):  # a list (several outputs) or one array, in output order
            out = dict(zip(model.output_names, out if isinstance(out, (list, tuple)) else [out]))
        readings.append(out)
    return readings[0] if turns == 1 else head.average(readings)


def turns_of(config: dict[str, Any]) -> int:
    """How many ways a config reads each photo: ``read_turns``, or once for configs older than it."""
    return int(config.get("read_turns") or 1)


def head_from_config(config: dict[str, Any]) -> ClockHead:
    """The head a clock config names, with its own conditional keys."""
    head = config["head"]
    # Weighs an hour output beside a minute output; heads with one output ignore it, as they
    # ignore the other heads' keys (a pinned weight then applies to the trials that can use it).
    hour_weight = float(config.get("hour_weight", 1.0))
    inner = _time_head(config, head, hour_weight)
    gap_weight = float(config.get("gap_weight") or 0.0)
    return HandGap(inner, gap_weight, float(config.get("gap_read") or 0.0)) if gap_weight > 0 else inner


def _time_head(config: dict[str, Any], head: str, hour_weight: float) -> ClockHead:
    if head == "regression":
        return RegressionHead(config.get("regression_loss", "mse"))
    if head == "classification":
        return ClassificationHead(int(config["classes"]))
    if head == "multi":
        return MultiHead(config.get("minute_head", "sincos"), hour_weight)
    if head == "periodic":
        return PeriodicHead(int(config.get("pairs", 1)), hour_weight)
    raise ValueError(f"unknown clock head {head!r}; known: {', '.join(HEADS)}")
