"""The clock task's Keras part: labels are minutes past 12:00, the value the common-sense error.

Imported only by workers and ``train`` (it imports Keras); :mod:`search.tasks.clock` names it.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np

import models.align
from datasets.augment import transforms_of
from datasets.clocktime import common_sense_error, error_summary, minute_hand_error
from models import check_config
from models.clock import build_clock_model
from models.clock_heads import WATCH_TURNS, head_from_config, read_clocks, turns_of
from search.training import Trainer


def summary_of(true: np.ndarray, minutes: np.ndarray) -> dict[str, float]:
    """The error summary a clock trial stores, with the minute hand's own mean error (the long
    hand alone, whatever the hour: 15 for a guess)."""
    summary = error_summary(common_sense_error(true, minutes))
    summary["minute_mean"] = float(minute_hand_error(true, minutes).mean())
    return summary


class ClockValidation(keras.callbacks.Callback):
    """Decodes the validation photos every epoch: ``val_error`` is the mean common-sense error.
    With ``ema_momentum`` it reads the trained weights and their moving average and keeps the
    better (``search.training.WeightAverage``); ``averaged`` in the epoch's summary says which,
    ``trained_mean`` and ``average_mean`` what each read.

    Clock heads output encodings (classes, sin/cos pairs), so Keras' own validation loss says
    little; the objective is the error in minutes after decoding. Each epoch reads the photos at
    most ``WATCH_TURNS`` ways, whatever the config's ``read_turns``: more views are the final
    reading's, paid once (``ClockTrainer.validation_summary``).
    """

    def __init__(self, trainer: "ClockTrainer", earlier: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self.trainer = trainer
        self.summaries: list[dict[str, float]] = list(earlier or [])  # one per epoch (a resumed trial's too)
        self.seconds = 0.0  # the longest check so far

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        s = self.trainer.splits
        turns = min(turns_of(self.trainer.config), WATCH_TURNS)

        means: list[float] = []

        def read() -> dict[str, float]:
            start = time.perf_counter()
            summary = summary_of(s.y_val, self.trainer.predict_minutes(s.x_val, turns))
            self.seconds = max(self.seconds, time.perf_counter() - start)
            means.append(summary["mean"])
            return summary

        # the trained weights, and their moving average if the optimizer keeps one: the better stays
        summary, averaged = self.trainer.average.judge(read, lambda summary: summary["mean"])
        if self.trainer.average.kept:
            summary.update(averaged=float(averaged), trained_mean=means[0], average_mean=means[1])
        self.summaries.append(summary)
        if logs is not None:
            logs["val_error"] = self.summaries[-1]["mean"]


class OpenAlignment(keras.callbacks.Callback):
    """Opens a gated alignment stage (``align_stage`` 2, :mod:`models.align`): after the first epoch
    whose validation error is under ``models.align.OPENS_BELOW``, or, retraining without
    validation, before the epoch after ``align_opened``, where the trial opened it."""

    def __init__(self, trainer: "ClockTrainer", with_validation: bool) -> None:
        super().__init__()
        self.trainer, self.with_validation = trainer, with_validation

    def _open(self, after: int) -> None:
        self.trainer.model.get_layer("align").gate.assign(1.0)
        self.trainer.align_opened = after

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        opened = self.trainer.config.get("align_opened")
        if not self.with_validation and opened and epoch == int(opened) and self.trainer.align_opened is None:
            self._open(epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        check = self.trainer._check
        if self.with_validation and self.trainer.align_opened is None and check is not None:
            if check.summaries[-1]["mean"] < models.align.OPENS_BELOW:
                self._open(epoch + 1)


class ClockTrainer(Trainer):
    """The clock CNN: labels are minutes past 12:00, the objective the common-sense error."""

    _check: ClockValidation | None = None  # set when fitting with validation
    _earlier: list[dict[str, float]] = []  # the validation summaries of a resumed trial's epochs

    def _build(self) -> keras.Model:
        check_config(self.config)
        self.augment = transforms_of(self.config["augment"])
        self.head = head_from_config(self.config)
        return build_clock_model(self.config, self.head)

    def _targets(self, y: np.ndarray) -> Any:
        return self.head.encode(y)

    def _validation(self) -> tuple[Any, list[keras.callbacks.Callback]]:
        self._check = ClockValidation(self, self._earlier)
        return None, [self._check]

    align_opened: int | None = None  # the epoch after which a gated alignment stage opened

    def _gated(self) -> bool:
        names = [layer.name for layer in self.model.layers]
        return "align" in names and bool(self.model.get_layer("align").gated)

    def _epoch_end(self, with_validation: bool) -> list[keras.callbacks.Callback]:
        return [OpenAlignment(self, with_validation)] if self._gated() else []

    def recorded(self) -> dict[str, Any]:
        return {"align_opened": self.align_opened} if self.align_opened is not None else {}

    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"val_summaries": self._check.summaries if self._check else list(self._earlier)}
        if self.align_opened is not None:
            state["align_opened"] = self.align_opened
        return state

    def restore_extra(self, state: dict[str, Any]) -> None:
        self._earlier = list(state.get("val_summaries", []))
        self.align_opened = state.get("align_opened")  # the gate itself is one of the model's weights

    def predict_minutes(self, x: np.ndarray, turns: int | None = None) -> np.ndarray:
        """Minutes read from photos, at the config's ``read_turns`` unless ``turns`` says otherwise."""
        return read_clocks(self.model, self.head, x, turns_of(self.config) if turns is None else turns)

    def validation_summary(self, epoch: int | None = None, final: bool = False) -> dict[str, float]:
        """The validation numbers of ``epoch`` as its check read them; ``final``, when the config
        reads more ways than an epoch's check (``read_turns`` above ``WATCH_TURNS``), those of the
        weights the model holds after fitting (``epoch``'s, picked by the check's own reading,
        ``val_error``), read as the test photos will be."""
        check = self._check
        if check is None or not check.summaries:
            return {}
        summary = check.summaries[epoch - 1 if epoch else -1]
        if final and turns_of(self.config) > WATCH_TURNS:
            kept = {k: summary[k] for k in ("averaged",) if k in summary}  # which weights the epoch kept
            summary = {**summary_of(self.splits.y_val, self.predict_minutes(self.splits.x_val)), **kept}
        return {f"val_{k}": v for k, v in summary.items()}

    def final_seconds(self) -> float:
        """What reading more ways than the check adds after the last epoch: the validation photos
        again and the test photos at ``read_turns``, against the test photos at the check's turns
        that the worker's reserve was sized for; estimated from the longest check so far."""
        turns, check = turns_of(self.config), self._check
        if turns <= WATCH_TURNS or check is None or not check.seconds:
            return 0.0
        per_view = check.seconds / WATCH_TURNS / len(self.splits.x_val)  # seconds a photo a view
        return per_view * (turns * (len(self.splits.x_val) + len(self.splits.x_test)) - WATCH_TURNS * len(self.splits.x_test))

    test_minutes: np.ndarray | None = None  # the test predictions, once evaluate_test has run

    def evaluate_test(self) -> dict[str, float]:
        s = self.splits
        self.test_minutes = self.predict_minutes(s.x_test)
        summary = summary_of(s.y_test, self.test_minutes)
        return {f"test_{k}": v for k, v in summary.items()}
