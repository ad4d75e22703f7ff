"""Clock photos to read the time from: a data directory, an images.npy, or image files.

This is the input side of ``python -m search predict``: anything a user points at becomes one
uint8 N x S x S array at the model's input size, with a name per image and, where the input
carries them, the true labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from datasets.clock import IMAGES, LABELS, _check_images, _check_labels, _open_npy, resize_images
from datasets.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Photos:
    images: np.ndarray  # N x size x size uint8
    names: list[str]
    labels: np.ndarray | None  # N x 2 [hour, minute], when the input has them


def _from_npy(images_path: Path, size: int) -> Photos:
    images, scale = _check_images(images_path, _open_npy(images_path))
    labels_path = images_path.with_name(LABELS)
    labels = _check_labels(labels_path, _open_npy(labels_path), len(images)) if labels_path.is_file() else None
    names = [f"{images_path.name}[{i}]" for i in range(len(images))]
    return Photos(resize_images(images, size, scale), names, labels)


def _from_files(paths: list[Path], size: int) -> Photos:
    out = np.empty((len(paths), size, size), np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                grey = image.convert("L")
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{path}: not a readable image ({exc})") from exc
        out[i] = np.asarray(grey.resize((size, size), Image.Resampling.LANCZOS))
    return Photos(out, [str(p) for p in paths], None)


def read_photos(inputs: list[str | Path], size: int) -> Photos:
    """Load ``inputs`` (one data directory, one .npy, or image files) at ``size`` x ``size``."""
    paths = [Path(p).expanduser() for p in inputs]
    if not paths:
        raise DataError("no input given: pass a data directory, an images.npy, or image files")
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise DataError(f"{missing[0]}: no such file or directory")
    if len(paths) == 1 and paths[0].is_dir():
        return _from_npy(paths[0] / IMAGES, size)
    if len(paths) == 1 and paths[0].suffix == ".npy":
        return _from_npy(paths[0], size)
    unknown = [p for p in paths if p.suffix.lower() not in IMAGE_SUFFIXES]
    if unknown:
        raise DataError(f"{unknown[0]}: expected a data directory, an images.npy, or image files ({', '.join(IMAGE_SUFFIXES)})")
    return _from_files(paths, size)
