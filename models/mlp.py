"""Multi-layer perceptron for small grayscale images."""

from __future__ import annotations

from typing import Any

import keras

from models._components import dense_block


def build_mlp(config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """Flatten -> hidden dense blocks -> softmax.

    The model takes raw uint8 pixels and rescales them itself, so a saved model is usable on
    images as they come, and workers keep their data as compact uint8 arrays.
    """
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    for units in config["hidden_units"]:
        x = dense_block(x, units, config)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="class")(x)
    return keras.Model(inputs, outputs, name="mlp")
