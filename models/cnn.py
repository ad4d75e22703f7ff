"""Convolutional network for small grayscale images, shaped like Geron's chapter-14 CNN."""

from __future__ import annotations

from typing import Any

import keras

from models._components import dense_block, normalise_and_activate, weight_kwargs


def _conv(x: Any, filters: int, kernel: int, config: dict[str, Any]) -> Any:
    return normalise_and_activate(keras.layers.Conv2D(filters, kernel, padding="same", **weight_kwargs(config))(x), config)


def build_cnn(config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """Stem conv -> pool -> ``blocks`` x (``convs_per_block`` convs -> pool) -> dense head.

    Filters double after every block. Geron's network is stem 64 filters 7x7, two blocks of two
    3x3 convs starting at 128 filters, and a 128-64 dense head with dropout 0.5.
    """
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    if len(input_shape) == 2:
        x = keras.layers.Reshape((*input_shape, 1))(x)
    x = _conv(x, config["stem_filters"], config["stem_kernel"], config)
    x = keras.layers.MaxPooling2D(2)(x)
    filters = config["block_filters"]
    for _ in range(config["blocks"]):
        for _ in range(config["convs_per_block"]):
            x = _conv(x, filters, config["kernel_size"], config)
        x = keras.layers.MaxPooling2D(2)(x)
        filters *= 2
    x = keras.layers.Flatten()(x)
    for units in config["dense_units"]:
        x = dense_block(x, units, config)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="class")(x)
    return keras.Model(inputs, outputs, name="cnn")
