"""The clock-reading CNN: a searched convolutional backbone under one of the clock heads."""

from __future__ import annotations

from typing import Any

import keras

from models._components import dense_block, normalise_and_activate, optimizer, weight_kwargs
from models._config import AUGMENTATIONS  # noqa: F401 (re-exported)
from models.align import SpatialTransformer
from models.clock_heads import ClockHead


def augmentation(kind: str) -> list[keras.layers.Layer]:
    """Label-preserving augmentation, active in training only.

    The photos show the clock at any in-plane angle, so rotating the whole image keeps the time
    (numerals rotate with the hands); mirroring would not, and is never used.
    """
    if kind == "none":
        return []
    light = [
        keras.layers.RandomTranslation(0.05, 0.05, fill_mode="reflect"),
        keras.layers.RandomContrast(0.2),
        keras.layers.RandomBrightness(0.1, value_range=(0.0, 1.0)),
    ]
    if kind == "light":
        return light
    return [keras.layers.RandomRotation(0.5, fill_mode="reflect"), *light, keras.layers.GaussianNoise(0.03)]


def build_clock_model(config: dict[str, Any], head: ClockHead) -> keras.Model:
    """uint8 S x S photo -> backbone -> ``head`` outputs, compiled with the head's losses.

    An optional alignment stage (``align``: affine or perspective, :mod:`models.align`) resamples
    the photo before the backbone. Backbone: ``conv_blocks`` blocks of conv (-> batch norm) -> activation -> pooling, filters
    doubling per block up to 256, the first conv with ``first_stride``; then global average
    pooling or flatten, and an optional dense layer.
    """
    size = int(config["input_size"])
    inputs = keras.Input(shape=(size, size), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Reshape((size, size, 1))(x)
    for layer in augmentation(config["augment"]):
        x = layer(x)
    if config.get("align", "none") != "none":  # older configs have no alignment stage
        x = SpatialTransformer(config["align"], name="align")(x)
    filters, side = int(config["filters"]), size
    pool = keras.layers.MaxPooling2D if config["pooling"] == "max" else keras.layers.AveragePooling2D
    for block in range(int(config["conv_blocks"])):
        stride = int(config["first_stride"]) if block == 0 else 1
        conv = keras.layers.Conv2D(filters, int(config["kernel_size"]), strides=stride, padding="same", **weight_kwargs(config))
        x = normalise_and_activate(conv(x), config)
        side = -(-side // stride)
        if side >= 4:  # stop halving once the map is tiny
            x = pool(2)(x)
            side //= 2
        filters = min(filters * 2, 256)
    x = keras.layers.GlobalAveragePooling2D()(x) if config["global_pool"] else keras.layers.Flatten()(x)
    if config["dense_units"]:
        x = dense_block(x, int(config["dense_units"]), config)
    model = keras.Model(inputs, head.outputs(x, config), name="clock")
    model.compile(optimizer=optimizer(config), loss=head.losses(), metrics=head.metrics() or None)
    return model
