"""The model part of a trial configuration: which keys a builder reads, and their checks.

A configuration is a plain JSON dict (see GUIDE.md). Builders trust it, so everything that
reaches a builder from outside (an exported file, ``--set``) goes through :func:`check_config`
first, which names the offending key instead of failing deep inside Keras.
"""

from __future__ import annotations

from typing import Any

INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "gelu", "swish", "tanh")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "nadam")
REGULARIZERS = ("none", "l1", "l2", "l1_l2")
# Learning rate over a trial's epochs (search.training applies them); absent means constant.
LR_SCHEDULES = ("constant", "cosine", "plateau")

# Clock vocabulary (the builders are in models.clock and models.clock_heads).
HEADS = ("regression", "classification", "multi", "periodic")
CLASS_COUNTS = (12, 24, 48, 72, 144, 360, 720)
REGRESSION_LOSSES = ("mse", "circular")
MINUTE_HEADS = ("regression", "classification", "sincos")
# The searched augmentation presets; a config may also name transforms joined by "+" (rotate+noise).
AUGMENTATIONS = ("none", "light", "strong")
AUGMENT_TRANSFORMS = ("rotate", "shift", "scale", "perspective", "brightness", "contrast", "noise")
# The clock backbone's alignment stage (models.align); absent means none, as in older configs.
ALIGNMENTS = ("none", "affine", "perspective")
HEAD_KEYS: dict[str, dict[str, Any]] = {
    "regression": {"regression_loss": REGRESSION_LOSSES},
    "classification": {"classes": CLASS_COUNTS},
    "multi": {"minute_head": MINUTE_HEADS},
    "periodic": {"pairs": (1, 2)},
}

# Keys every optimizer choice adds on top of the common ones.
OPTIMIZER_KEYS: dict[str, dict[str, type]] = {
    "sgd": {},
    "momentum": {"momentum": float, "nesterov": bool},
    "adam": {"beta_1": float},
    "adamw": {"beta_1": float, "weight_decay": float},
    "rmsprop": {"rho": float},
    "nadam": {"beta_1": float},
}

_COMMON: dict[str, Any] = {
    "model": ("mlp", "cnn", "clock"),
    "initializer": INITIALIZERS,
    "activation": ACTIVATIONS,
    "optimizer": OPTIMIZERS,
    "learning_rate": float,
    "regularizer": REGULARIZERS,
    "dropout": float,
    "batch_norm": bool,
    "batch_size": int,
}
_BY_MODEL: dict[str, dict[str, Any]] = {
    "mlp": {"hidden_units": list},
    "cnn": {
        "stem_filters": int,
        "stem_kernel": int,
        "blocks": int,
        "block_filters": int,
        "convs_per_block": int,
        "kernel_size": int,
        "dense_units": list,
    },
    "clock": {
        "head": HEADS,
        "input_size": int,
        "augment": "augment",
        "conv_blocks": int,
        "filters": int,
        "kernel_size": int,
        "first_stride": int,
        "pooling": ("max", "avg"),
        "global_pool": bool,
        "dense_units": "count",
    },
}


class ConfigError(ValueError):
    """A configuration that no model can be built from; the message names the key."""


def required_keys(config: dict[str, Any]) -> dict[str, Any]:
    """The keys (with their type or allowed values) that this configuration must have."""
    spec = dict(_COMMON)
    spec.update(_BY_MODEL.get(config.get("model"), {}))
    spec.update(OPTIMIZER_KEYS.get(config.get("optimizer"), {}))
    if config.get("model") == "clock":
        spec.update(HEAD_KEYS.get(config.get("head"), {}))
    if config.get("regularizer", "none") != "none":
        spec["reg_strength"] = float
    return spec


def check_config(config: Any) -> dict[str, Any]:
    """Return ``config`` if a model can be built from it, else raise :class:`ConfigError`."""
    if not isinstance(config, dict):
        raise ConfigError(f"a config must be a JSON object, not {type(config).__name__}")
    for key, kind in required_keys(config).items():
        if key not in config:
            raise ConfigError(f"config key '{key}' is missing")
        value = config[key]
        if isinstance(kind, tuple):
            if value not in kind:
                raise ConfigError(f"config key '{key}' is {value!r}; expected one of {list(kind)}")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"config key '{key}' must be a number, not {value!r}")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"config key '{key}' must be a positive integer, not {value!r}")
        elif kind == "count":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"config key '{key}' must be a whole number (0 or more), not {value!r}")
        elif kind == "augment":
            parts = value.split("+") if isinstance(value, str) else [None]
            if value not in AUGMENTATIONS and not all(p in AUGMENT_TRANSFORMS for p in parts):
                raise ConfigError(
                    f"config key 'augment' is {value!r}; expected one of {list(AUGMENTATIONS)} "
                    f"or transforms joined by '+' from {list(AUGMENT_TRANSFORMS)}"
                )
        elif kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"config key '{key}' must be true or false, not {value!r}")
        elif kind is list:
            if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
            ):
                raise ConfigError(f"config key '{key}' must be a list of positive integers, not {value!r}")
    if not 0.0 <= config["dropout"] < 1.0:
        raise ConfigError(f"config key 'dropout' must be in [0, 1), not {config['dropout']!r}")
    if config.get("lr_schedule", "constant") not in LR_SCHEDULES:
        raise ConfigError(f"config key 'lr_schedule' is {config['lr_schedule']!r}; expected one of {list(LR_SCHEDULES)}")
    if config.get("model") == "clock" and config.get("align", "none") not in ALIGNMENTS:
        raise ConfigError(f"config key 'align' is {config['align']!r}; expected one of {list(ALIGNMENTS)}")
    if config["learning_rate"] <= 0:
        raise ConfigError(f"config key 'learning_rate' must be positive, not {config['learning_rate']!r}")
    return config
