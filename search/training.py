"""Fit one config on prepared arrays: the part of a trial that is plain Keras.

Both the worker's objective and ``python -m search train`` go through :class:`Trainer`, so a
retrained model is built and fitted exactly as the trial's was.

A trial is scored by its best epoch: :class:`EpochRecord` keeps every epoch's validation error
and learning rate, :class:`BestWeights` the weights of the best epoch, which are restored when
``fit`` ends (normally, pruned, stopped at a time limit or interrupted), so the test metrics and
the saved model are the best epoch's. ``lr_schedule`` (``constant``, ``cosine`` with optional
``warmup_epochs``, ``plateau``) sets the learning rate per epoch; ``train`` replays the recorded
rates, since a plateau schedule has no validation data to react to there.

A trainer with ``augment`` transforms (:mod:`datasets.augment`) feeds the training photos
through :class:`AugmentedBatches`, which changes each batch as it is drawn; validation and test
photos are never changed.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import keras
import numpy as np

from datasets import Splits
from datasets.augment import augment_batch
from models.classifier import build_classifier

T = TypeVar("T")


class ErrorFromAccuracy(keras.callbacks.Callback):
    """Adds ``val_error = 1 - val_accuracy`` to the epoch logs, for pruning and reporting."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        if "val_accuracy" not in logs:  # a family file's model compiled without metrics=["accuracy"]
            raise ValueError(f"the model reports no val_accuracy (its metrics: {sorted(logs)}); compile it with metrics=['accuracy']")
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
        self.learning_rates: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        self.learning_rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    @property
    def best_epoch(self) -> int:
        """The 1-based epoch with the lowest validation error (the first of equals); 0 before any."""
        return int(np.argmin(self.val_errors)) + 1 if self.val_errors else 0

    def scored_epoch(self, best: bool) -> int:
        """The 1-based epoch a trial is scored by: its best (best-epoch scoring) or its last."""
        return self.best_epoch if best else len(self.val_errors)

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


class BestWeights(keras.callbacks.Callback):
    """Keeps a copy of the weights of the epoch with the lowest ``val_error`` so far."""

    def __init__(self) -> None:
        super().__init__()
        self.best = math.inf
        self.weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get("val_error")
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.weights = self.model.get_weights()

    def restore(self) -> None:
        if self.weights is not None:
            self.model.set_weights(self.weights)


class WeightAverage:
    """The optimizer's moving average of the weights (``ema_momentum``, Keras' ``use_ema``), which
    an epoch's check reads beside the trained weights.

    Early in training the average trails the weights by about ``1 / (1 - momentum)`` steps, and
    batch normalisation's statistics follow the trained weights, so it can read worse than they
    do (a demo trial that had left chance read at chance averaged); later it smooths the last
    steps' noise. So :meth:`judge` reads both and the model keeps, for the epoch's best-weights
    copy, whichever reads better; :class:`TrainedBack` puts the trained weights back before
    training goes on and before a checkpoint saves them.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.trained: list[np.ndarray] | None = None  # the trained weights while the average is in

    @property
    def kept(self) -> bool:
        return bool(getattr(self.model.optimizer, "use_ema", False))

    def judge(self, read: Callable[[], T], error: Callable[[T], float]) -> tuple[T, bool]:
        """What ``read`` says of the trained weights or, when it reads lower, of the average, which
        then stays in the model; and whether it was the average."""
        first = read()
        if not self.kept:
            return first, False
        self.put_in()
        second = read()
        if error(second) < error(first):
            return second, True
        self.restore()
        return first, False

    def put_in(self) -> None:
        """Put the average into the model, keeping the trained weights for :meth:`restore`."""
        variables = self.model.trainable_variables
        self.trained = [keras.ops.convert_to_numpy(v) for v in variables]
        self.model.optimizer.finalize_variable_values(variables)
        # On JAX that assignment shares the average's buffer with the model's weights, and the next
        # predict or evaluate donates the weights' buffers to its step: the optimizer's average
        # then points at a deleted buffer and the next epoch fails ("Buffer has been deleted or
        # donated"). The weights take copies of their own.
        for variable in variables:
            variable.assign(keras.ops.convert_to_numpy(variable))

    def restore(self) -> None:
        """Put the trained weights back if the average is in."""
        trained, self.trained = self.trained, None
        for variable, value in zip(self.model.trainable_variables, trained or []):
            variable.assign(value)


class TrainedBack(keras.callbacks.Callback):
    """Puts the trained weights back after the epoch's check and best-weights copy."""

    def __init__(self, average: WeightAverage) -> None:
        super().__init__()
        self.average = average

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.average.restore()


class EvaluateValidation(keras.callbacks.Callback):
    """Keras' validation, run as a callback at the epoch's end (``val_`` + each metric in the
    logs), judging the trained weights and their moving average (:class:`WeightAverage`)."""

    def __init__(self, average: WeightAverage, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        super().__init__()
        self.average, self.x, self.y, self.batch_size = average, x, y, batch_size

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        def read() -> dict[str, float]:
            return self.model.evaluate(self.x, self.y, batch_size=self.batch_size, verbose=0, return_dict=True)

        scores, _ = self.average.judge(read, lambda scores: -float(scores["accuracy"]))
        if logs is not None:
            logs.update({f"val_{k}": float(v) for k, v in scores.items()})


class SaveCheckpoint(keras.callbacks.Callback):
    """Saves the trainer's state after each epoch (after its record and best weights are updated)."""

    def __init__(self, checkpoint: Any, trainer: "Trainer") -> None:
        super().__init__()
        self.checkpoint = checkpoint
        self.trainer = trainer

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.checkpoint.save(self.trainer)


class TimeLimit(keras.callbacks.Callback):
    """Ends training after the first epoch that finishes past ``seconds`` from the start of this
    fit (a trial's time limit), or, with ``until`` (``time.time()`` seconds), before an epoch that
    would finish past it at the slowest pace so far (the search's deadline, which no epoch crosses).
    ``tail`` says how many seconds the trainer will still need after its last epoch beyond the
    worker's reserve (a clock trainer's final reading at more views than each epoch's check).
    ``room(longest, tail, value)`` says how many seconds before ``until`` the trial leaves to the
    trials its worker still has to run for the search's trial budget (``Worker.room``), given this
    epoch's validation error (``val_error``, which the pruning callback reports after this one)."""

    def __init__(
        self,
        seconds: float,
        until: float | None = None,
        tail: Callable[[], float] | None = None,
        room: Callable[[float, float, float], float] | None = None,
    ) -> None:
        super().__init__()
        self.seconds, self.until, self.tail, self.room = seconds, until, tail, room
        self.hit = False
        self.deadline_hit = False
        self.yielded = False  # ended to leave room for later trials
        self.room_seconds = 0.0  # the room it left, as judged at the last epoch's end
        self._start = self._last = 0.0
        self.began = self.ended = 0.0  # time.time() at the start of this fit and at its last epoch's end
        self.longest = 0.0  # seconds of the longest epoch of this fit so far

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = self._last = time.perf_counter()
        self.began = time.time()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # An epoch lasts from the end of the one before: every callback and the gap between counted.
        now = time.perf_counter()
        self.longest, self._last = max(self.longest, now - self._last), now
        self.ended = time.time()
        if self.seconds and now - self._start >= self.seconds:
            self.hit = True
        if self.until is not None:
            tail = self.tail() if self.tail else 0.0
            if self.ended + self.longest + tail > self.until:
                self.hit = self.deadline_hit = True
            elif self.room is not None:
                self.room_seconds = self.room(self.longest, tail, float((logs or {}).get("val_error", math.nan)))
                if self.ended + self.longest + tail + self.room_seconds > self.until:
                    self.hit = self.deadline_hit = self.yielded = True
        if self.hit:
            self.model.stop_training = True


class AugmentedBatches(keras.utils.PyDataset):
    """Training batches in a fresh order each epoch, each photo changed by a fresh random draw.

    The work is numpy on the batch about to be trained on (one warp and a few element-wise
    operations, :func:`datasets.augment.augment_batch`), so it runs on any Keras backend and
    costs a small share of a training step. ``seed`` makes the order and the changes repeatable.
    """

    def __init__(self, x: np.ndarray, targets: Any, batch_size: int, transforms: Sequence[str], seed: int) -> None:
        super().__init__()
        self.x, self.targets, self.batch_size, self.transforms = x, targets, int(batch_size), tuple(transforms)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        photos = augment_batch(np.asarray(self.x[rows]), self.transforms, self.rng)
        return photos, keras.tree.map_structure(lambda t: t[rows], self.targets)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))


SCHEDULES = ("constant", "cosine", "plateau")
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 2


def cosine_rate(base: float, epoch: int, epochs: int, warmup: int = 0) -> float:
    """The learning rate of 0-based ``epoch``: linear warm-up, then half a cosine down towards 0."""
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    progress = (epoch - warmup) / max(1, epochs - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * progress))


def schedule_callbacks(
    config: dict[str, Any],
    replay: Sequence[float] | None = None,
    seconds: float | None = None,
    pace: float | None = None,
    until: float | None = None,
    room: Callable[[], float] | None = None,
) -> tuple[list, list]:
    """(callbacks that set the rate at an epoch's start, callbacks that react to its validation).

    ``seconds`` and ``until``: the time limit and the deadline this fit runs under (as
    :class:`TimeLimit` takes them, with ``room()``, the room it last judged it leaves before the
    deadline), which a cosine schedule fits itself into; ``pace``: seconds an epoch took before
    this fit (a resumed trial), its first estimate.
    """
    if replay:
        rates = [float(r) for r in replay]
        return [keras.callbacks.LearningRateScheduler(lambda e, lr: rates[min(e, len(rates) - 1)])], []
    base, epochs = float(config["learning_rate"]), int(config["epochs"])
    kind = config.get("lr_schedule", "constant")
    warmup = int(config.get("warmup_epochs", 0))
    if kind == "cosine":
        return [Cosine(base, epochs, warmup, seconds, pace, until, room)], []
    # constant and plateau: the same linear warm-up, then the base rate (which a plateau lowers)
    start = [WarmUp(base, warmup)] if warmup else []
    if kind == "plateau":
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor="val_error", mode="min", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, min_lr=base / 64
        )
        return start, [plateau]
    return start, []


class Cosine(keras.callbacks.Callback):
    """The cosine schedule over the trial's epochs, or over the epochs its time limit leaves room
    for at the pace so far, whichever are fewer: a trial that its time limit ends has still
    annealed, where a schedule counted in epochs alone would be cut off at a high rate.

    The limit counts as :class:`TimeLimit` counts it: from the start of this fit, and training
    ends after the first epoch that finishes past it, so ``ceil(seconds / pace)`` epochs run; no
    epoch crosses a deadline (``until``, in ``time.time()`` seconds), so ``floor(left / pace)``
    run in the ``left`` seconds before it, less the ``room()`` the trial leaves there for later
    trials (as its :class:`TimeLimit` last judged it). A resumed trial's first epoch takes its pace
    from the epochs before the resume (``pace``).
    """

    def __init__(
        self,
        base: float,
        epochs: int,
        warmup: int = 0,
        seconds: float | None = None,
        pace: float | None = None,
        until: float | None = None,
        room: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.base, self.epochs, self.warmup, self.seconds, self.pace = base, epochs, warmup, seconds, pace
        self.until, self.room = until, room
        self._start, self._first, self._left = 0.0, None, None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start, self._first = time.perf_counter(), None
        self._left = max(0.0, self.until - time.time()) if self.until is not None else None

    def length(self, epoch: int) -> int:
        """The epochs the schedule spans, as judged at the start of 0-based ``epoch``."""
        if self._first is None:
            self._first = epoch  # a resumed trial starts past 0
        done = epoch - self._first
        pace = (time.perf_counter() - self._start) / done if done else self.pace
        fit = self.epochs - self._first
        if pace and self.seconds:
            fit = min(fit, math.ceil(self.seconds / pace))
        if pace and self._left is not None:
            left = self._left - (self.room() if self.room else 0.0)
            fit = min(fit, math.floor(max(0.0, left) / pace))
        return max(epoch + 1, min(self.epochs, self._first + fit))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = cosine_rate(self.base, epoch, self.length(epoch), self.warmup)


class WarmUp(keras.callbacks.Callback):
    """The first ``epochs`` epochs at ``base * (e + 1) / (epochs + 1)``, then ``base`` once; after
    that the rate is left alone, so a plateau schedule can lower it."""

    def __init__(self, base: float, epochs: int) -> None:
        super().__init__()
        self.base, self.epochs = base, epochs

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch <= self.epochs:
            self.model.optimizer.learning_rate = self.base * min(1.0, (epoch + 1) / (self.epochs + 1))


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` without loading TensorFlow under another backend.

    Keras seeds TensorFlow whenever it is installed, which imports it (seconds, its thread pools
    and log lines) into a JAX or PyTorch worker that never uses it. Under those backends Keras is
    told, before its first look, that TensorFlow is absent (Keras' lazy-module flag; this process
    uses no tf.data either).
    """
    if keras.backend.backend() != "tensorflow" and "tensorflow" not in sys.modules:
        from keras.src.utils import module_utils

        lazy = module_utils.tensorflow
        if getattr(lazy, "_available", False) is None:
            lazy._available = False
    keras.utils.set_random_seed(seed)


AUTOTUNE_ENV = "CLOCKWORK_TF_DATA_AUTOTUNE"  # "on": leave tf.data's autotuning as TensorFlow has it


def tf_data_without_autotune() -> None:
    """Turn tf.data's autotuning off for the input pipelines Keras builds in this process.

    Under TensorFlow, Keras feeds ``fit``, ``evaluate`` and ``predict`` through tf.data pipelines
    that end in ``prefetch(AUTOTUNE)``. With autotuning on, each pipeline's iterator runs a model
    thread that re-tunes at intervals doubling up to a minute, and a new iterator per epoch (and per
    ``predict`` call) waits for the old one's thread: on a worker of one thread (TensorFlow 2.21) a
    clock trial sat idle 18 s an epoch on average, once 59 s at one epoch's start, and its epochs
    took 1.31x as long (mean; median 1.18x) as with autotuning off, which idles about 1 s
    (BENCHMARKS.md, "tf.data's autotuning"). A worker's pipelines only slice arrays or call a
    Python batch function, so there is nothing to tune: every ``prefetch`` gets options with
    autotuning off (the batches and their order are unchanged). ``CLOCKWORK_TF_DATA_AUTOTUNE=on``
    leaves TensorFlow's default. Does nothing under other backends or when TensorFlow is not
    loaded; safe to call again.
    """
    if keras.backend.backend() != "tensorflow" or "tensorflow" not in sys.modules:
        return
    if os.environ.get(AUTOTUNE_ENV, "").lower() == "on":
        return
    import tensorflow as tf

    dataset = tf.data.Dataset
    if getattr(dataset.prefetch, "_clockwork", False):
        return
    prefetch = dataset.prefetch

    def prefetch_without_autotune(self: Any, *args: Any, **kwargs: Any) -> Any:
        options = tf.data.Options()
        options.autotune.enabled = False
        return prefetch(self, *args, **kwargs).with_options(options)

    prefetch_without_autotune._clockwork = True  # type: ignore[attr-defined]
    dataset.prefetch = prefetch_without_autotune


def clear_session() -> None:
    """``keras.backend.clear_session``, plus what it leaves behind under TensorFlow.

    TensorFlow's ``@custom_gradient`` registers a gradient function, named
    ``CustomGradient-<uid>``, in a process-wide registry each time a ``tf.function`` traces it,
    and never removes it; the function's closure holds the traced graph. Keras' optimizers reach
    it on every train step (the gradients' all-reduce under the default distribution strategy),
    so each model a process fits kept its whole train-step graph alive: about 10 MiB per trial
    for a small MLP, without bound in a worker that runs for days (tensorflow/tensorflow#97697,
    BENCHMARKS.md "A worker's memory over many trials"). Trials run one at a time, so when the
    next one starts every entry belongs to a model that is gone: they are dropped before
    Keras' own clean-up collects the garbage.
    """
    if keras.backend.backend() == "tensorflow" and "tensorflow" in sys.modules:
        try:
            from tensorflow.python.framework import ops

            registry = ops._gradient_registry._registry
        except (ImportError, AttributeError):  # a TensorFlow that keeps its registry elsewhere
            registry = {}
        for name in [n for n in registry if n.startswith("CustomGradient-")]:
            del registry[name]
    keras.backend.clear_session()


class Trainer:
    """Build the model of ``config`` and fit it on ``splits``; a task's trainer says how.

    Subclasses build the model (``_build``), turn labels into the model's targets
    (``_targets``), put ``val_error`` into the epoch logs (``_validation``) and test
    (``evaluate_test``).
    """

    def __init__(self, config: dict[str, Any], splits: Splits) -> None:
        self.config = config
        self.splits = splits
        clear_session()  # free the previous trial's graph and layer names
        tf_data_without_autotune()
        set_random_seed(int(config.get("seed", 0)))
        self.model = self._build()
        self.average = WeightAverage(self.model)
        self.record = EpochRecord()
        self.best_weights = BestWeights()
        self.time_limit: TimeLimit | None = None

    augment: tuple[str, ...] = ()  # the transforms applied to training photos (none by default)

    def _build(self) -> keras.Model:
        raise NotImplementedError

    def _targets(self, y: np.ndarray) -> Any:
        return y

    def _validation(self) -> tuple[Any, list[keras.callbacks.Callback]]:
        """Keras' validation data and the callbacks that put ``val_error`` in the logs."""
        raise NotImplementedError

    def _epoch_end(self, with_validation: bool) -> list[keras.callbacks.Callback]:
        """The task's own callbacks, after the epoch's weights are kept and before the checkpoint."""
        return []

    def recorded(self) -> dict[str, Any]:
        """What the task records of a trial beside the record's numbers (trial user attributes)."""
        return {}

    @property
    def param_count(self) -> int:
        return int(self.model.count_params())

    def fit(
        self,
        callbacks: Sequence[keras.callbacks.Callback] = (),
        *,
        with_validation: bool = True,
        restore_best: bool = True,
        replay: Sequence[float] | None = None,
        checkpoint: Any = None,
        until: float | None = None,
        room: Callable[[float, float, float], float] | None = None,
    ) -> None:
        """Fit for ``config['epochs']``; raise FloatingPointError if the loss diverges.

        ``callbacks`` run after the validation error is in the logs, so a pruning callback can
        monitor ``val_error``. With ``restore_best`` the best epoch's weights are restored however
        fitting ends. Without validation (final retraining) the validation images join the
        training set and the learning rates ``replay`` those the trial recorded. With a
        ``checkpoint`` (search.checkpoints) the state is saved after every epoch, and fitting
        starts after the epochs the record already holds (a resumed trial). ``until`` (wall-clock
        seconds, ``time.time()``): when training must be over (the search's deadline less the time
        to test and record the trial); it ends before an epoch that would cross it, or that would
        leave less than ``room`` before it (see :class:`TimeLimit`).
        """
        s = self.splits
        validation, measure = self._validation() if with_validation else (None, [])
        if with_validation:
            x, y = s.x_train, s.y_train
        else:
            x, y = np.concatenate([s.x_train, s.x_val]), np.concatenate([s.y_train, s.y_val])
        # A trial's time limit bounds the search, not `train`, which replays a trial's epochs in full.
        limit = float(self.config.get("trial_timeout") or 0) if with_validation else 0.0
        until = until if with_validation else None
        self.time_limit = TimeLimit(limit, until, self.final_seconds, room) if limit or until is not None else None
        pace = self.record.seconds / self.record.epochs if self.record.epochs else None
        judged = (lambda: self.time_limit.room_seconds) if room is not None and until is not None else None
        set_rate, react = schedule_callbacks(self.config, replay, limit or None, pace, until, judged)
        keep = [self.best_weights] if with_validation and restore_best else []
        back = [TrainedBack(self.average)] if with_validation and self.average.kept else []
        save = [SaveCheckpoint(checkpoint, self)] if checkpoint is not None else []
        late = self._epoch_end(with_validation)
        data: dict[str, Any] = {"x": x, "y": self._targets(y), "batch_size": self.config["batch_size"]}
        if self.augment:
            seed = int(self.config.get("seed", 0))
            data = {"x": AugmentedBatches(x, data["y"], data["batch_size"], self.augment, seed)}
        try:
            self.model.fit(
                **data,
                epochs=self.config["epochs"],
                initial_epoch=self.record.epochs,
                validation_data=validation,
                callbacks=[
                    *set_rate, *measure, self.record, *keep, *back, *late, *react, *save,
                    *filter(None, [self.time_limit]), *callbacks,
                ],
                verbose=0,
            )
        finally:
            if keep:
                self.best_weights.restore()

    def validation_summary(self, epoch: int | None = None, final: bool = False) -> dict[str, float]:
        """More validation numbers of the 1-based ``epoch`` (default: the last), by name; ``final``:
        the trial is over and about to be tested (the model holds the weights it keeps)."""
        return {}

    def final_seconds(self) -> float:
        """Seconds the trial will spend after its last epoch beyond what the worker reserves
        before a deadline (``search.worker.DEADLINE_RESERVE``), as measured so far."""
        return 0.0

    def extra_state(self) -> dict[str, Any]:
        """What a checkpoint keeps beyond weights and the epoch record (JSON): a task's own history."""
        return {}

    def restore_extra(self, state: dict[str, Any]) -> None:
        """Take back :meth:`extra_state` when a trial resumes."""

    def evaluate_test(self) -> dict[str, float]:
        """Test metrics by name; called once, after model selection is over."""
        raise NotImplementedError


def family_model(
    builder: Callable[..., Any], config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int, source: str | None
) -> keras.Model:
    """A family file's ``build(config, input_shape, n_classes)``, compiled if it came back uncompiled
    (with the config's optimizer keys where it has them, else Adam at ``learning_rate`` or 1e-3)."""
    from studies import FamilyFileError

    try:
        model = builder(config, input_shape, n_classes)
    except Exception as exc:  # noqa: BLE001 - the user's builder: one line
        raise FamilyFileError(f"{source}: build(config, {input_shape}, {n_classes}) fails: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, keras.Model):
        raise FamilyFileError(f"{source}: build() must return a keras.Model, not {type(model).__name__}")
    if not model.compiled:
        from models._components import optimizer

        if "optimizer" in config and "learning_rate" in config:
            opt = optimizer(config)
        else:
            opt = keras.optimizers.Adam(learning_rate=float(config.get("learning_rate", 1e-3)))
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class ClassifierTrainer(Trainer):
    """The image classifiers: sparse labels, ``val_error = 1 - val_accuracy``; a family file's
    ``builder`` builds the model instead of the built-in MLP/CNN."""

    def __init__(self, config: dict[str, Any], splits: Splits, builder: Callable[..., Any] | None = None) -> None:
        self.builder = builder
        super().__init__(config, splits)

    def _build(self) -> keras.Model:
        if self.builder is not None:
            return family_model(self.builder, self.config, self.splits.input_shape, self.splits.n_classes, self.config.get("family"))
        return build_classifier(self.config, self.splits.input_shape, self.splits.n_classes)

    def _validation(self) -> tuple[Any, list[keras.callbacks.Callback]]:
        if self.average.kept:  # Keras' own validation would read the trained weights alone
            return None, [EvaluateValidation(self.average, self.splits.x_val, self.splits.y_val, 1024), ErrorFromAccuracy()]
        return (self.splits.x_val, self.splits.y_val), [ErrorFromAccuracy()]

    def evaluate_test(self) -> dict[str, float]:
        scores = self.model.evaluate(self.splits.x_test, self.splits.y_test, batch_size=1024, verbose=0, return_dict=True)
        accuracy = scores["accuracy"]
        return {"test_accuracy": float(accuracy), "test_error": 1.0 - float(accuracy)}


