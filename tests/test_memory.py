"""A worker that runs for days: one trial's model must not outlive the next trial's start.

Each trial builds and fits a new model in the same process; whatever TensorFlow keeps of a
finished trial (its traced train step) grows the worker's memory by the trial
(benchmarks/worker_memory.py measures the RSS). Counting the live traced graphs shows it in a
second, on tiny data.
"""

from __future__ import annotations

import gc

import keras
import numpy as np
import pytest

from datasets import Splits
from search.training import ClassifierTrainer

MLP = {
    "model": "mlp", "hidden_units": [8], "initializer": "glorot_uniform", "activation": "relu",
    "optimizer": "sgd", "learning_rate": 0.05, "regularizer": "none", "dropout": 0.0, "batch_norm": False,
    "batch_size": 32, "epochs": 1, "seed": 0,
}


def _live_graphs() -> int:
    gc.collect()
    return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="traced graphs are TensorFlow's")
def test_a_new_trainer_frees_the_graphs_of_the_models_fitted_before() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = (rng.normal(size=(300, 4, 4)) + y[:, None, None]).astype("float32")
    splits = Splits(x[:100], y[:100], x[100:200], y[100:200], x[200:], y[200:], n_classes=2, source="blobs")

    def trial(seed: int) -> None:
        trainer = ClassifierTrainer({**MLP, "seed": seed}, splits)
        trainer.fit()
        trainer.evaluate_test()

    trial(0)
    ClassifierTrainer(MLP, splits)  # the next trial starts: the last one's model is gone
    after_one = _live_graphs()
    for seed in range(1, 5):
        trial(seed)
    ClassifierTrainer(MLP, splits)
    assert _live_graphs() <= after_one
