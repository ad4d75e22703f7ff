"""A moving average of the weights (``ema_momentum``): what each epoch's check judges, what a
trial keeps, what a checkpoint holds, what a retrained model ends with."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from datasets import Splits
from models import ConfigError, check_config
from search.training import ClassifierTrainer

MLP = {
    "model": "mlp", "hidden_units": [16], "initializer": "glorot_uniform", "activation": "relu",
    "optimizer": "adam", "beta_1": 0.9, "learning_rate": 0.01, "regularizer": "none", "dropout": 0.0,
    "batch_norm": False, "batch_size": 32, "seed": 0, "epochs": 3,
}


def _splits(n: int = 400) -> Splits:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 3 * n)
    x = (rng.normal(size=(3 * n, 4, 4)) + y[:, None, None] * 0.5).astype("float32")
    return Splits(x[:n], y[:n], x[n : 2 * n], y[n : 2 * n], x[2 * n :], y[2 * n :], n_classes=3, source="blobs")


def _error(model: keras.Model, splits: Splits) -> float:
    scores = model.evaluate(splits.x_val, splits.y_val, batch_size=1024, verbose=0, return_dict=True)
    return 1.0 - float(scores["accuracy"])


class Snapshot(keras.callbacks.Callback):
    """After the trainer's own callbacks: each epoch's trained weights and moving average, and
    what each reads on the validation images."""

    def __init__(self, splits: Splits) -> None:
        super().__init__()
        self.splits = splits
        self.trained: list[list[np.ndarray]] = []
        self.averages: list[list[np.ndarray]] = []
        self.errors: list[tuple[float, float]] = []  # (trained, average)

    def on_epoch_end(self, epoch, logs=None):
        variables = self.model.trainable_variables
        trained = [keras.ops.convert_to_numpy(v) for v in variables]
        self.trained.append(trained)
        optimizer = self.model.optimizer
        if not getattr(optimizer, "use_ema", False):
            return
        average = [keras.ops.convert_to_numpy(v) for v in optimizer._model_variables_moving_average]
        self.averages.append(average)
        first = _error(self.model, self.splits)
        for variable, value in zip(variables, average):
            variable.assign(value)
        self.errors.append((first, _error(self.model, self.splits)))
        for variable, value in zip(variables, trained):
            variable.assign(value)


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.allclose(x, y, atol=1e-6) for x, y in zip(a, b))


def _kept(trainer: ClassifierTrainer) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in trainer.model.trainable_variables]


def test_each_epoch_is_judged_by_the_better_of_its_weights_and_their_average_and_the_trial_keeps_that() -> None:
    # Batches of 4 at Adam 0.02: the weights wander from step to step, and an average of about the
    # last 20 steps reads better than them at some epoch ends, worse at others.
    splits = _splits()
    noisy = {**MLP, "learning_rate": 0.02, "batch_size": 4, "epochs": 4}
    trainer = ClassifierTrainer({**noisy, "ema_momentum": 0.95}, splits)
    snapshot = Snapshot(splits)
    trainer.fit([snapshot])
    assert len(snapshot.errors) == 4
    for recorded, (trained, average) in zip(trainer.record.val_errors, snapshot.errors):
        assert recorded == pytest.approx(min(trained, average), abs=1e-6)
    best = trainer.record.best_epoch
    trained, average = snapshot.errors[best - 1]
    winner = snapshot.averages[best - 1] if average < trained else snapshot.trained[best - 1]
    assert _same(_kept(trainer), winner)
    assert trainer.best_weights.best == pytest.approx(_error(trainer.model, splits), abs=1e-6)
    # Both sides won an epoch here: each epoch's choice is its own.
    assert any(a < t for t, a in snapshot.errors) and any(t < a for t, a in snapshot.errors)
    # The trained weights went back after every check: the average changes what is judged and
    # kept, not how training goes (the same seed without it trains to the same weights).
    plain = Snapshot(splits)
    ClassifierTrainer(noisy, splits).fit([plain])
    assert len(plain.trained) == 4
    for with_average, without in zip(snapshot.trained, plain.trained):
        assert _same(with_average, without)


def test_an_average_that_trails_far_behind_is_not_what_a_trial_keeps() -> None:
    # At 0.99999 the average is still about the initial weights after three epochs of 13 steps:
    # each epoch keeps its trained weights, as without an average.
    splits = _splits()
    trainer = ClassifierTrainer({**MLP, "ema_momentum": 0.99999}, splits)
    snapshot = Snapshot(splits)
    trainer.fit([snapshot])
    assert all(t < a for t, a in snapshot.errors)
    assert trainer.record.val_errors == pytest.approx([t for t, _ in snapshot.errors], abs=1e-6)
    assert _same(_kept(trainer), snapshot.trained[trainer.record.best_epoch - 1])


def test_without_an_average_the_weights_are_the_trained_ones() -> None:
    splits = _splits()
    trainer = ClassifierTrainer({**MLP, "epochs": 2}, splits)
    snapshot = Snapshot(splits)
    trainer.fit([snapshot])
    assert not getattr(trainer.model.optimizer, "use_ema", False)
    best = trainer.record.best_epoch
    kept = [keras.ops.convert_to_numpy(v) for v in trainer.model.trainable_variables]
    assert all(np.allclose(a, b) for a, b in zip(kept, snapshot.trained[best - 1]))


def test_a_checkpoint_holds_the_trained_weights_and_the_average(tmp_path) -> None:
    from search.checkpoints import Checkpoint

    splits = _splits()
    config = {**MLP, "ema_momentum": 0.9, "epochs": 2}
    trainer = ClassifierTrainer(config, splits)
    snapshot = Snapshot(splits)
    checkpoint = Checkpoint(tmp_path)
    trainer.fit([snapshot], checkpoint=checkpoint)
    data = np.load(tmp_path / "arrays.npz")
    trainable = {id(v) for v in trainer.model.trainable_variables}
    trained_last = snapshot.trained[-1]
    # the checkpoint's model weights are the last epoch's trained weights (get_weights order:
    # the trainable ones are the model's only weights here, no batch norm)
    saved = [data[f"w{i}"] for i in range(len(trainer.model.get_weights()))]
    assert len(trainable) == len(saved)
    assert all(np.allclose(a, b) for a, b in zip(saved, trained_last))
    # a trainer resumed from it goes on with the same average: the optimizer's variables came back
    resumed = ClassifierTrainer(config, splits)
    assert checkpoint.restore(resumed) == 2
    assert resumed.model.optimizer.use_ema
    for a, b in zip(resumed.model.optimizer._model_variables_moving_average, trainer.model.optimizer._model_variables_moving_average):
        assert np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_a_retrained_model_ends_with_the_average() -> None:
    splits = _splits()
    trainer = ClassifierTrainer({**MLP, "ema_momentum": 0.9, "epochs": 2}, splits)
    trainer.fit(with_validation=False, restore_best=False)
    final = [keras.ops.convert_to_numpy(v) for v in trainer.model.trainable_variables]
    averages = [keras.ops.convert_to_numpy(v) for v in trainer.model.optimizer._model_variables_moving_average]
    assert all(np.allclose(a, b) for a, b in zip(final, averages))


def test_the_momentum_is_checked() -> None:
    with pytest.raises(ConfigError, match="ema_momentum"):
        check_config({**MLP, "ema_momentum": 1.0})
    check_config({**MLP, "ema_momentum": 0.0})
