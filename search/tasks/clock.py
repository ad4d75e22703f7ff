"""Telling the time from clock photos: the value is the mean common-sense error in minutes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from search import artifacts
from search.tasks._base import Task

if TYPE_CHECKING:
    from datasets import Splits
    from search.training import Trainer
    from studies import StudyFamily

DEFAULT_DATA_DIR = "data/clock"  # where `make demo` renders the synthetic set
SPLIT_SEED = 0


class ClockTask(Task):
    name = "clock"
    reads_clocks = True
    error_label = "validation error (minutes)"

    def check_data(self, family: StudyFamily, pins: dict[str, Any]) -> None:
        from datasets.clock import load_clock_files, test_split
        from datasets.fingerprint import fingerprint
        from datasets.splits import check_validation_size
        from models import MIN_VALIDATION

        folder = pins.get("data_dir") or DEFAULT_DATA_DIR
        images, labels, _ = load_clock_files(folder)  # checks every file, resizes nothing
        _, pool = test_split(len(images))
        val_size = pins.get("val_size", family.budget_defaults()["val_size"])
        check_validation_size(len(pool), val_size, MIN_VALIDATION)
        return f"{fingerprint(images, labels)} ({len(images)} photos in {folder})"

    def cache_dirs(self) -> list[Path]:
        from datasets.clock import DEFAULT_CACHE

        return [DEFAULT_CACHE]

    def prepare(self, config: dict[str, Any]) -> Splits:
        """Clock photos at the config's input size (resized once, cached on disk); labels in minutes."""
        from datasets.clock import load_clock

        return load_clock(
            config.get("data_dir") or DEFAULT_DATA_DIR, size=int(config["input_size"]), seed=SPLIT_SEED,
            val_size=config["val_size"], train_limit=config.get("train_limit"),
        )

    def trainer(self, config: dict[str, Any], splits: Splits) -> Trainer:
        from search.tasks.clock_trainer import ClockTrainer

        return ClockTrainer(config, splits)

    def format_value(self, value: float) -> str:
        return f"{value:.2f} min"

    def test_line(self, metrics: dict[str, Any]) -> str:
        if metrics.get("test_mean") is None:
            return "not tested"
        line = f"test error {metrics['test_mean']:.2f} min mean, {metrics['test_median']:.2f} median"
        if metrics.get("test_within_10") is not None:
            line += f", {metrics['test_within_10']:.0%} within 10 min"
        return line

    def note(self, params: dict[str, Any], metrics: dict[str, Any]) -> str:
        text = super().note(params, metrics)
        if metrics.get("test_hour_off") is not None:
            text += f"\n- {metrics['test_hour_off']:.0%} of the test photos read about an hour off (50-70 min)"
        return text

    def summary_notes(self, study: optuna.Study, best: optuna.trial.FrozenTrial) -> list[str]:
        sheet = artifacts.find_artifact(best, study._storage, artifacts.CONTACT_SHEET)
        if sheet is None:
            return []
        path = artifacts.study_artifact_dir(study) / sheet
        return [f"test photos of trial #{best.number}, predicted / true time: {path} ({artifacts.CONTACT_SHEET})"]

    def extra_artifacts(self, trial: optuna.Trial, trainer: Trainer) -> None:
        s = trainer.splits
        # The test predictions evaluate_test just made: no second pass over the test photos.
        pred = trainer.test_minutes if trainer.test_minutes is not None else trainer.predict_minutes(s.x_test)
        artifacts.upload_predictions(trial, s.x_test, s.y_test, pred)
