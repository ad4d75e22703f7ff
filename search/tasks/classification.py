"""Image classification (MNIST, Fashion-MNIST, pixel-permuted or not): the value is 1 - accuracy."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from datasets import DataError, ImageData, carve, load_images
from search.tasks._base import Task

if TYPE_CHECKING:
    from datasets import Splits
    from search.training import Trainer
    from studies import StudyFamily

log = logging.getLogger(__name__)

SPLIT_SEED = 0  # the validation split is fixed for a study: every trial is judged on the same images


class ClassificationTask(Task):
    name = "classification"

    def check_data(self, family: StudyFamily, pins: dict[str, Any]) -> str:
        from datasets.fingerprint import fingerprint
        from datasets.splits import check_validation_size
        from models import MIN_VALIDATION

        images = _images(family, family.full_config(family.reference, pins, seed=0))
        val_size = pins.get("val_size", family.budget_defaults()["val_size"])
        check_validation_size(len(images.x_train), val_size, MIN_VALIDATION)
        if family.builder is not None:
            _check_builder(family, pins, images)
        return f"{fingerprint(images.x_train, images.y_train, images.x_test, images.y_test)} ({images.source})"

    def prepare(self, config: dict[str, Any]) -> Splits:
        import numpy as np

        from datasets.permute import permute_images

        images = permute_images(_images(_family(config), config), config.get("permute_seed"))
        splits = carve(
            images.x_train, images.y_train, np.arange(len(images.x_train)), images.x_test, images.y_test,
            val_size=config["val_size"], seed=SPLIT_SEED, train_limit=config.get("train_limit"),
            n_classes=images.n_classes, source=images.source,
        )
        log.info(
            "%s from %s: %d train, %d validation, %d test",
            config["dataset"], images.source, len(splits.x_train), len(splits.x_val), len(splits.x_test),
        )
        return splits

    def trainer(self, config: dict[str, Any], splits: Splits) -> Trainer:
        from search.training import ClassifierTrainer

        family = _family(config)
        return ClassifierTrainer(config, splits, family.builder if family else None)


def _family(config: dict[str, Any]) -> StudyFamily | None:
    """The config's family (None for a bare data config, as the permutation runs and tests make)."""
    from studies import get_family

    return get_family(config["family"], config.get("family_sha256")) if "family" in config else None


def _images(family: StudyFamily | None, config: dict[str, Any]) -> ImageData:
    """The family's images: a family file's loader, else the named dataset (MNIST, Fashion-MNIST)."""
    if family is None or family.loader is None:
        return load_images(config["dataset"], config.get("data_dir"))
    from datasets.mnist import checked_arrays
    from studies import FamilyFileError

    try:
        arrays = family.loader(config)
    except Exception as exc:  # noqa: BLE001 - the user's loader: one line
        raise FamilyFileError(f"{family.source}: data(config) fails: {type(exc).__name__}: {exc}") from None
    try:
        return checked_arrays(arrays, f"{family.source} data(config)")
    except DataError as exc:
        raise FamilyFileError(str(exc)) from None


def _check_builder(family: StudyFamily, pins: dict[str, Any], images: ImageData) -> None:
    """Build the reference model once before any worker starts: it must take the images and give
    one probability per class (imports Keras: only family files pay for it at launch)."""
    from search.training import family_model
    from studies import FamilyFileError

    config = family.full_config(family.reference, pins, seed=0)
    shape, classes = tuple(images.x_train.shape[1:]), images.n_classes
    model = family_model(family.builder, config, shape, classes, family.source)
    want = (None, classes)
    if tuple(model.input_shape) != (None, *shape) or tuple(model.output_shape) != want:
        raise FamilyFileError(
            f"{family.source}: build(config, {shape}, {classes}) gives a model from {model.input_shape} to "
            f"{model.output_shape}; a classifier of these images must go from {(None, *shape)} to {want}"
        )
