"""The synthetic clock: hands at the labelled angles, the real set's format, reproducible files."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datasets import DataError, _draw, clock, clocktime, synth

ROOT = Path(__file__).resolve().parents[1]
TIMES = [(3, 0), (9, 30), (12, 15), (7, 45)]
SIZE = 150
BARE = synth.style_named("clean", numerals=False, ticks=False)  # only the rim, the face and the hands
DARK, LIGHT = 90, 170


def _expected_angles(hour: int, minute: int) -> tuple[float, float]:
    return 30 * (hour % 12 + minute / 60), 6 * minute


def _ray(img: np.ndarray, angle: float, radii: np.ndarray, centre: tuple[float, float], unit: float) -> np.ndarray:
    """Along a ray from ``centre`` at ``angle`` degrees clockwise from 12 (radii in dial units): the
    darkest of the 2 x 2 pixels around each point, i.e. whether a dark pixel lies on the ray."""
    a = math.radians(angle)
    x = centre[0] + radii * unit * math.sin(a) - 0.5
    y = centre[1] - radii * unit * math.cos(a) - 0.5
    cols, rows = np.floor(x).astype(int), np.floor(y).astype(int)
    return np.min([img[rows + dy, cols + dx] for dy in (0, 1) for dx in (0, 1)], axis=0)


def _gap(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def _clean_geometry() -> tuple[tuple[float, float], float]:
    """Centre (continuous pixel coordinates) and pixels per dial unit of a clean clock."""
    return (SIZE / 2, SIZE / 2), synth.STYLES["clean"].fill[0] * SIZE / 2


@pytest.mark.parametrize("hour,minute", TIMES)
def test_clean_hands_lie_along_their_formula_angles(hour: int, minute: int) -> None:
    img = synth.render_clock(hour % 12, minute, 0, BARE, SIZE)
    centre, unit = _clean_geometry()
    hour_angle, minute_angle = _expected_angles(hour, minute)
    # Where only the hour hand reaches (past the hub, short of its tip), and only the minute hand.
    assert _ray(img, hour_angle, np.linspace(0.15, 0.42, 12), centre, unit).max() < DARK
    assert _ray(img, minute_angle, np.linspace(0.15, 0.66, 24), centre, unit).max() < DARK
    assert (
        _ray(img, hour_angle, np.linspace(0.58, 0.78, 8), centre, unit).min() > LIGHT
        or _gap(hour_angle, minute_angle) < 10
    )
    # Rays at clearly wrong angles cross only the white face.
    for wrong in range(0, 360, 10):
        if min(_gap(wrong, hour_angle), _gap(wrong, minute_angle)) >= 20:
            assert _ray(img, wrong, np.linspace(0.2, 0.78, 24), centre, unit).min() > LIGHT, wrong


@pytest.mark.parametrize("hour,minute", TIMES)
def test_dark_pixels_point_at_the_exact_angles(hour: int, minute: int) -> None:
    """The mean direction of the dark pixels in each hand's own annulus is within 1.5 degrees."""
    img = synth.render_clock(hour % 12, minute, 0, BARE, SIZE).astype(float)
    centre, unit = _clean_geometry()
    y, x = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    dx, dy = (x - centre[0]) / unit, (y - centre[1]) / unit
    r, angle = np.hypot(dx, dy), np.degrees(np.arctan2(dx, -dy)) % 360
    weight = np.clip(200 - img, 0, None)  # darkness
    hour_angle, minute_angle = _expected_angles(hour, minute)

    def mean_angle(mask: np.ndarray) -> float:
        w = weight * mask
        return (
            math.degrees(math.atan2((w * np.sin(np.radians(angle))).sum(), (w * np.cos(np.radians(angle))).sum())) % 360
        )

    assert _gap(mean_angle((r > 0.55) & (r < 0.75)), minute_angle) < 1.5
    near_hour = (r > 0.2) & (r < 0.45) & (np.vectorize(_gap)(angle, minute_angle) > 12)
    assert _gap(mean_angle(near_hour), hour_angle) < 1.5


def test_full_clean_dial_keeps_hands_dark_inside_the_numerals() -> None:
    for hour, minute in TIMES:
        img = synth.render_clock(hour % 12, minute, 0, "clean", SIZE)
        centre, unit = _clean_geometry()
        for angle in _expected_angles(hour, minute):
            assert _ray(img, angle, np.linspace(0.15, 0.42, 10), centre, unit).max() < DARK


def test_photo_hands_follow_the_camera() -> None:
    """Under tilt, perspective and rotation, points on each hand map to dark output pixels."""
    style = dataclasses.replace(
        synth.STYLES["photo"],
        background="plain",
        background_level=(200, 200),
        shadow=0,
        glare=(0, 0),
        glass_sheen=0,
        hand_shadow=0,
        lighting=0,
        gamma=(1, 1),
        contrast=(1, 1),
        brightness=(0, 0),
        blur=(0, 0),
        noise=(0, 0),
        numerals=False,
        ticks=False,
    )
    for seed, (hour, minute) in enumerate(TIMES):
        img = synth.render_clock(hour % 12, minute, seed, style, SIZE)
        cam = _draw.sample_camera(np.random.default_rng(seed), style, SIZE)
        assert cam.scale > 0
        for angle, reach in zip(_expected_angles(hour, minute), (0.42, 0.72), strict=False):
            radii = np.linspace(0.18, reach, 12)
            a = math.radians(angle)
            dial_pts = np.column_stack([radii * math.sin(a), -radii * math.cos(a)])
            px = _draw._apply(cam.front, dial_pts)
            rows, cols = np.floor(px[:, 1] - 0.5).astype(int), np.floor(px[:, 0] - 0.5).astype(int)
            values = np.min([img[rows + dy, cols + dx] for dy in (0, 1) for dx in (0, 1)], axis=0)
            assert values.max() < DARK, (hour, minute, angle, values)


def test_labels_are_uniform_over_the_720_times() -> None:
    labels = synth.clock_labels(1440, seed=5)
    counts = np.bincount(clocktime.labels_to_minutes(labels), minlength=720)
    assert counts.min() == counts.max() == 2
    some = synth.clock_labels(1000, seed=5)
    assert np.bincount(clocktime.labels_to_minutes(some), minlength=720).max() == 2
    assert labels[:, 0].max() == 11 and labels[:, 1].max() == 59 and labels.min() == 0
    assert not np.array_equal(labels, synth.clock_labels(1440, seed=6))


def test_synthesized_set_has_the_real_format_and_loads(tmp_path: Path) -> None:
    out = synth.synthesize(tmp_path / "clock", n=clock.MIN_IMAGES, seed=3, size=32, progress=False)
    images, labels = np.load(out / "images.npy"), np.load(out / "labels.npy")
    assert images.shape == (clock.MIN_IMAGES, 32, 32) and images.dtype == np.uint8
    assert labels.shape == (clock.MIN_IMAGES, 2) and np.issubdtype(labels.dtype, np.integer)
    assert images.std() > 20  # pictures, not blank frames
    data = clock.load_clock(out, cache_dir=tmp_path / "cache")
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == clock.MIN_IMAGES
    from PIL import Image

    with Image.open(out / "sheet.png") as sheet:
        assert sheet.format == "PNG" and sheet.size[0] >= 4 * 150
    assert not list(out.glob("*.tmp"))


def test_same_seed_same_bytes_whatever_the_number_of_processes(tmp_path: Path) -> None:
    one = synth.synthesize(tmp_path / "one", n=24, seed=9, size=48, jobs=1, progress=False)
    two = synth.synthesize(tmp_path / "two", n=24, seed=9, size=48, jobs=2, progress=False)
    for name in ("images.npy", "labels.npy", "sheet.png", "synth.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    other = synth.synthesize(tmp_path / "other", n=24, seed=10, size=48, progress=False)
    assert (one / "images.npy").read_bytes() != (other / "images.npy").read_bytes()
    # Image i depends on (seed, i) and its label only.
    labels = np.load(one / "labels.npy")
    alone = synth.render_clock(*labels[5], synth.image_rng(9, 5), "photo", 48)
    assert np.array_equal(np.load(one / "images.npy")[5], alone)


def test_style_presets_and_bad_styles() -> None:
    assert synth.style_named("clean").background == "plain" and synth.style_named("photo").tilt_max > 30
    with pytest.raises(DataError, match="unknown clock style 'fancy'"):
        synth.style_named("fancy")
    with pytest.raises(DataError, match="unknown clock style field"):
        synth.style_named("photo", wobble=1)
    with pytest.raises(DataError, match="background"):
        synth.style_named("photo", background="lava")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "datasets", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_writes_a_set_and_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    done = _cli(
        "synth-clock",
        "--n",
        "12",
        "--size",
        "32",
        "--out",
        str(tmp_path / "c"),
        "--seed",
        "1",
        "--style",
        "clean",
        "--set",
        "numerals=false",
    )
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {"images.npy", "labels.npy", "sheet.png"}
    assert np.load(tmp_path / "c" / "images.npy").shape == (12, 32, 32)
    for bad, message in (
        (["synth-clock", "--n", "5", "--size", "4", "--out", str(tmp_path / "d")], "--size must be between"),
        (["synth-clock", "--n", "5", "--set", "tilt=3", "--out", str(tmp_path / "d")], "unknown style field 'tilt'"),
        (["check-clock", str(tmp_path / "c")], "only 12 images"),
    ):
        failed = _cli(*bad)
        assert failed.returncode == 2 and message in failed.stderr and "Traceback" not in failed.stderr, failed.stderr


def test_a_small_cnn_learns_to_read_clean_clocks() -> None:
    """Learnability, in about 10 s: 1,200 clean 48 px clocks, 5 epochs, sin/cos of the hour hand.

    Predicting any constant scores about 180 minutes; the net must do far better (it scores
    20-35 minutes; benchmarks/clock_sanity.py trains the full-size version).
    """
    keras = pytest.importorskip("keras")
    from keras import layers

    size, n = 48, 1500
    labels = synth.clock_labels(n, seed=1)
    images = synth.render_set(labels, 1, synth.STYLES["clean"], size, progress=False)[..., None]
    train, _, test = clock.split_indices(n, seed=0, val_size=0.1)
    angle = 2 * np.pi * clocktime.labels_to_minutes(labels) / 720
    target = np.stack([np.sin(angle), np.cos(angle)], axis=1).astype("float32")

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64, 96, 128):
        x = layers.MaxPooling2D()(layers.Conv2D(filters, 3, padding="same", activation="relu")(x))
    outputs = layers.Dense(2)(layers.Dense(128, activation="relu")(layers.Flatten()(x)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(images[train], target[train], epochs=5, batch_size=32, verbose=0)

    out = model.predict(images[test], verbose=0)
    predicted = np.rint(np.arctan2(out[:, 0], out[:, 1]) / (2 * np.pi) * 720).astype(int) % 720
    gap = np.abs(predicted - clocktime.labels_to_minutes(labels[test])) % 720
    error = np.minimum(gap, 720 - gap).mean()
    assert error < 90, f"mean common-sense error {error:.0f} min; a constant scores about 180"
