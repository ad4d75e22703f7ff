"""The tell-the-time data: ``images.npy`` + ``labels.npy`` from a directory, checked, split, resized.

The files (the assignment's, or ``python -m datasets synth-clock``'s look-alike):

- ``images.npy``: N x H x W (or N x H x W x 1) grey images, uint8, or float in [0, 1] or [0, 255];
- ``labels.npy``: N x 2 integers, [hour 0-11, minute 0-59]; hour 12 is read as 0.

Everything a user can get wrong is found by ``load_clock_files`` before any training starts and
reported as one ``DataError`` naming the file. The images are memory-mapped: opening the 18,000
x 150 x 150 set costs a header read, not 400 MB of I/O.

The files are ordered by time of capture, so ``load_clock`` shuffles with a recorded seed before
the 80:20 train/test split; the validation set comes out of the training 80%, and the test 20%
never takes part in training or model selection. Resizing to a model's input size happens once
per source and size, cached on disk (see ``resized``): a second worker or run memory-maps it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from datasets.clocktime import MINUTES, labels_to_minutes
from datasets.errors import DataError
from datasets.splits import Splits, carve, validation_split

log = logging.getLogger(__name__)

IMAGES, LABELS = "images.npy", "labels.npy"
MIN_IMAGES = 200  # fewer cannot be split 80:20 and still leave a validation set worth the name
TEST_FRACTION = 0.2
VAL_SIZE = 0.1  # of the training part: a count, or a fraction when below 1
SPLIT_SEED = 0
MODEL_SIZES = (150, 100, 75, 64)  # input sizes the clock models use; any size from 8 px works
DEFAULT_CACHE = Path("runs") / "cache" / "clock"
RESIZE_METHOD = "pillow-lanczos-1"  # part of every cache key: change it when the resize changes
_CHUNK = 256  # images per pass when a whole-array scan would need too much memory
_PROGRESS_FROM = 2000  # show a progress bar when resizing at least this many images
_hour12_reported: set[str] = set()


# -- reading and checking --------------------------------------------------------------------


def _open_npy(path: Path) -> np.ndarray:
    """Memory-map one .npy file; anything unreadable becomes a ``DataError`` naming the file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (a clock data directory holds {IMAGES} and {LABELS})")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            header = read_header(f)
            data_start = f.tell()
    except Exception as exc:  # numpy raises ValueError, EOFError, SyntaxError... for a bad header
        raise DataError(f"{path}: not a readable .npy file ({exc})") from exc
    shape, _fortran, dtype = header
    if dtype.hasobject:
        raise DataError(f"{path}: holds Python objects ({dtype}); save plain numbers with numpy.save")
    expected = data_start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = path.stat().st_size
    if actual < expected:
        raise DataError(f"{path}: truncated: {actual} bytes, but its header says {shape} {dtype} needs {expected}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from exc


def _chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, _CHUNK):
        yield slice(start, min(start + _CHUNK, n))


def _check_images(path: Path, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the images as N x H x W and the factor that maps their values onto 0-255.

    Only non-uint8 files are scanned (in chunks, so a float set never sits twice in memory).
    """
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise DataError(f"{path}: images have shape {images.shape}; expected N x H x W or N x H x W x 1 (grey)")
    if min(images.shape[1:]) < 8:
        raise DataError(f"{path}: images are {images.shape[1]} x {images.shape[2]} pixels; too small to read a clock")
    if images.dtype == np.uint8:
        return images, 1.0
    floating = np.issubdtype(images.dtype, np.floating)
    if not (floating or np.issubdtype(images.dtype, np.integer)):
        raise DataError(f"{path}: images are {images.dtype}; expected uint8, or floats in [0, 1] or [0, 255]")
    lo, hi = np.inf, -np.inf
    for part in _chunks(len(images)):
        block = np.asarray(images[part])
        if floating and not np.isfinite(block).all():
            bad = "NaN" if np.isnan(block).any() else "infinite values"
            raise DataError(f"{path}: images contain {bad} (first in images {part.start}-{part.stop - 1})")
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    if lo < 0 or hi > 255:
        raise DataError(f"{path}: image values run from {lo:g} to {hi:g}; expected [0, 1] or [0, 255]")
    return images, (255.0 if floating and hi <= 1.0 else 1.0)


def _check_labels(path: Path, labels: np.ndarray, n_images: int) -> np.ndarray:
    """Return the labels as an in-memory N x 2 int64 array [hour 0-11, minute 0-59]."""
    if labels.ndim != 2 or labels.shape[1] != 2:
        raise DataError(f"{path}: labels have shape {labels.shape}; expected N x 2 ([hour, minute] per image)")
    if len(labels) != n_images:
        raise DataError(f"{path}: {len(labels)} labels for {n_images} images in {IMAGES}; every image needs one label")
    values = np.asarray(labels)
    if np.issubdtype(values.dtype, np.floating):
        if np.isnan(values).any():
            raise DataError(f"{path}: labels contain NaN (first at row {int(np.isnan(values).any(axis=1).argmax())})")
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise DataError(
                f"{path}: labels must be whole numbers; found fractions such as {values[values != np.round(values)][0]}"
            )
    elif not np.issubdtype(values.dtype, np.integer):
        raise DataError(f"{path}: labels are {values.dtype}; expected integers [hour, minute]")
    values = values.astype(np.int64)
    hours, minutes = values[:, 0], values[:, 1]
    for name, column, top in (("hour", hours, 12), ("minute", minutes, 59)):
        bad = np.flatnonzero((column < 0) | (column > top))
        if len(bad):
            allowed = "0-11 (12 is read as 0)" if name == "hour" else "0-59"
            raise DataError(
                f"{path}: {name} {column[bad[0]]} at row {bad[0]} is out of range; "
                f"expected {allowed} ({len(bad)} such rows)"
            )
    twelve = hours == 12
    if twelve.any():
        if str(path) not in _hour12_reported:  # said once, however often the file is loaded
            _hour12_reported.add(str(path))
            log.info("%s: read hour 12 as 0 in %d labels (a 12-hour dial)", path, int(twelve.sum()))
        values[twelve, 0] = 0
    return values


def load_clock_files(data_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, float]:
    """Open and check a clock data directory.

    Returns (images N x H x W memory-mapped, labels N x 2 int64, scale): ``images * scale`` is on
    0-255 (scale is 255 for float images in [0, 1], else 1). Raises ``DataError`` on any problem.
    """
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: clock data directory not found (it should hold {IMAGES} and {LABELS})")
    from datasets.folders import LABELS_CSV, imported

    if not (folder / IMAGES).exists() and (folder / LABELS_CSV).is_file():
        folder = imported(folder)  # photos with labels.csv: converted once, cached
    images_path, labels_path = folder / IMAGES, folder / LABELS
    images, scale = _check_images(images_path, _open_npy(images_path))
    labels = _check_labels(labels_path, _open_npy(labels_path), len(images))
    if len(images) < MIN_IMAGES:
        raise DataError(f"{images_path}: only {len(images)} images; the clock data needs at least {MIN_IMAGES}")
    return images, labels, scale


# -- resizing, cached --------------------------------------------------------------------------


def source_key(path: str | os.PathLike) -> str:
    """Identity of a file for the cache: resolved path, size and modification time (ns)."""
    p = Path(path).resolve()
    st = p.stat()
    return f"{p}|{st.st_size}|{st.st_mtime_ns}"


def resize_images(images: np.ndarray, size: int, scale: float = 1.0, progress: bool | None = None) -> np.ndarray:
    """N x H x W -> N x size x size uint8, one antialiased Lanczos resize per image (Pillow).

    ``scale`` maps the input values onto 0-255 first (255 for floats in [0, 1]).
    """
    out = np.empty((len(images), size, size), np.uint8)
    show = len(images) >= _PROGRESS_FROM if progress is None else progress
    for i in tqdm(range(len(images)), desc=f"resize to {size} px", unit="img", disable=not show):
        img = np.asarray(images[i])
        if img.dtype != np.uint8:
            img = np.clip(np.rint(img.astype(np.float32) * scale), 0, 255).astype(np.uint8)
        if img.shape != (size, size):
            img = np.asarray(Image.fromarray(img, "L").resize((size, size), Image.Resampling.LANCZOS))
        out[i] = img
    return out


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` so concurrent workers resize once, not each."""
    try:
        import fcntl
    except ImportError:  # not POSIX: every worker may resize, the atomic rename keeps it safe
        yield
        return
    with open(lock_path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cache_path(cache_dir: str | os.PathLike, key: str, size: int) -> Path:
    digest = hashlib.sha256(f"{key}|{size}|{RESIZE_METHOD}".encode()).hexdigest()[:20]
    return Path(cache_dir) / f"clock-{digest}-{size}px.npy"


def resized(
    images: np.ndarray,
    size: int,
    key: str,
    cache_dir: str | os.PathLike = DEFAULT_CACHE,
    scale: float = 1.0,
    resize: Callable[..., np.ndarray] = resize_images,
) -> np.ndarray:
    """``images`` at ``size`` x ``size`` uint8, from the disk cache when an earlier run made them.

    ``key`` names the source (see ``source_key``); the cache file is keyed by it, the size and
    the resize method, written under a temporary name and renamed, so a reader never sees a
    partial file. Returns a read-only memory map of the cached array.
    """
    folder = Path(cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the resize cache directory ({exc.strerror})") from exc
    target = cache_path(folder, key, size)
    try:
        return _resized_locked(images, size, target, scale, resize)
    except OSError as exc:
        raise DataError(f"{folder}: cannot use the resize cache ({exc.strerror or exc})") from exc


def _resized_locked(
    images: np.ndarray, size: int, target: Path, scale: float, resize: Callable[..., np.ndarray]
) -> np.ndarray:
    folder = target.parent
    with _exclusive(target.with_suffix(".lock")):
        if target.is_file():
            try:
                cached = np.load(target, mmap_mode="r", allow_pickle=False)
                if cached.shape == (len(images), size, size) and cached.dtype == np.uint8:
                    log.info("resized clock images from cache %s", target)
                    return cached
            except (ValueError, OSError, EOFError):
                pass
            log.warning("%s: unusable cache file, resizing again", target)
        log.info("resizing %d clock images to %d px (cached in %s)", len(images), size, folder)
        array = resize(images, size, scale)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=target.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, array)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; other users' workers read it too
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return np.load(target, mmap_mode="r", allow_pickle=False)


# -- the split -------------------------------------------------------------------------------


def test_split(n: int, seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(test, rest) index arrays: the test part depends on ``seed`` and ``n`` only, so changing
    the validation size never moves an image between test and the rest."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(order[:n_test]), order[n_test:]


def split_indices(
    n: int, seed: int = SPLIT_SEED, val_size: int | float = VAL_SIZE, test_fraction: float = TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) index arrays: disjoint, covering ``range(n)``, fixed by ``seed``."""
    test, rest = test_split(n, seed, test_fraction)
    train, val = validation_split(len(rest), val_size, seed)
    return rest[train], rest[val], test


def load_clock(
    data_dir: str | os.PathLike,
    size: int | None = None,
    seed: int = SPLIT_SEED,
    val_size: int | float = VAL_SIZE,
    cache_dir: str | os.PathLike = DEFAULT_CACHE,
    train_limit: int | None = None,
) -> Splits:
    """Load, check, resize (cached) and split a clock data directory.

    ``size``: the model's input side in pixels (150, 100, 75, 64...); None keeps the files' size.
    Labels are minutes past 12:00 (:mod:`datasets.clocktime`). Training images come in shuffled
    order (a prefix is a random subset, which ``train_limit`` keeps).
    """
    folder = Path(data_dir).expanduser()
    images, labels, scale = load_clock_files(folder)
    native = images.shape[1] if images.shape[1] == images.shape[2] else None
    if size is not None and size < 8:
        raise DataError(f"clock image size {size} px is too small; use one of {', '.join(map(str, MODEL_SIZES))}")
    if (size is None or size == native) and images.dtype == np.uint8:
        pixels = images
    else:
        target = size if size is not None else max(images.shape[1:])
        pixels = resized(images, target, source_key(folder / IMAGES), cache_dir, scale)
    test, rest = test_split(len(labels), seed)
    minutes = labels_to_minutes(labels)
    splits = carve(
        pixels, minutes, rest, pixels[test], minutes[test],
        val_size=val_size, seed=seed, train_limit=train_limit, source=str(folder),
    )
    log.info(
        "clock data %s: %d train, %d validation, %d test at %d px (split seed %d)",
        folder, len(splits.x_train), len(splits.x_val), len(test), pixels.shape[1], seed,
    )
    return splits
