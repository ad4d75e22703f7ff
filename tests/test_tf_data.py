"""A trial's Keras input pipelines run without tf.data's autotuning, unless the user says otherwise.

With autotuning on, every new iterator (each epoch, each ``predict``) waited for the previous
one's tuning thread, and a one-thread worker sat idle for up to 50 s at a clock epoch's end
(BENCHMARKS.md, "tf.data's autotuning"). The pipelines checked are the ones Keras builds for a
trial: numpy arrays (``fit`` without augmentation, validation, ``predict``) and the augmented
batches of a clock trial; the batches must come out as they went in.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

PIPELINES = """
import numpy as np
import keras
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter
from datasets import Splits
from search.training import AugmentedBatches, ClassifierTrainer

x = np.arange(20 * 4 * 4, dtype=np.float32).reshape(20, 4, 4)
y = np.arange(20) % 2
splits = Splits(x[:12], y[:12], x[12:16], y[12:16], x[16:], y[16:], n_classes=2, source="ramp")
ClassifierTrainer({"model": "mlp", "hidden_units": [4], "initializer": "glorot_uniform", "activation": "relu",
                   "optimizer": "sgd", "learning_rate": 0.05, "regularizer": "none", "dropout": 0.0,
                   "batch_norm": False, "batch_size": 4, "epochs": 1, "seed": 0}, splits)
arrays = ArrayDataAdapter(x, y, batch_size=8, shuffle=False).get_tf_dataset()
batches = AugmentedBatches(x.astype(np.uint8), {"t": y.astype(np.float32)}, 8, ("shift",), seed=0)
augmented = PyDatasetAdapter(batches).get_tf_dataset()
got = np.concatenate([b[0].numpy() for b in arrays])
assert np.array_equal(got, x), "the array pipeline changed the photos"
assert sum(len(b[0]) for b in augmented) == 20
print("off" if arrays.options().autotune.enabled is False else "default", "off" if augmented.options().autotune.enabled is False else "default")
"""


def _autotune(setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CLOCKWORK_TF_DATA_AUTOTUNE"}
    env["KERAS_BACKEND"] = "tensorflow"
    if setting is not None:
        env["CLOCKWORK_TF_DATA_AUTOTUNE"] = setting
    result = subprocess.run(
        [sys.executable, "-c", PIPELINES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(("setting", "expected"), [(None, "off off"), ("on", "default default")])
def test_a_trainer_turns_tf_data_autotuning_off_unless_the_user_says_on(setting, expected) -> None:
    assert _autotune(setting) == expected
