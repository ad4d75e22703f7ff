"""Task one of the assignment: MLPs and CNNs on MNIST and Fashion-MNIST.

The spaces cover initializers, activations, optimizers with their main hyperparameters,
regularizers, architecture and batch size. Conditional parameters are only asked for when their
parent choice is taken (momentum only for SGD with momentum), which TPE handles with ``group=True``.
"""

from __future__ import annotations

from typing import Any

from models import ACTIVATIONS, INITIALIZERS, LR_SCHEDULES, OPTIMIZERS, REGULARIZERS
from studies._family import StudyFamily


def _training(
    trial: Any,
    optimizers: tuple[str, ...] = OPTIMIZERS,
    learning_rates: tuple[float, float] = (1e-4, 1e-1),
    regularizers: tuple[str, ...] = REGULARIZERS,
    batch_sizes: tuple[int, ...] = (32, 64, 128, 256),
    *,
    warmup: tuple[int, int] = (0, 2),
    warm_every_schedule: bool = False,
    dropout: tuple[float, float] = (0.0, 0.5),
    batch_norm: tuple[bool, ...] = (False, True),
) -> dict[str, Any]:
    """Optimizer, regularizer and batch size: the part every space shares (the clock's on its own
    priors, studies/clock.py). ``batch_norm`` of one value is fixed, not searched; a warm-up is
    searched with every schedule when ``warm_every_schedule``, else with cosine only."""
    config: dict[str, Any] = {
        "initializer": trial.suggest_categorical("initializer", INITIALIZERS),
        "activation": trial.suggest_categorical("activation", ACTIVATIONS),
        "optimizer": trial.suggest_categorical("optimizer", optimizers),
        "learning_rate": trial.suggest_float("learning_rate", *learning_rates, log=True),
        "lr_schedule": trial.suggest_categorical("lr_schedule", LR_SCHEDULES),
    }
    if config["lr_schedule"] == "cosine" or warm_every_schedule:
        config["warmup_epochs"] = trial.suggest_int("warmup_epochs", *warmup)
    optimizer = config["optimizer"]
    if optimizer == "momentum":
        config["momentum"] = trial.suggest_float("momentum", 0.5, 0.99)
        config["nesterov"] = trial.suggest_categorical("nesterov", (False, True))
    elif optimizer in ("adam", "adamw", "nadam"):
        config["beta_1"] = trial.suggest_float("beta_1", 0.8, 0.95)
        if optimizer == "adamw":
            config["weight_decay"] = trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True)
    elif optimizer == "rmsprop":
        config["rho"] = trial.suggest_float("rho", 0.8, 0.99)
    config["regularizer"] = trial.suggest_categorical("regularizer", regularizers)
    if config["regularizer"] != "none":
        config["reg_strength"] = trial.suggest_float("reg_strength", 1e-6, 1e-2, log=True)
    config["dropout"] = trial.suggest_float("dropout", *dropout)
    config["batch_norm"] = trial.suggest_categorical("batch_norm", batch_norm) if len(batch_norm) > 1 else batch_norm[0]
    config["batch_size"] = trial.suggest_categorical("batch_size", batch_sizes)
    return config


def mlp_space(trial: Any) -> dict[str, Any]:
    n_layers = trial.suggest_int("n_layers", 1, 4)
    units = [trial.suggest_int(f"units_{i}", 16, 1024, log=True) for i in range(n_layers)]
    return {"model": "mlp", "hidden_units": units, **_training(trial)}


def cnn_space(trial: Any) -> dict[str, Any]:
    n_dense = trial.suggest_int("n_dense", 0, 2)
    return {
        "model": "cnn",
        "stem_filters": trial.suggest_categorical("stem_filters", (16, 32, 64)),
        "stem_kernel": trial.suggest_categorical("stem_kernel", (3, 5, 7)),
        # 28 px halves after the stem and after every block: two blocks leave 3 x 3.
        "blocks": trial.suggest_int("blocks", 1, 2),
        "block_filters": trial.suggest_categorical("block_filters", (32, 64, 128)),
        "convs_per_block": trial.suggest_int("convs_per_block", 1, 2),
        "kernel_size": trial.suggest_categorical("kernel_size", (3, 5)),
        "dense_units": [trial.suggest_categorical(f"dense_{i}", (32, 64, 128, 256)) for i in range(n_dense)],
        **_training(trial),
    }


def _textbook(**choices: Any) -> dict[str, Any]:
    """The training part of a textbook reference: ReLU, no regularizer or batch norm, batch 32,
    a constant learning rate, plus the network's own ``choices``."""
    return {"activation": "relu", "regularizer": "none", "batch_norm": False, "batch_size": 32,
            "lr_schedule": "constant", **choices}


def _params(reference: dict[str, Any], derived: tuple[str, ...], **shape: Any) -> dict[str, Any]:
    """A reference as the trial parameters that produce it: ``shape`` for the keys the space
    derives from several parameters (``derived``), every other key as it is."""
    return {**shape, **{k: v for k, v in reference.items() if k != "model" and k not in derived}}


# Geron, Hands-On Machine Learning, chapter 10: Flatten-300-100-10, ReLU, plain SGD at 0.01.
MLP_REFERENCE: dict[str, Any] = {
    "model": "mlp", "hidden_units": [300, 100],
    **_textbook(initializer="glorot_uniform", optimizer="sgd", learning_rate=0.01, dropout=0.0),
}
MLP_REFERENCE_PARAMS = _params(MLP_REFERENCE, ("hidden_units",), n_layers=2, units_0=300, units_1=100)

# Geron, chapter 14: 64 7x7, pool, 2 x 128 3x3, pool, 2 x 256 3x3, pool, dense 128-64 with
# dropout 0.5, He initialisation, Nadam.
CNN_REFERENCE: dict[str, Any] = {
    "model": "cnn", "stem_filters": 64, "stem_kernel": 7, "blocks": 2, "block_filters": 128,
    "convs_per_block": 2, "kernel_size": 3, "dense_units": [128, 64],
    **_textbook(initializer="he_normal", optimizer="nadam", learning_rate=0.001, beta_1=0.9, dropout=0.5),
}
CNN_REFERENCE_PARAMS = _params(CNN_REFERENCE, ("dense_units",), n_dense=2, dense_0=128, dense_1=64)

_DATASETS = {"mnist": "MNIST digits", "fashion": "Fashion-MNIST"}


# Per network: its space, reference, default epochs and what its summary says is searched.
_NETWORKS = {
    "mlp": (mlp_space, MLP_REFERENCE, MLP_REFERENCE_PARAMS, 10, "depth, units, init, activation, optimizer, regularizer"),
    "cnn": (cnn_space, CNN_REFERENCE, CNN_REFERENCE_PARAMS, 5,
            "blocks, filters, kernels, dense head, init, optimizer, regularizer"),
}


def classic_families() -> list[StudyFamily]:
    return [
        StudyFamily(
            name=f"{dataset}-{network}",
            summary=f"{network.upper()} on {title}: {searched}",
            dataset=dataset,
            space=space,
            reference=reference,
            reference_params=params,
            budget={"epochs": epochs},
        )
        for dataset, title in _DATASETS.items()
        for network, (space, reference, params, epochs, searched) in _NETWORKS.items()
    ]
