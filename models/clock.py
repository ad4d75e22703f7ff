"""The clock-reading CNN: a searched convolutional backbone under one of the clock heads."""

from __future__ import annotations

from typing import Any

import keras

from models._components import dense_block, normalise_and_activate, optimizer, weight_kwargs
from models.align import STAGES, SpatialTransformer
from models.clock_heads import ClockHead


def build_clock_model(config: dict[str, Any], head: ClockHead) -> keras.Model:
    """uint8 S x S photo -> backbone -> ``head`` outputs, compiled with the head's losses.

    Augmentation is not part of the model: the trainer changes the training photos as they are
    drawn (``search.training.AugmentedBatches``), so a saved model holds only what reads clocks.

    An optional alignment stage (``align``: affine or perspective, :mod:`models.align`; which
    stage, ``align_stage``: absent means the first) resamples the photo before the backbone.
    Backbone: ``conv_blocks`` blocks of conv (-> batch norm) -> activation -> pooling, filters
    doubling per block up to 256, the first conv with ``first_stride``; then global average
    pooling or flatten, and an optional dense layer.
    """
    size = int(config["input_size"])
    inputs = keras.Input(shape=(size, size), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Reshape((size, size, 1))(x)
    if config.get("align", "none") != "none":  # older configs have no alignment stage
        x = SpatialTransformer(config["align"], name="align", **STAGES[int(config.get("align_stage", 1))])(x)
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
    model.compile(optimizer=optimizer(config), loss=head.losses(), loss_weights=head.loss_weights(), metrics=head.metrics() or None)
    return model
