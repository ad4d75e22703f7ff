"""MNIST / Fashion-MNIST loading from every offline place, and the messages when it fails."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from datasets import DataError, load_images, validation_split
from datasets.idx import read_idx


def _write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def _idx_dir(folder: Path, n_train: int = 50, n_test: int = 20, gz: bool = True) -> Path:
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    _write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28)), gz)
    _write_idx(folder / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_train), gz)
    _write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28)), gz)
    _write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test), gz)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_via_data_dir(tmp_path: Path, gz: bool) -> None:
    data = load_images("fashion", _idx_dir(tmp_path, gz=gz))
    assert data.x_train.shape == (50, 28, 28) and data.x_test.shape == (20, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.source == str(tmp_path)


def test_truncated_idx_file_is_named(tmp_path: Path) -> None:
    _idx_dir(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: truncated"):
        read_idx(path)


def test_keras_npz_in_the_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "datasets").mkdir()
    np.savez(
        tmp_path / "datasets" / "mnist.npz",
        x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 30),
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 10),
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    data = load_images("mnist")
    assert data.source.endswith("mnist.npz") and len(data.x_train) == 30


def test_xy_npz_is_split_one_seventh_test(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.random((700, 28, 28)).astype(np.float32)  # floats in [0, 1] are accepted too
    np.savez(tmp_path / "digits.npz", x=x, y=rng.integers(0, 10, 700))
    a, b = load_images("mnist", tmp_path), load_images("mnist", tmp_path / "digits.npz")
    assert (len(a.x_train), len(a.x_test)) == (600, 100)
    assert a.x_train.dtype == np.uint8
    np.testing.assert_array_equal(a.x_test, b.x_test)  # the split is reproducible


def test_nothing_found_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DataError) as info:
        load_images("mnist")
    message = str(info.value)
    assert str(tmp_path / "datasets" / "mnist.npz") in message and "data_dir" in message


def test_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_images("fashion", tmp_path / "nope")


def test_wrong_image_shape_is_reported(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", x=np.zeros((70, 32, 32), np.uint8), y=np.zeros(70, np.int64))
    with pytest.raises(DataError, match=r"shape \(60, 32, 32\); expected N x 28 x 28"):
        load_images("fashion", tmp_path)


def test_real_fashion_mnist_from_debian(fashion: Path) -> None:
    data = load_images("fashion", fashion)
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert np.bincount(data.y_test).tolist() == [1000] * 10


def test_real_mnist_subset(mnist_10k: Path) -> None:
    data = load_images("mnist", mnist_10k)
    assert len(data.x_train) + len(data.x_test) == 10000 and data.n_classes == 10


def test_validation_split_is_disjoint_and_reproducible() -> None:
    train, val = validation_split(1000, 100, seed=0)
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val) and set(train) | set(val) == set(range(1000))
    train2, val2 = validation_split(1000, 100, seed=0)
    np.testing.assert_array_equal(val, val2)
    with pytest.raises(DataError, match="does not fit"):
        validation_split(100, 500, seed=0)
