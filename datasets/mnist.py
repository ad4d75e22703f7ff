"""MNIST and Fashion-MNIST, found offline wherever they already are.

Search order for a dataset, first hit wins:
1. ``data_dir`` when given (``--set data_dir=DIR``): IDX files, Keras' ``mnist.npz``, or any
   single ``.npz`` with ``x``/``y`` (or ``x_train``/``y_train``/``x_test``/``y_test``) arrays;
2. the Keras cache (``~/.keras/datasets`` or ``$KERAS_HOME/datasets``);
3. Debian's ``dataset-fashion-mnist`` package under ``/usr/share/datasets/fashion-mnist``;
4. a Keras download, only where the network allows it (never in tests).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets.errors import DataError
from datasets.idx import read_idx

log = logging.getLogger(__name__)

NAMES = ("mnist", "fashion")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_DEBIAN_DIRS = {"fashion": Path("/usr/share/datasets/fashion-mnist")}
_KERAS_CACHE = {"mnist": "mnist.npz", "fashion": "fashion-mnist"}
# An .npz of x and y alone is split like the standard sets: one seventh becomes the test set.
_TEST_FRACTION = 1 / 7
_SPLIT_SEED = 0


@dataclass(frozen=True)
class ImageData:
    """A labelled train/test pair of uint8 image arrays (N x 28 x 28) and where it came from."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _from_idx_dir(folder: Path) -> tuple[np.ndarray, ...] | None:
    paths = []
    for stem in _IDX_FILES:
        found = [folder / (stem + suffix) for suffix in (".gz", "") if (folder / (stem + suffix)).is_file()]
        if not found:
            return None
        paths.append(found[0])
    return tuple(read_idx(p) for p in paths)


def _from_npz(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if {"x_train", "y_train", "x_test", "y_test"} <= keys:
                return tuple(npz[k] for k in ("x_train", "y_train", "x_test", "y_test"))
            if {"x", "y"} <= keys:
                x, y = npz["x"], npz["y"]
            else:
                raise DataError(f"{path}: expected arrays x, y or x_train, y_train, x_test, y_test; found {sorted(keys)}")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} images but y has {len(y)} labels")
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(x))
    n_test = int(round(len(x) * _TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    log.info("%s holds x and y only: split %d train / %d test (seed %d)", path, len(train), len(test), _SPLIT_SEED)
    return x[train], y[train], x[test], y[test]


def _from_dir(folder: Path, name: str) -> tuple[np.ndarray, ...] | None:
    arrays = _from_idx_dir(folder)
    if arrays is not None:
        return arrays
    preferred = folder / ("mnist.npz" if name == "mnist" else "fashion-mnist.npz")
    npzs = [preferred] if preferred.is_file() else sorted(folder.glob("*.npz"))
    if len(npzs) == 1:
        return _from_npz(npzs[0])
    if len(npzs) > 1:
        raise DataError(f"{folder}: several .npz files ({', '.join(p.name for p in npzs)}); point data_dir at one")
    return None


def _download(name: str) -> tuple[np.ndarray, ...] | None:
    if os.environ.get("CLOCKWORK_OFFLINE"):
        return None
    try:
        import keras  # only here: a download is the last resort, and the only path that needs Keras

        module = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as exc:  # no network is the normal case here: say so and move on
        log.info("download of %s through Keras failed: %s", name, exc)
        return None
    return x_train, y_train, x_test, y_test


def checked_arrays(arrays: Any, source: str, name: str = "custom") -> ImageData:
    """``(x_train, y_train, x_test, y_test)`` as :class:`ImageData`, checked: greyscale images
    N x H x W (or N x H x W x 1), uint8 or floats in [0, 1] or [0, 255]; integer labels from 0."""
    if not isinstance(arrays, (tuple, list)) or len(arrays) != 4:
        raise DataError(f"{source}: expected (x_train, y_train, x_test, y_test), got {type(arrays).__name__}")
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in arrays)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 and not (x.ndim == 4 and x.shape[-1] == 1):
            raise DataError(f"{source}: {split} images have shape {x.shape}; expected N x H x W greyscale")
        if len(x) != len(y) or len(x) == 0:
            raise DataError(f"{source}: {split} has {len(x)} images and {len(y)} labels")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DataError(f"{source}: {split} labels must be whole numbers from 0, one per image")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{source}: train images are {x_train.shape[1:]}, test images {x_test.shape[1:]}")
    if x_train.dtype != np.uint8:
        if np.issubdtype(x_train.dtype, np.floating) and float(x_train.max()) <= 1.0:
            x_train, x_test = x_train * 255.0, x_test * 255.0
        x_train, x_test = (np.clip(np.rint(a), 0, 255).astype(np.uint8) for a in (x_train, x_test))
    squeeze = (lambda a: a[..., 0]) if x_train.ndim == 4 else (lambda a: a)
    return ImageData(name, squeeze(x_train), y_train.astype(np.int64), squeeze(x_test), y_test.astype(np.int64), source)


def _check(name: str, arrays: tuple[np.ndarray, ...], source: str) -> ImageData:
    """MNIST and Fashion-MNIST: 28 x 28 images, labels 0-9."""
    data = checked_arrays(arrays, source, name)
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        if x.shape[1:] != (28, 28):
            raise DataError(f"{source}: {split} images have shape {x.shape}; expected N x 28 x 28")
        if y.max() > 9:
            raise DataError(f"{source}: {split} labels must be integers 0-9")
    return data


def _is_class_folder(folder: Path) -> bool:
    from datasets.folders import IMAGE_SUFFIXES

    return any(
        f.suffix.lower() in IMAGE_SUFFIXES for d in folder.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file()
    )


def load_images(name: str, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Load ``mnist`` or ``fashion`` from the first place that has it (see the module docstring)."""
    if name not in NAMES:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(NAMES)}")
    looked: list[str] = []
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if folder.is_file() and folder.suffix == ".npz":
            return _check(name, _from_npz(folder), str(folder))
        if not folder.is_dir():
            raise DataError(f"data_dir {folder} does not exist")
        arrays = _from_dir(folder, name)
        if arrays is None and _is_class_folder(folder):
            from datasets.folders import CLASSES_NPZ, imported

            converted = imported(folder) / CLASSES_NPZ  # one sub-folder of images per class: converted once
            return _check(name, _from_npz(converted), f"{folder} (converted into {converted})")
        if arrays is None:
            raise DataError(f"{folder} holds neither the four IDX files ({', '.join(_IDX_FILES)}, optionally .gz) nor an .npz")
        return _check(name, arrays, str(folder))
    cache = _keras_home()
    candidates = [cache / _KERAS_CACHE[name]]
    if name in _DEBIAN_DIRS:
        candidates.append(_DEBIAN_DIRS[name])
    for candidate in candidates:
        looked.append(str(candidate))
        if candidate.is_file():
            return _check(name, _from_npz(candidate), str(candidate))
        if candidate.is_dir():
            arrays = _from_dir(candidate, name)
            if arrays is not None:
                return _check(name, arrays, str(candidate))
    arrays = _download(name)
    if arrays is not None:
        return _check(name, arrays, "Keras download")
    looked.append("a Keras download (no network)")
    hint = (
        "install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)"
        if name == "fashion"
        else "copy mnist.npz into the Keras cache on a machine with internet"
    )
    raise DataError(
        f"{name} not found; looked in: {'; '.join(looked)}. Either {hint}, "
        f"or pass --set data_dir=DIR (IDX files, Keras' .npz, or an .npz of x and y)"
    )
