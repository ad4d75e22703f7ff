"""Keras objects named by a configuration: initializers, activations, regularizers, optimizers."""

from __future__ import annotations

from typing import Any

import keras


def regularizer(config: dict[str, Any]) -> keras.regularizers.Regularizer | None:
    kind, strength = config["regularizer"], config.get("reg_strength", 0.0)
    if kind == "none":
        return None
    if kind == "l1":
        return keras.regularizers.L1(strength)
    if kind == "l2":
        return keras.regularizers.L2(strength)
    return keras.regularizers.L1L2(l1=strength, l2=strength)


def activation(config: dict[str, Any]) -> keras.layers.Layer:
    """A separate activation layer, so batch normalisation can sit between it and the weights."""
    name = config["activation"]
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.2)
    return keras.layers.Activation(name)


def optimizer(config: dict[str, Any]) -> keras.optimizers.Optimizer:
    name, lr = config["optimizer"], float(config["learning_rate"])  # JSON may give an int
    # ema_momentum: Keras' own moving average of the weights (search.training swaps it in to judge)
    momentum = float(config.get("ema_momentum") or 0)
    kw: dict[str, Any] = {"learning_rate": lr, **({"use_ema": True, "ema_momentum": momentum} if momentum else {})}
    if name == "sgd":
        return keras.optimizers.SGD(**kw)
    if name == "momentum":
        return keras.optimizers.SGD(**kw, momentum=config["momentum"], nesterov=config["nesterov"])
    if name == "adam":
        return keras.optimizers.Adam(**kw, beta_1=config["beta_1"])
    if name == "adamw":
        return keras.optimizers.AdamW(**kw, beta_1=config["beta_1"], weight_decay=config["weight_decay"])
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**kw, rho=config["rho"])
    if name == "nadam":
        return keras.optimizers.Nadam(**kw, beta_1=config["beta_1"])
    raise ValueError(f"unknown optimizer {name!r}")


def weight_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """Initializer, regularizer and bias of a Dense or Conv2D layer (no bias before batch norm)."""
    return {
        "kernel_initializer": config["initializer"],
        "kernel_regularizer": regularizer(config),
        "use_bias": not config["batch_norm"],
    }


def normalise_and_activate(x: Any, config: dict[str, Any]) -> Any:
    """[batch norm] -> activation, after every weight layer of the MLP, the CNN and the clock."""
    if config["batch_norm"]:
        x = keras.layers.BatchNormalization()(x)
    return activation(config)(x)


def dense_block(x: Any, units: int, config: dict[str, Any]) -> Any:
    """Dense -> [batch norm] -> activation -> [dropout], the unit both MLP and CNN heads stack."""
    x = normalise_and_activate(keras.layers.Dense(units, **weight_kwargs(config))(x), config)
    if config["dropout"] > 0:
        x = keras.layers.Dropout(config["dropout"])(x)
    return x
