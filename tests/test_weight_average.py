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


class Snapshot(keras.callbacks.Callback):
    """After the trainer's own callbacks: the trained weights and the logs of each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.trained: list[list[np.ndarray]] = []
        self.logs: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        self.trained.append([keras.ops.convert_to_numpy(v) for v in self.model.trainable_variables])
        self.logs.append(dict(logs or {}))


def _error(model: keras.Model, splits: Splits) -> float:
    scores = model.evaluate(splits.x_val, splits.y_val, batch_size=1024, verbose=0, return_dict=True)
    return 1.0 - float(scores["accuracy"])


def test_the_check_judges_and_the_trial_keeps_the_average_and_training_goes_on_from_its_own_weights() -> None:
    splits = _splits()
    trainer = ClassifierTrainer({**MLP, "ema_momentum": 0.9}, splits)
    snapshot = Snapshot()
    trainer.fit([snapshot])
    averages = [keras.ops.convert_to_numpy(v) for v in trainer.model.optimizer._model_variables_moving_average]
    best = trainer.record.best_epoch
    # What the trial kept is the best epoch's average, not the weights its last step left ...
    kept = [keras.ops.convert_to_numpy(v) for v in trainer.model.trainable_variables]
    assert not all(np.allclose(a, b) for a, b in zip(kept, snapshot.trained[best - 1]))
    if best == len(snapshot.trained):
        assert all(np.allclose(a, b) for a, b in zip(kept, averages))
    # ... and its score is what the kept weights read.
    assert trainer.best_weights.best == pytest.approx(_error(trainer.model, splits), abs=1e-6)
    assert trainer.record.val_errors[best - 1] == trainer.best_weights.best
    # After each epoch's check the trained weights went back: the average changes what is judged
    # and kept, not how training goes (the same seed without it trains to the same weights).
    plain = Snapshot()
    ClassifierTrainer(MLP, splits).fit([plain])
    assert len(snapshot.trained) == len(plain.trained) == 3
    for with_average, without in zip(snapshot.trained, plain.trained):
        assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(with_average, without))
    assert all("val_accuracy" in logs for logs in snapshot.logs)


def test_without_an_average_the_weights_are_the_trained_ones() -> None:
    splits = _splits()
    trainer = ClassifierTrainer({**MLP, "epochs": 2}, splits)
    snapshot = Snapshot()
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
    snapshot = Snapshot()
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
