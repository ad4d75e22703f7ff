"""The clock study: every head trains on tiny rendered photos and decodes to valid times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from models._config import CLASS_COUNTS, MINUTE_HEADS
from studies.clock import CLOCK_REFERENCE

keras = pytest.importorskip("keras")
from search.data import prepare  # noqa: E402
from search.tasks.clock_trainer import ClockTrainer  # noqa: E402

TINY_BACKBONE = {"input_size": 32, "conv_blocks": 2, "filters": 8, "dense_units": 16, "batch_size": 32}
HEADS = (
    [{"head": "regression", "regression_loss": loss} for loss in ("mse", "circular")]
    + [{"head": "classification", "classes": n} for n in CLASS_COUNTS]
    + [{"head": "multi", "minute_head": m} for m in MINUTE_HEADS]
    + [{"head": "periodic", "pairs": p} for p in (1, 2)]
)


@pytest.fixture(scope="module")
def clock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets.synth import synthesize

    out = tmp_path_factory.mktemp("clock")
    synthesize(out, 300, seed=3, style="clean")
    return out


def _config(clock_dir: Path, **changes) -> dict:
    config = {**CLOCK_REFERENCE, **TINY_BACKBONE, "family": "clock", "dataset": "clock", "epochs": 1,
              "val_size": 100, "train_limit": None, "data_dir": str(clock_dir), "seed": 0}
    if "head" in changes:  # a new head brings its own conditional keys
        for key in ("minute_head", "regression_loss", "classes", "pairs"):
            config.pop(key, None)
    config.update(changes)
    return config


@pytest.mark.parametrize("head", HEADS, ids=["-".join(map(str, h.values())) for h in HEADS])
def test_every_head_trains_and_predicts_decodable_times(clock_dir: Path, head: dict) -> None:
    config = _config(clock_dir, **head)
    trainer = ClockTrainer(config, prepare(config))
    trainer.fit()
    minutes = trainer.predict_minutes(trainer.splits.x_test)
    assert minutes.shape == (len(trainer.splits.x_test),)
    assert np.isfinite(minutes).all() and (minutes >= 0).all() and (minutes < 720).all()
    test = trainer.evaluate_test()
    assert 0 <= test["test_mean"] <= 360 and 0 <= test["test_within_10"] <= 1
    assert trainer.record.epochs == 1 and len(trainer.record.val_errors) == 1


@pytest.mark.parametrize(
    "augment,align", [("light", "none"), ("strong", "none"), ("rotate+perspective", "affine"), ("none", "perspective")]
)
def test_augmented_and_aligned_backbones_train(clock_dir: Path, augment: str, align: str) -> None:
    config = _config(clock_dir, augment=augment, align=align, global_pool=True, first_stride=2, pooling="avg")
    trainer = ClockTrainer(config, prepare(config))
    trainer.fit()
    assert np.isfinite(trainer.record.val_errors[0])


def test_clock_worker_records_the_error_summary(clock_dir: Path, storage: str) -> None:
    from search.pins import parse_pins
    from search.study import create_study
    from search.worker import run_worker
    from studies import get_family

    create_study(storage, "clock", get_family("clock"), "hyperband")
    pins = [f"{k}={v}" for k, v in TINY_BACKBONE.items()] + ["epochs=2", "val_size=100", f"data_dir={clock_dir}"]
    run_worker(storage, "clock", 1, parse_pins(pins))
    trial = optuna.load_study(study_name="clock", storage=storage).trials[0]  # then the seed, waiting
    assert trial.state == TrialState.COMPLETE
    attrs = trial.user_attrs
    # The value is what each epoch's check read (four ways) at the best epoch; val_mean and the other
    # val_* numbers are the kept weights read eight ways, as the test photos are.
    assert trial.value == pytest.approx(attrs["val_error"]) and attrs["config"]["read_turns"] == 8
    assert attrs["val_mean"] != attrs["val_error"]
    for key in ("val_mean", "val_median", "val_p90", "test_mean", "test_median", "test_p90",
                "test_within_1", "test_within_5", "test_within_10", "train_seconds"):
        assert key in attrs, key
    assert 0 <= attrs["val_minute_mean"] <= 30 and 0 <= attrs["test_minute_mean"] <= 30  # the long hand alone
    assert attrs["config"]["head"] == "multi" and attrs["config"]["input_size"] == 32


def test_train_then_predict_from_every_input_kind(clock_dir: Path, tmp_path: Path) -> None:
    import csv
    import json

    from PIL import Image

    from conftest import cli

    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(_config(clock_dir, epochs=2)))
    model_dir = tmp_path / "model"
    result = cli("train", str(config_path), "--out", str(model_dir))
    assert result.returncode == 0, result.stderr
    assert "test error" in result.stdout and (model_dir / "model.keras").is_file()

    result = cli("predict", str(model_dir), str(clock_dir), "--out", str(tmp_path / "a.csv"))
    assert result.returncode == 0, result.stderr
    assert "common-sense error over 300 images: mean" in result.stdout
    rows = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert len(rows) == 300 and set(rows[0]) == {"image", "hour", "minute", "true_hour", "true_minute", "error_minutes"}
    assert all(0 <= int(r["hour"]) <= 11 and 0 <= int(r["minute"]) <= 59 for r in rows)

    images = np.load(clock_dir / "images.npy")
    pngs = []
    for i in range(3):
        pngs.append(tmp_path / f"clock{i}.png")
        Image.fromarray(images[i]).convert("RGB").save(pngs[-1])  # colour files are turned grey
    result = cli("predict", str(model_dir), *map(str, pngs), "--out", str(tmp_path / "b.csv"))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert [r["image"] for r in rows] == [str(p) for p in pngs] and "true_hour" not in rows[0]

    result = cli("predict", str(model_dir), str(tmp_path / "nope.png"), "--out", str(tmp_path / "c.csv"))
    assert result.returncode == 2 and "no such file" in result.stderr and "Traceback" not in result.stderr


def test_a_new_clock_study_measures_the_reference_then_the_two_hands_seed(clock_dir: Path, storage: str) -> None:
    from search.pins import parse_pins
    from search.study import create_study
    from search.worker import run_worker
    from studies import get_family

    create_study(storage, "clock", get_family("clock"), "hyperband")
    pins = [f"{k}={v}" for k, v in TINY_BACKBONE.items()] + ["epochs=1", "val_size=100", f"data_dir={clock_dir}"]
    run_worker(storage, "clock", 2, parse_pins(pins))
    first, second = optuna.load_study(study_name="clock", storage=storage).trials
    assert first.user_attrs["reference"] and first.user_attrs["config"]["head"] == "multi"
    assert second.user_attrs["seed"] and second.state == TrialState.COMPLETE
    assert {k: second.user_attrs["config"][k] for k in ("head", "pairs", "learning_rate")} == {
        "head": "periodic", "pairs": 2, "learning_rate": 0.003}


def test_a_clock_trial_with_a_moving_average_keeps_the_better_reading_and_says_which(clock_dir: Path) -> None:
    config = _config(clock_dir, epochs=2, ema_momentum=0.9, read_turns=8)
    trainer = ClockTrainer(config, prepare(config))
    trainer.fit()
    summaries = trainer._check.summaries
    assert [s["averaged"] in (0.0, 1.0) for s in summaries] == [True, True]
    assert trainer.record.val_errors == [s["mean"] for s in summaries]
    assert all(s["mean"] == min(s["trained_mean"], s["average_mean"]) for s in summaries)
    final = trainer.validation_summary(trainer.record.best_epoch, final=True)
    assert final["val_averaged"] == summaries[trainer.record.best_epoch - 1]["averaged"]
    # the kept model reads what its epoch's check read (four ways there, as the check reads)
    kept = trainer.predict_minutes(trainer.splits.x_val, 4)
    from search.tasks.clock_trainer import summary_of

    assert summary_of(trainer.splits.y_val, kept)["mean"] == pytest.approx(min(trainer.record.val_errors), abs=1e-3)
