"""Image classification (MNIST, Fashion-MNIST, pixel-permuted or not): the value is 1 - accuracy."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from datasets import carve, load_images
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

        images = load_images(family.dataset, pins.get("data_dir"))
        val_size = pins.get("val_size", family.budget_defaults()["val_size"])
        check_validation_size(len(images.x_train), val_size, MIN_VALIDATION)
        return f"{fingerprint(images.x_train, images.y_train, images.x_test, images.y_test)} ({images.source})"

    def prepare(self, config: dict[str, Any]) -> Splits:
        import numpy as np

        from datasets.permute import permute_images

        images = permute_images(load_images(config["dataset"], config.get("data_dir")), config.get("permute_seed"))
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

        return ClassifierTrainer(config, splits)
