"""Every choice of every search dimension builds a model that trains and predicts 10 classes."""

from __future__ import annotations

import numpy as np
import pytest

from models import ACTIVATIONS, INITIALIZERS, OPTIMIZERS, REGULARIZERS
from studies._classic import CNN_REFERENCE, MLP_REFERENCE

keras = pytest.importorskip("keras")
from models.classifier import build_classifier  # noqa: E402

OPTIMIZER_EXTRAS = {
    "sgd": {},
    "momentum": {"momentum": 0.9, "nesterov": True},
    "adam": {"beta_1": 0.9},
    "adamw": {"beta_1": 0.9, "weight_decay": 1e-4},
    "rmsprop": {"rho": 0.9},
    "nadam": {"beta_1": 0.9},
}

VARIANTS = (
    [("initializer", v, {}) for v in INITIALIZERS]
    + [("activation", v, {}) for v in ACTIVATIONS]
    + [("optimizer", v, OPTIMIZER_EXTRAS[v]) for v in OPTIMIZERS]
    + [("regularizer", v, {"reg_strength": 1e-4}) for v in REGULARIZERS]
    + [("dropout", 0.3, {}), ("batch_norm", True, {}), ("batch_size", 256, {})]
)
ARCHITECTURES = {
    "mlp": [{"hidden_units": [16]}, {"hidden_units": [32, 16, 16, 8]}],
    "cnn": [
        {"stem_filters": 16, "stem_kernel": 3, "blocks": 1, "block_filters": 32, "convs_per_block": 1, "kernel_size": 5, "dense_units": []},
        {"stem_filters": 16, "stem_kernel": 7, "blocks": 2, "block_filters": 32, "convs_per_block": 2, "kernel_size": 3, "dense_units": [32, 32]},
    ],
}
TINY_CNN = {"stem_filters": 8, "block_filters": 8, "dense_units": [16]}


def _base(model: str) -> dict:
    return dict(MLP_REFERENCE if model == "mlp" else {**CNN_REFERENCE, **TINY_CNN})


def _trains_and_predicts(config: dict) -> None:
    model = build_classifier(config, (28, 28), 10)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(8, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=8)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (8, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    assert np.isfinite(probs).all()


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("key,value,extra", VARIANTS, ids=[f"{k}={v}" for k, v, _ in VARIANTS])
def test_every_dimension_choice_builds(model: str, key: str, value, extra: dict) -> None:
    config = _base(model)
    for k in ("momentum", "nesterov", "beta_1", "weight_decay", "rho"):
        config.pop(k, None)
    config.update({key: value, **extra})
    if key != "optimizer":
        config.update({"optimizer": "sgd"})
    _trains_and_predicts(config)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("index", [0, 1])
def test_architecture_extremes_build(model: str, index: int) -> None:
    _trains_and_predicts({**_base(model), **ARCHITECTURES[model][index]})


def test_reference_networks_have_the_textbook_size() -> None:
    # 784*300+300 + 300*100+100 + 100*10+10 = 266,610 (Geron, chapter 10)
    assert build_classifier(MLP_REFERENCE, (28, 28), 10).count_params() == 266_610
    cnn = build_classifier(CNN_REFERENCE, (28, 28), 10)
    # 64 7x7 -> pool -> 2 x 128 -> pool -> 2 x 256 -> pool -> 128 -> 64 -> 10: 1,413,834 weights
    assert cnn.count_params() == 1_413_834
    assert cnn.output_shape == (None, 10)
