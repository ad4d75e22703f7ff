"""``predict``: read the time from photos with a model directory written by ``train``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from datasets.photos import read_photos
from search.errors import UserError


def load_model_dir(model_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The Keras model and its config from a ``train`` output directory (or its model.keras)."""
    folder = model_dir.parent if model_dir.suffix == ".keras" else model_dir
    model_path, config_path = folder / "model.keras", folder / "config.json"
    for path in (model_path, config_path):
        if not path.is_file():
            raise UserError(f"{path} not found: MODEL is a directory written by `python -m search train`")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{config_path}: not valid JSON ({exc.msg})") from None
    import keras

    import models.align  # noqa: F401  registers the alignment stage a clock model may hold
    import models.clock_heads  # noqa: F401  registers the custom losses the saved model names

    return keras.models.load_model(model_path), config


def _reads_clocks(config: dict[str, Any]) -> bool:
    from search.tasks import task_of_config

    try:
        return task_of_config(config).reads_clocks
    except KeyError:  # no family recorded, or one this version does not know
        return False


def run_predict(model_dir: Path, inputs: list[str], out: Path) -> dict[str, float] | None:
    """Write one CSV row per image; return the error summary (clocks) or the accuracy (classifiers)
    when the inputs carry labels."""
    model, config = load_model_dir(model_dir)
    if not _reads_clocks(config):
        return _predict_classes(model, inputs, out)
    from models.clock_heads import head_from_config, read_clocks, turns_of
    from datasets.clocktime import common_sense_error, error_summary, split_minutes, to_minutes

    photos = read_photos(inputs, int(config["input_size"]))
    minutes = read_clocks(model, head_from_config(config), photos.images, turns_of(config))
    hours, mins = split_minutes(minutes)
    errors = None
    if photos.labels is not None:
        errors = common_sense_error(to_minutes(photos.labels[:, 0], photos.labels[:, 1]), minutes)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "hour", "minute"] + (["true_hour", "true_minute", "error_minutes"] if errors is not None else []))
        for i, name in enumerate(photos.names):
            row = [name, int(hours[i]), int(mins[i])]
            if errors is not None:
                row += [int(photos.labels[i, 0]), int(photos.labels[i, 1]), round(float(errors[i]), 2)]
            writer.writerow(row)
    return error_summary(errors) if errors is not None else None


def _predict_classes(model: Any, inputs: list[str], out: Path) -> dict[str, float] | None:
    """A classifier: one row per image with its class and that class's probability (and, for an
    .npz with ``x`` and ``y``, the true class)."""
    import numpy as np

    side = int(model.input_shape[1])
    labels = None
    if len(inputs) == 1 and str(inputs[0]).endswith(".npz"):
        try:
            with np.load(inputs[0]) as data:
                images = np.asarray(data["x"])
                labels = np.asarray(data["y"]) if "y" in data else None
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{inputs[0]}: expected an .npz with x (and y): {exc}") from None
        if images.shape[1:] != tuple(model.input_shape[1:]):
            raise UserError(f"{inputs[0]}: images are {images.shape[1:]}; the model reads {tuple(model.input_shape[1:])}")
        names = [f"{inputs[0]}[{i}]" for i in range(len(images))]
    else:
        photos = read_photos(inputs, side)
        images, names = photos.images, photos.names
    probs = model.predict(images, batch_size=256, verbose=0)
    classes = probs.argmax(axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "class", "probability"] + (["true_class"] if labels is not None else []))
        for i, name in enumerate(names):
            row = [name, int(classes[i]), round(float(probs[i, classes[i]]), 4)]
            writer.writerow(row + ([int(labels[i])] if labels is not None else []))
    return {"accuracy": float((classes == labels).mean())} if labels is not None else None


def format_summary(summary: dict[str, float], n: int) -> str:
    if "accuracy" in summary:
        return f"accuracy over {n} images: {summary['accuracy']:.4f}"
    return (
        f"common-sense error over {n} images: mean {summary['mean']:.2f} min, median {summary['median']:.2f}, "
        f"90th percentile {summary['p90']:.2f}; within 1 min {summary['within_1']:.1%}, "
        f"5 min {summary['within_5']:.1%}, 10 min {summary['within_10']:.1%}"
    )


__all__ = ["format_summary", "load_model_dir", "run_predict"]
