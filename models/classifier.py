"""One entry point from a configuration to a compiled Keras classifier."""

from __future__ import annotations

from typing import Any

import keras

from models._components import optimizer
from models._config import check_config
from models.cnn import build_cnn
from models.mlp import build_mlp

_BUILDERS = {"mlp": build_mlp, "cnn": build_cnn}


def build_classifier(
    config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int
) -> keras.Model:
    """Build and compile the classifier that ``config`` describes (checked first)."""
    check_config(config)
    model = _BUILDERS[config["model"]](config, input_shape, n_classes)
    model.compile(
        optimizer=optimizer(config),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
