"""Keras model builders. Everything here is built from a plain config dict; nothing knows Optuna.

This package's ``__init__`` only holds the configuration vocabulary and its checks, so that the
CLI can validate a config without importing TensorFlow; ``models.classifier`` builds the models.
"""

from models._config import (
    ACTIVATIONS,
    INITIALIZERS,
    LR_SCHEDULES,
    OPTIMIZER_KEYS,
    OPTIMIZERS,
    REGULARIZERS,
    KEYS,
    MIN_VALIDATION,
    ConfigError,
    as_floats,
    Key,
    check_config,
    check_values,
    describe,
    key_spec,
)

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "OPTIMIZER_KEYS",
    "REGULARIZERS",
    "KEYS",
    "MIN_VALIDATION",
    "ConfigError",
    "as_floats",
    "Key",
    "check_config",
    "check_values",
    "describe",
    "key_spec",
]
