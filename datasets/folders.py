"""Image folders, as photos usually arrive, converted once into the arrays the loaders read.

Two layouts:

- **clock**: image files plus ``labels.csv`` with a header ``file,hour,minute`` (hour 0-12, 12
  read as 0; minute 0-59), one row per image. Becomes ``images.npy`` + ``labels.npy``, the clock
  data directory of :mod:`datasets.clock`.
- **classes**: one sub-folder of images per class (``shirt/``, ``shoe/``, ...). Becomes
  ``data.npz`` with ``x`` and ``y`` (classes numbered in sorted folder order, named in
  ``classes.json``), which ``--set data_dir=DIR/data.npz`` hands to the image loaders.

``python -m datasets import SRC --out DIR [--size N]`` runs the conversion. A search given such a
folder as ``data_dir`` converts it itself, once, into ``runs/cache/import/`` (keyed by the names,
sizes and times of its files, so a changed folder is converted again), without resizing. Every problem is one
line naming the file: an unreadable image, an image without a label, a label without an image,
a label out of range, images of different sizes without ``--size``. Images become greyscale
uint8, resized (Lanczos) to ``--size`` x ``--size`` when given. The result is then opened by the
same checks the loaders run, so what ``import`` accepts, a search accepts.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from datasets.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
LABELS_CSV = "labels.csv"
CLASSES_NPZ = "data.npz"


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def layout(src: Path) -> str:
    """``clock`` (a ``labels.csv``), ``classes`` (sub-folders of images), else a DataError."""
    if not src.is_dir():
        raise DataError(f"{src}: not a folder")
    if (src / LABELS_CSV).is_file():
        return "clock"
    if any(_images_in(d) for d in src.iterdir() if d.is_dir()):
        return "classes"
    raise DataError(f"{src}: neither a {LABELS_CSV} (clock photos) nor sub-folders of images (one per class)")


def read_grey(path: Path, size: int | None) -> np.ndarray:
    """One image as greyscale uint8, ``size`` x ``size`` when given."""
    try:
        with Image.open(path) as img:
            grey = img.convert("L")
            if size is not None and grey.size != (size, size):
                grey = grey.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(grey, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable image ({exc})") from None


def _stack(paths: list[Path], size: int | None) -> np.ndarray:
    images = [read_grey(p, size) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        first = images[0].shape
        odd = next(p for p, im in zip(paths, images) if im.shape != first)
        raise DataError(
            f"{odd}: {odd.name} is {images[paths.index(odd)].shape[1]} x {images[paths.index(odd)].shape[0]} px, "
            f"{paths[0].name} {first[1]} x {first[0]}; pass --size N to resize every image"
        )
    return np.stack(images)


def _clock_rows(src: Path) -> list[tuple[str, int, int]]:
    path = src / LABELS_CSV
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"file", "hour", "minute"} <= set(reader.fieldnames):
            raise DataError(f"{path}: expected a header line file,hour,minute (got {reader.fieldnames})")
        rows, seen = [], set()
        for line, row in enumerate(reader, start=2):
            name = (row["file"] or "").strip()
            try:
                hour, minute = int(row["hour"]), int(row["minute"])
            except (TypeError, ValueError):
                raise DataError(f"{path}:{line}: hour and minute must be whole numbers, got {row['hour']!r}, {row['minute']!r}") from None
            if not 0 <= hour <= 12 or not 0 <= minute <= 59:
                raise DataError(f"{path}:{line}: {hour}:{minute:02d} is out of range (hour 0-12, minute 0-59)")
            if name in seen:
                raise DataError(f"{path}:{line}: {name} is labelled twice")
            if not (src / name).is_file():
                raise DataError(f"{path}:{line}: {name} not found in {src}")
            seen.add(name)
            rows.append((name, hour % 12, minute))
    unlabelled = [p.name for p in _images_in(src) if p.name not in seen]
    if unlabelled:
        raise DataError(f"{src / unlabelled[0]}: no label in {LABELS_CSV} ({len(unlabelled)} image(s) without one)")
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def import_clock(src: Path, out: Path, size: int | None = None) -> str:
    from datasets.clock import IMAGES, LABELS, load_clock_files

    rows = _clock_rows(src)
    images = _stack([src / name for name, _, _ in rows], size)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / IMAGES, images)
    np.save(out / LABELS, np.array([[h, m] for _, h, m in rows], dtype=np.int64))
    (out / "import.json").write_text(json.dumps({"source": str(src.resolve()), "images": len(rows), "layout": "clock"}, indent=2))
    load_clock_files(out)  # the loader's own checks: what import accepts, a search accepts
    return f"{len(rows)} clock photos ({images.shape[2]} x {images.shape[1]} px) to {out}: {IMAGES}, {LABELS}"


def import_classes(src: Path, out: Path, size: int | None = None) -> str:
    classes = sorted(d.name for d in src.iterdir() if d.is_dir() and _images_in(d))
    paths, labels = [], []
    for index, name in enumerate(classes):
        files = _images_in(src / name)
        paths += files
        labels += [index] * len(files)
    x = _stack(paths, size)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / CLASSES_NPZ, x=x, y=np.asarray(labels, dtype=np.int64))
    (out / "import.json").write_text(json.dumps({"source": str(src.resolve()), "images": len(paths), "layout": "classes"}, indent=2))
    (out / "classes.json").write_text(json.dumps({"source": str(src.resolve()), "classes": classes}, indent=2))
    return (
        f"{len(paths)} images in {len(classes)} classes ({x.shape[2]} x {x.shape[1]} px) to {out / CLASSES_NPZ} "
        f"(x, y; class names in classes.json)"
    )


CACHE = Path("runs") / "cache" / "import"


def imported(src: Path) -> Path:
    """``src`` converted (once; again when a file in it changes) into the import cache; the folder."""
    import hashlib
    import logging

    files = sorted(p for p in src.rglob("*") if p.is_file())
    digest = hashlib.sha256(str(src.resolve()).encode())
    for p in files:
        st = p.stat()
        digest.update(f"{p.relative_to(src)}|{st.st_size}|{st.st_mtime_ns}".encode())
    out = CACHE / digest.hexdigest()[:16]
    if not (out / "import.json").is_file():
        logging.getLogger(__name__).info("%s is a folder of images: converting it once into %s", src, out)
        tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")  # workers may convert at the same time
        import_folder(src, tmp)
        try:
            tmp.replace(out)
        except OSError:  # another process finished first: its copy is the same
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def import_folder(src: str | Path, out: str | Path, size: int | None = None) -> str:
    """Convert the image folder ``src`` into ``out``; return what was written, in words."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if size is not None and size < 8:
        raise DataError(f"--size {size}: expected at least 8 px")
    if out.resolve() == src.resolve():
        raise DataError(f"--out {out}: choose a folder other than the source")
    kind = layout(src)
    return import_clock(src, out, size) if kind == "clock" else import_classes(src, out, size)
