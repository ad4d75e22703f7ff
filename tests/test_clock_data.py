"""The clock files as a user brings them: accepted forms, every rejection, the split, the resize cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from datasets import DataError, clock, clocktime

N = 250  # a little above clock.MIN_IMAGES
SIDE = 24


def _images(n: int = N, side: int = SIDE) -> np.ndarray:
    """Random grey images whose first two pixels spell their index, so tests can trace each one."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
    x[:, 0, 0], x[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    return x


def _labels(n: int = N) -> np.ndarray:
    minutes = (np.arange(n) * 7) % 720  # ordered like the real files, by time of capture
    return np.stack([minutes // 60, minutes % 60], axis=1).astype(np.int64)


def _ids(x: np.ndarray) -> np.ndarray:
    return x[:, 0, 0].astype(np.int64) * 256 + x[:, 0, 1]


def _write(folder: Path, images: np.ndarray | None = None, labels: np.ndarray | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", _images() if images is None else images)
    np.save(folder / "labels.npy", _labels() if labels is None else labels)
    return folder


@pytest.fixture
def clock_dir(tmp_path: Path) -> Path:
    return _write(tmp_path / "clock")


# -- accepted forms ------------------------------------------------------------------------------


def test_images_are_memory_mapped_and_labels_checked(clock_dir: Path) -> None:
    images, labels, scale = clock.load_clock_files(clock_dir)
    assert isinstance(images, np.memmap) and images.shape == (N, SIDE, SIDE) and scale == 1.0
    assert labels.dtype == np.int64 and np.array_equal(labels, _labels())


@pytest.mark.parametrize(
    "form",
    [
        lambda x: x[..., None],  # N x H x W x 1
        lambda x: x.astype(np.float32) / 255.0,  # floats in [0, 1]
        lambda x: x.astype(np.float64),  # floats in [0, 255]
    ],
    ids=["channel-axis", "float-0-1", "float-0-255"],
)
def test_other_image_forms_load_as_the_same_uint8_pixels(tmp_path: Path, form) -> None:
    folder = _write(tmp_path / "clock", images=form(_images()))
    data = clock.load_clock(folder, cache_dir=tmp_path / "cache")
    ref = clock.load_clock(_write(tmp_path / "ref"), cache_dir=tmp_path / "cache")
    assert data.x_train.dtype == np.uint8 and data.x_train.shape[1:] == (SIDE, SIDE)
    for part in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(getattr(data, part), getattr(ref, part))


def test_hour_12_reads_as_0_and_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    labels = _labels()
    labels[labels[:, 0] == 0, 0] = 12
    folder = _write(tmp_path / "clock", labels=labels)
    with caplog.at_level(logging.INFO, logger="datasets.clock"):
        _, first, _ = clock.load_clock_files(folder)
        _, again, _ = clock.load_clock_files(folder)
    assert np.array_equal(first, _labels()) and np.array_equal(again, _labels())
    said = [r.getMessage() for r in caplog.records if "hour 12 as 0" in r.getMessage()]
    assert len(said) == 1 and str(folder / "labels.npy") in said[0]


def test_float_labels_with_whole_values_are_accepted(tmp_path: Path) -> None:
    folder = _write(tmp_path / "clock", labels=_labels().astype(np.float64))
    assert np.array_equal(clock.load_clock_files(folder)[1], _labels())


# -- every rejection, one message naming the file -------------------------------------------------


def _corrupt(path: Path) -> None:
    path.write_bytes(b"\x93NUMPY this is not a header at all" + bytes(range(200)))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _not_npy(path: Path) -> None:
    path.write_text("hour,minute\n1,2\n")


def _pickled(path: Path) -> None:
    np.save(path, np.array([{"hour": 1}] * N, dtype=object), allow_pickle=True)


def _labels_with(row: int, column: int, value: float, dtype=np.int64) -> np.ndarray:
    y = _labels().astype(dtype)
    y[row, column] = value
    return y


def _images_with_nan() -> np.ndarray:
    x = _images().astype(np.float32)
    x[17, 3, 3] = np.nan
    return x


BAD_ARRAYS = {
    "label-count": (None, _labels(N - 1), "labels.npy", "249 labels for 250 images"),
    "labels-shape": (None, np.zeros((N, 3), np.int64), "labels.npy", "expected N x 2"),
    "labels-1d": (None, np.zeros(N, np.int64), "labels.npy", "expected N x 2"),
    "labels-text": (None, _labels().astype(str), "labels.npy", "expected integers"),
    "labels-fraction": (None, _labels_with(5, 1, 7.5, np.float64), "labels.npy", "whole numbers"),
    "labels-nan": (None, _labels_with(9, 0, np.nan, np.float64), "labels.npy", "labels contain NaN (first at row 9)"),
    "hour-13": (None, _labels_with(3, 0, 13), "labels.npy", "hour 13 at row 3 is out of range"),
    "hour-negative": (None, _labels_with(4, 0, -1), "labels.npy", "hour -1 at row 4 is out of range"),
    "minute-60": (None, _labels_with(8, 1, 60), "labels.npy", "minute 60 at row 8 is out of range; expected 0-59"),
    "images-nan": (_images_with_nan(), None, "images.npy", "images contain NaN"),
    "images-range": (_images().astype(np.float32) * 2, None, "images.npy", "expected [0, 1] or [0, 255]"),
    "images-negative": (_images().astype(np.float32) - 1, None, "images.npy", "expected [0, 1] or [0, 255]"),
    "images-rgb": (np.zeros((N, SIDE, SIDE, 3), np.uint8), None, "images.npy", "expected N x H x W or N x H x W x 1"),
    "images-flat": (np.zeros((N, SIDE * SIDE), np.uint8), None, "images.npy", "expected N x H x W"),
    "images-complex": (np.zeros((N, SIDE, SIDE), np.complex64), None, "images.npy", "expected uint8, or floats"),
    "too-few": (
        _images(clock.MIN_IMAGES - 1),
        _labels(clock.MIN_IMAGES - 1),
        "images.npy",
        f"only 199 images; the clock data needs at least {clock.MIN_IMAGES}",
    ),
}


@pytest.mark.parametrize("case", BAD_ARRAYS, ids=list(BAD_ARRAYS))
def test_bad_arrays_are_rejected_with_one_clear_message(tmp_path: Path, case: str) -> None:
    images, labels, file, message = BAD_ARRAYS[case]
    folder = _write(tmp_path / "clock", images, labels)
    with pytest.raises(DataError) as err:
        clock.load_clock(folder, cache_dir=tmp_path / "cache")
    assert str(folder / file) in str(err.value)
    assert message in str(err.value)


BAD_FILES = {
    "corrupt-header": (_corrupt, "not a readable .npy file"),
    "truncated": (_truncate, "truncated"),
    "empty": (_empty, "not a readable .npy file"),
    "csv": (_not_npy, "not a readable .npy file"),
    "pickled-objects": (_pickled, "holds Python objects"),
}


@pytest.mark.parametrize("file", ["images.npy", "labels.npy"])
@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_broken_files_give_a_data_error_not_a_numpy_traceback(clock_dir: Path, file: str, case: str) -> None:
    damage, message = BAD_FILES[case]
    damage(clock_dir / file)
    with pytest.raises(DataError) as err:
        clock.load_clock_files(clock_dir)
    assert str(clock_dir / file) in str(err.value) and message in str(err.value)


def test_missing_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="clock data directory not found"):
        clock.load_clock_files(tmp_path / "nowhere")
    folder = _write(tmp_path / "clock")
    (folder / "labels.npy").unlink()
    with pytest.raises(DataError, match=r"labels\.npy: file not found"):
        clock.load_clock_files(folder)


# -- the split -----------------------------------------------------------------------------------


def test_split_is_disjoint_complete_80_20_and_reproducible() -> None:
    train, val, test = clock.split_indices(1000, seed=3, val_size=0.1)
    assert len(test) == 200 and len(val) == 80 and len(train) == 720
    assert len(np.unique(np.concatenate([train, val, test]))) == 1000
    again = clock.split_indices(1000, seed=3, val_size=0.1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=False))
    other = clock.split_indices(1000, seed=4, val_size=0.1)
    assert not np.array_equal(test, other[2])
    # A different validation size never moves an image into or out of the test set.
    assert np.array_equal(test, clock.split_indices(1000, seed=3, val_size=150)[2])


def test_loaded_parts_are_disjoint_shuffled_and_keep_image_label_pairs(clock_dir: Path, tmp_path: Path) -> None:
    data = clock.load_clock(clock_dir, seed=11, cache_dir=tmp_path / "cache")
    parts = [_ids(data.x_train), _ids(data.x_val), _ids(data.x_test)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(N))
    assert len(parts[2]) == N // 5  # 80:20
    assert not set(parts[2]) & (set(parts[0]) | set(parts[1]))  # no test image in training or selection
    truth = clocktime.labels_to_minutes(_labels())  # the loaded labels are minutes past 12:00
    for ids, y in zip(parts, (data.y_train, data.y_val, data.y_test), strict=False):
        assert np.array_equal(y, truth[ids])
    # The files are ordered by time: the test set must come from all over them, not their end.
    assert parts[2].min() < N // 5 and parts[2].max() > N - N // 5
    assert data.source == str(clock_dir)
    same = clock.load_clock(clock_dir, seed=11, cache_dir=tmp_path / "cache")
    assert np.array_equal(_ids(same.x_train), parts[0])


def test_minutes_helpers_roundtrip() -> None:
    labels = np.array([[0, 0], [3, 0], [11, 59], [12, 30], [7, 45]])
    assert clocktime.labels_to_minutes(labels).tolist() == [0, 180, 719, 30, 465]
    assert clocktime.minutes_to_labels([0, 180, 719, 720 + 30, -15]).tolist() == [[0, 0], [3, 0], [11, 59], [0, 30], [11, 45]]


# -- resize and its cache ------------------------------------------------------------------------


def test_resize_is_antialiased() -> None:
    checker = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)[None]
    small = clock.resize_images(checker, 16)
    assert small.shape == (1, 16, 16) and small.dtype == np.uint8
    assert 115 <= small.min() and small.max() <= 140  # averaged to grey, not aliased to black or white


def test_resize_cache_is_written_once_and_reused(clock_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = clock.load_clock(clock_dir, size=16, cache_dir=cache)
    files = sorted(cache.glob("*.npy"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))
    stamp = files[0].stat().st_mtime_ns
    again = clock.load_clock(clock_dir, size=16, cache_dir=cache)
    assert files[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert first.image_size == 16 and first.x_test.shape == (N // 5, 16, 16)

    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return clock.resize_images(*args, **kwargs)

    images, _, _ = clock.load_clock_files(clock_dir)
    key = clock.source_key(clock_dir / "images.npy")
    cached = clock.resized(images, 16, key, cache, resize=spy)
    assert not calls and isinstance(cached, np.memmap)
    clock.resized(images, 12, key, cache, resize=spy)  # another size is another entry
    assert len(calls) == 1 and len(list(cache.glob("*.npy"))) == 2


def test_changed_source_file_is_resized_again(clock_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clock.load_clock(clock_dir, size=16, cache_dir=cache)
    brighter = _images() // 2 + 100
    np.save(clock_dir / "images.npy", brighter)
    os.utime(clock_dir / "images.npy", ns=(1, 1))  # a different modification time, whatever the clock says
    data = clock.load_clock(clock_dir, size=16, cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 2
    fresh = clock.resize_images(brighter, 16)
    train, val, test = clock.split_indices(N)
    np.testing.assert_array_equal(data.x_train, fresh[train])  # the new pixels, not the stale cache


def test_damaged_cache_file_is_rebuilt_and_a_bad_cache_dir_is_a_data_error(clock_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = clock.load_clock(clock_dir, size=16, cache_dir=cache)
    (entry,) = cache.glob("*.npy")
    entry.write_bytes(b"not an array")
    again = clock.load_clock(clock_dir, size=16, cache_dir=cache)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DataError, match="resize cache"):
        clock.load_clock(clock_dir, size=16, cache_dir=blocker)
