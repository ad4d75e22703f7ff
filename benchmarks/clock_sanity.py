"""Can a small CNN learn to read the synthetic clock at all? A sanity check, not a search.

    .venv/bin/python benchmarks/clock_sanity.py                       # 6,000 clean images, 64 px
    .venv/bin/python benchmarks/clock_sanity.py --style photo --n 18000 --epochs 20   # harder

Renders a set with ``datasets.synth``, loads it through ``datasets.clock`` (shuffle, 80:20 split,
validation out of the training part, resize to 64 px through the cache), trains a small conv net
whose four outputs are sin/cos of the hour-hand angle and of the minute-hand angle, and reports
the common-sense error on the test set: min(|a - b|, 720 - |a - b|) minutes. Predicting any
constant time scores about 180 minutes on uniform labels; a net that reads the hands scores far
less. Keras is used directly: this is a benchmark, not the service's model code.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from datasets.clock import MINUTES, load_clock, to_minutes  # noqa: E402
from datasets.synth import synthesize  # noqa: E402


def common_sense_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minutes between two readings of a 12-hour dial, the short way round."""
    d = np.abs(np.asarray(a) - np.asarray(b)) % MINUTES
    return np.minimum(d, MINUTES - d)


def encode(labels: np.ndarray) -> np.ndarray:
    """[hour, minute] -> sin/cos of the hour hand's and the minute hand's angles."""
    hour_angle = 2 * np.pi * to_minutes(labels) / MINUTES
    minute_angle = 2 * np.pi * labels[:, 1] / 60
    return np.stack([np.sin(hour_angle), np.cos(hour_angle), np.sin(minute_angle), np.cos(minute_angle)], 1).astype(
        "float32"
    )


def decode(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs -> (minutes from the hour hand alone, minutes from both hands).

    The minute hand fixes the minutes; the hour hand only has to pick the hour, which is what
    makes two hands more precise than one.
    """
    from_hour = (np.arctan2(out[:, 0], out[:, 1]) / (2 * np.pi) * MINUTES) % MINUTES
    minute = (np.arctan2(out[:, 2], out[:, 3]) / (2 * np.pi) * 60) % 60
    both = minute + 60 * np.round((from_hour - minute) / 60)
    return np.rint(from_hour).astype(int) % MINUTES, np.rint(both).astype(int) % MINUTES


def build(size: int):
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64, 96, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(4)(x)
    model = keras.Model(inputs, outputs, name="clock_sanity")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--style", default="clean", choices=("clean", "photo"))
    parser.add_argument("--size", type=int, default=64, help="model input size")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clock-sanity-") as tmp:
        started = time.perf_counter()
        synthesize(Path(tmp) / "data", args.n, seed=args.seed, style=args.style, size=150, progress=False)
        data = load_clock(Path(tmp) / "data", size=args.size, cache_dir=Path(tmp) / "cache")
        print(
            f"rendered and loaded {args.n} {args.style} images in {time.perf_counter() - started:.1f} s: "
            f"{len(data.x_train)} train, {len(data.x_val)} validation, {len(data.x_test)} test at {args.size} px"
        )

    import keras

    keras.utils.set_random_seed(args.seed)
    model = build(args.size)
    started = time.perf_counter()
    model.fit(
        data.x_train[..., None],
        encode(data.y_train),
        validation_data=(data.x_val[..., None], encode(data.y_val)),
        epochs=args.epochs,
        batch_size=64,
        verbose=2,
    )
    train_s = time.perf_counter() - started

    truth = to_minutes(data.y_test)
    from_hour, both = decode(model.predict(data.x_test[..., None], verbose=0))
    constant = np.full_like(truth, 0)
    best_constant = min(common_sense_error(np.full_like(truth, c), truth).mean() for c in range(MINUTES))
    print(f"trained {args.epochs} epochs in {train_s:.0f} s")
    print(f"test common-sense error, mean minutes over {len(truth)} images:")
    rows = [("constant 0:00", constant), ("hour hand alone", from_hour), ("hour + minute hands", both)]
    for name, predicted in rows:
        error = common_sense_error(predicted, truth)
        print(f"  {name:<22}{error.mean():7.1f}  (median {np.median(error):.0f})")
    print(f"  (the best constant on this test set scores {best_constant:.1f})")


if __name__ == "__main__":
    main()
