"""A family file: a small residual CNN on Fashion-MNIST, searched by Clockwork.

    python -m search launch examples/resnet_fashion.py --workers 2 --trials 4 --set epochs=1

Nothing here imports Clockwork: a family file is a dict of plain parts (see docs/studies.md,
"Your own family"). ``build`` returns an uncompiled model, so Clockwork compiles it with the
config's ``optimizer`` and ``learning_rate`` (the same optimizer vocabulary as the built-in
families); it could also compile the model itself, with an ``accuracy`` metric.
"""

import keras


def space(trial):
    """The model part of the config: what a trial searches."""
    config = {
        "stem_filters": trial.suggest_categorical("stem_filters", [16, 32]),
        "stages": trial.suggest_int("stages", 1, 3),
        "blocks_per_stage": trial.suggest_int("blocks_per_stage", 1, 2),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "optimizer": trial.suggest_categorical("optimizer", ["adam", "nadam"]),
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [64, 128]),
    }
    config["beta_1"] = 0.9  # the Adam family's first-moment decay, which Clockwork's optimizer reads
    return config


def _residual(x, filters, stride):
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = keras.layers.BatchNormalization()(shortcut)
    return keras.layers.Activation("relu")(keras.layers.Add()([y, shortcut]))


def build(config, input_shape, n_classes):
    """uint8 images H x W -> class probabilities: a stem, stages of residual blocks, global pooling."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Reshape((*input_shape, 1))(x)
    filters = config["stem_filters"]
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    for stage in range(config["stages"]):
        for block in range(config["blocks_per_stage"]):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _residual(x, filters, stride)
        filters *= 2
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(config["dropout"])(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x), name="resnet_fashion")


FAMILY = {
    "summary": "a small residual CNN on Fashion-MNIST: stages, blocks, width, dropout, Adam or Nadam",
    "task": "classification",
    "space": space,
    "build": build,
    "data": "fashion",  # Debian's dataset-fashion-mnist, or --set data_dir=...
    "reference": {"stem_filters": 16, "stages": 2, "blocks_per_stage": 1, "dropout": 0.2,
                  "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 128},
    "budget": {"epochs": 3},
}
