"""Per-epoch time and learning curve of clock configs on whatever device Keras sees.

Written for a short loan of a GPU machine that has PyTorch but not TensorFlow: run it there with
``KERAS_BACKEND=torch``. It renders the photo-style set if the data directory is empty, then trains
each named config (the clock reference with one change each) through the same ``ClockTrainer`` a
trial uses, and writes after every config a JSON with per-epoch seconds, the validation error after
every epoch and the final test error summary, and beside it (``.npz``) each test photo's reading
for ``benchmarks/clock_misses.py``. A wall-clock deadline stops it from starting a config
it cannot finish.

    KERAS_BACKEND=torch python benchmarks/clock_gpu.py --data-dir /tmp/clock --epochs 25 \
        --deadline 420 --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studies.clock import CLOCK_TWO_HANDS_PARAMS  # noqa: E402 (no Keras: the backend is still unset)

# The clock reference as it was when these variants were measured (issues 4 and 12; the family's
# reference has since moved to 40 px, 16 filters, batches of 16 and a warm-up epoch): frozen here
# so that BENCHMARKS.md's rows keep meaning what they say.
REFERENCE = {
    "model": "clock", "head": "multi", "minute_head": "sincos", "input_size": 75, "augment": "none", "align": "none",
    "conv_blocks": 4, "filters": 32, "kernel_size": 3, "first_stride": 1, "pooling": "max", "global_pool": False,
    "dense_units": 128, "initializer": "he_normal", "activation": "relu", "optimizer": "adam", "learning_rate": 0.001,
    "lr_schedule": "constant", "beta_1": 0.9, "regularizer": "none", "dropout": 0.2, "batch_norm": True, "batch_size": 64,
}

# One change from the reference per variant, so each row says what that change does.
TWO_HANDS = {"head": "periodic", "pairs": 2}  # at the reference's Adam 1e-3, unlike the study's seed

VARIANTS: dict[str, dict] = {
    "reference": {},
    "periodic-2": TWO_HANDS,
    "classes-72": {"head": "classification", "classes": 72},
    "regression-circular": {"head": "regression", "regression_loss": "circular"},
    "minute-60": {"minute_head": "classification"},
    "wide-deep": {"filters": 64, "conv_blocks": 5},
    "augment-light": {"augment": "light"},
    "size-100": {"input_size": 100},
    # the best of the above, made cheaper for a CPU (stride 2 first) or regularised (augmentation)
    "periodic-2-stride-2": {**TWO_HANDS, "first_stride": 2},
    "periodic-2-light": {**TWO_HANDS, "augment": "light"},
    # levers for the hour hand on top of the two-hands variant: resolution, rotation, step size, width
    "periodic-2-75": {**TWO_HANDS, "input_size": 75},
    "periodic-2-100": {**TWO_HANDS, "input_size": 100},
    "periodic-2-strong": {**TWO_HANDS, "augment": "strong"},
    "periodic-2-lr3e-3": {**TWO_HANDS, "learning_rate": 0.003},
    "periodic-2-bs32": {**TWO_HANDS, "batch_size": 32},
    "periodic-2-wide": {**TWO_HANDS, "filters": 64, "conv_blocks": 5},
    "periodic-2-wide-lr3e-3": {**TWO_HANDS, "filters": 64, "conv_blocks": 5, "learning_rate": 0.003},
}

# The demo's recipe (Makefile DEMO_PINS on the study's seed) and one change each: which of them
# leaves chance sooner and reads the hour better within the demo's 16 epochs (issue 12).
DEMO = {
    **TWO_HANDS, "learning_rate": 0.003, "lr_schedule": "cosine", "warmup_epochs": 0,
    "input_size": 40, "filters": 16, "batch_size": 16, "augment": "light",
}
DEMO_CHANGES: dict[str, dict] = {
    "": {},
    "-warmup-1": {"warmup_epochs": 1},
    "-lr2e-3": {"learning_rate": 0.002},
    "-lr5e-3": {"learning_rate": 0.005},
    "-dropout-0": {"dropout": 0.0},
    "-dense-0": {"dense_units": 0},
    "-dense-256": {"dense_units": 256},
    "-kernel-5": {"kernel_size": 5},
    "-no-bn": {"batch_norm": False},
    "-blocks-3": {"conv_blocks": 3},
    "-nadam": {"optimizer": "nadam"},
    "-no-augment": {"augment": "none"},
    "-constant": {"lr_schedule": "constant"},
    "-global-pool": {"global_pool": True},
    "-filters-24": {"filters": 24},
    "-48px": {"input_size": 48},
    # second loan call: the warm-up (both seeds left chance) with the other changes that did well
    "-warmup-2": {"warmup_epochs": 2},
    "-warmup-1-dense-0": {"warmup_epochs": 1, "dense_units": 0},
    "-warmup-1-filters-24": {"warmup_epochs": 1, "filters": 24},
    "-warmup-1-dropout-0": {"warmup_epochs": 1, "dropout": 0.0},
    "-warmup-1-filters-24-dropout-0": {"warmup_epochs": 1, "filters": 24, "dropout": 0.0},
}
VARIANTS.update({f"demo{suffix}": {**DEMO, **change} for suffix, change in DEMO_CHANGES.items()})

# The family's seed (studies/clock.py: two sin/cos pairs, Adam 3e-3 with a cosine decay and one
# warm-up epoch, 48 px, 24 filters, batches of 16, light augmentation, a moving average of the
# weights) and what might read its oblique dials better, the misses the 2-hour search leaves:
# more oblique training views (perspective augmentation) or a stage that straightens the dial;
# and its rate and warm-up, which decide whether a training seed leaves chance at all
# (BENCHMARKS.md, "The seed's rate on a GPU").
SEED_CHANGES: dict[str, dict] = {
    "": {},
    "-lr2e-3": {"learning_rate": 0.002},
    "-lr2.5e-3": {"learning_rate": 0.0025},
    "-warmup-2": {"warmup_epochs": 2},
    "-perspective": {"augment": "shift+brightness+contrast+perspective"},
    "-align-perspective": {"align": "perspective"},
    "-align-affine": {"align": "affine"},
}
VARIANTS.update({f"seed{suffix}": {**CLOCK_TWO_HANDS_PARAMS, **change} for suffix, change in SEED_CHANGES.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data/clock")
    parser.add_argument("--n", type=int, default=18000, help="images to render when --data-dir is empty")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--deadline", type=float, default=420, help="seconds; a config stops training at the deadline (then tests), and none starts that the last one's time says cannot finish")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=None, help="the config's seed (weights and data order); default: the reference's")
    parser.add_argument("--out", default="clock_gpu.json")
    args = parser.parse_args()

    import keras

    from search.data import DataCache
    from search.tasks import get_task
    from search.tasks.clock_trainer import ClockTrainer
    from studies.clock import CLOCK

    start = time.perf_counter()
    data_dir = Path(args.data_dir)
    if not (data_dir / "images.npy").exists():
        from datasets.synth import synthesize

        synthesize(data_dir, args.n, seed=7, style="photo", jobs=os.cpu_count() or 1, progress=False)
    report: dict = {
        "backend": keras.backend.backend(),
        "devices": _devices(),
        "render_and_setup_seconds": round(time.perf_counter() - start, 1),
        "runs": [],
    }
    data = DataCache(get_task(CLOCK.task))
    last_run = 0.0
    for name in args.variants.split(","):
        elapsed = time.perf_counter() - start
        if elapsed + last_run > args.deadline:
            report["runs"].append({"variant": name, "skipped": f"deadline: {elapsed:.0f} s used, last run took {last_run:.0f} s"})
            continue
        config = {**REFERENCE, "input_size": args.input_size, **VARIANTS[name], "epochs": args.epochs, "read_turns": 1}
        if args.seed is not None:
            config["seed"] = args.seed
        run_start = time.perf_counter()
        row: dict = {"variant": name, "config": config}
        try:
            splits = data.get({**config, "dataset": "clock", "val_size": 0.1, "data_dir": str(data_dir), "train_limit": None})
            trainer = ClockTrainer(config, splits)
            epoch_seconds: list[float] = []

            class Times(keras.callbacks.Callback):
                """Per-epoch seconds; the curve so far on disk after every epoch; stop at the deadline."""

                def on_epoch_begin(self, epoch, logs=None):
                    self.t = time.perf_counter()

                def on_epoch_end(self, epoch, logs=None):
                    epoch_seconds.append(round(time.perf_counter() - self.t, 2))
                    row.update(epoch_seconds=epoch_seconds, val_errors=[round(v, 2) for v in trainer.record.val_errors])
                    Path(args.out).write_text(json.dumps({**report, "runs": [*report["runs"], row]}, indent=1))
                    if time.perf_counter() - start > args.deadline:
                        row["stopped"] = f"deadline after epoch {epoch + 1}"
                        self.model.stop_training = True

            trainer.fit([Times()])
            row.update(
                params=trainer.param_count,
                epoch_seconds=epoch_seconds,
                train_seconds=round(trainer.record.seconds, 1),
                val_errors=[round(v, 2) for v in trainer.record.val_errors],
                **{k: round(v, 3) for k, v in trainer.evaluate_test().items()},
            )
            # each test photo's reading, for benchmarks/clock_misses.py (where the misses sit)
            import numpy as np

            from datasets.clocktime import common_sense_error

            np.savez(
                Path(args.out).with_suffix(".npz"), y_true=splits.y_test, y_pred=trainer.test_minutes,
                error=common_sense_error(splits.y_test, trainer.test_minutes),
            )
        except Exception as exc:  # one broken variant must not cost the loan's other results
            row["error"] = f"{type(exc).__name__}: {exc}"
            row["traceback"] = traceback.format_exc()
        last_run = time.perf_counter() - run_start
        row["wall_seconds"] = round(last_run, 1)
        report["runs"].append(row)
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(name, {k: row.get(k) for k in ("params", "train_seconds", "test_mean", "error")}, flush=True)
        if row.get("val_errors"):
            print("  val", row["val_errors"], flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


def _devices() -> str:
    if os.environ.get("KERAS_BACKEND") == "jax":
        import jax

        return str(jax.devices())
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (torch)"
    except ImportError:
        import tensorflow as tf

        return str([d.name for d in tf.config.list_physical_devices()])


if __name__ == "__main__":
    sys.exit(main())
