"""A synthetic look-alike of the tell-the-time photos, for when the real files are not at hand.

The real set is 18,000 grayscale photos of one analog wall clock (thick dark rim, white face,
60 ticks, numerals 1-12, hour and minute hands, no second hand), taken from oblique angles and
rotated any way, on carpet or wood, with glare, blur and noise. ``render_clock`` draws one such
photo with its hands at exactly the labelled time; ``synthesize`` writes a whole set in the real
set's format (``images.npy`` N x S x S uint8, ``labels.npy`` N x 2 [hour 0-11, minute 0-59]).

Reproducibility: image ``i`` of seed ``s`` is drawn from its own generator,
``SeedSequence(s, spawn_key=(1, i))`` (what ``SeedSequence(s).spawn`` would hand out), and the
labels from ``spawn_key=(0,)``. So the files are byte-identical for a seed whatever the number
of processes that render them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datasets import _draw
from datasets.clocktime import MINUTES
from datasets.errors import DataError
from datasets.sheet import contact_sheet

log = logging.getLogger(__name__)

RENDERER_VERSION = 1  # bump when a change alters the pixels of a seed
_CHUNK = 250  # images per task handed to a worker process
_SHEET_SAMPLES = 16


@dataclass(frozen=True)
class ClockStyle:
    """Every way the photos vary, as ranges a renderer draws from uniformly.

    A range of ``(a, a)`` pins the value; a zero maximum switches the effect off.
    """

    tilt_max: float = 55.0  # degrees between the dial's normal and the camera axis
    distance: tuple[float, float] | None = (2.5, 7.0)  # camera distance, dial radii (None: no perspective)
    rotation_max: float = 180.0  # in-plane rotation either way, degrees (180: any angle, upside down too)
    fill: tuple[float, float] = (0.80, 0.95)  # the clock's larger extent over the frame's side
    offset: float = 0.04  # the clock's centre moves up to this fraction of the frame either way
    case_depth: float = 0.16  # depth of the case behind the glass, dial radii (its side shows under tilt)
    background: str = "texture"  # "texture" (carpet or wood grain) or "plain"
    background_level: tuple[float, float] = (70.0, 190.0)  # mean grey of the background
    shadow: float = 0.6  # darkest the clock's soft shadow gets (0: none)
    glare: tuple[int, int] = (0, 3)  # glare blobs on the glass per photo
    glare_strength: tuple[float, float] = (0.25, 0.75)
    lighting: float = 0.5  # strongest brightness change across the frame (a gradient)
    gamma: tuple[float, float] = (0.75, 1.35)
    contrast: tuple[float, float] = (0.7, 1.15)
    brightness: tuple[float, float] = (-40.0, 25.0)  # grey levels added
    hand_shadow: float = 0.35  # darkest the hands' shadow on the face gets (0: none)
    glass_sheen: float = 0.12  # strongest even haze the glass adds over the face
    blur: tuple[float, float] = (0.0, 1.0)  # Gaussian radius in output pixels
    noise: tuple[float, float] = (1.0, 6.0)  # sensor noise, standard deviation in grey levels
    numerals: bool = True
    ticks: bool = True

    def __post_init__(self) -> None:
        if self.background not in ("texture", "plain"):
            raise DataError(f"clock style: background must be 'texture' or 'plain', not {self.background!r}")
        if not 0 <= self.tilt_max < 85:
            raise DataError(f"clock style: tilt_max must be in [0, 85) degrees, not {self.tilt_max}")
        if not 0 < self.fill[0] <= self.fill[1] <= 1.2:
            raise DataError(f"clock style: fill must be a range within (0, 1.2], not {self.fill}")


STYLES: dict[str, ClockStyle] = {
    "photo": ClockStyle(),
    # Flat, upright, centred, no glare, plain background: readable by eye, and exact for tests.
    "clean": ClockStyle(
        tilt_max=0.0,
        distance=None,
        rotation_max=0.0,
        fill=(0.9, 0.9),
        offset=0.0,
        case_depth=0.0,
        background="plain",
        background_level=(150.0, 150.0),
        shadow=0.0,
        glare=(0, 0),
        lighting=0.0,
        hand_shadow=0.0,
        glass_sheen=0.0,
        gamma=(1.0, 1.0),
        contrast=(1.0, 1.0),
        brightness=(0.0, 0.0),
        blur=(0.0, 0.0),
        noise=(0.0, 0.0),
    ),
}


def style_named(name: str, **overrides: object) -> ClockStyle:
    """A preset by name, with any fields replaced; a bad name or field is a ``DataError``."""
    if name not in STYLES:
        raise DataError(f"unknown clock style {name!r}; known: {', '.join(STYLES)}")
    fields = {f.name for f in dataclasses.fields(ClockStyle)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise DataError(f"unknown clock style field(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    return dataclasses.replace(STYLES[name], **overrides)


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image ``index``: depends on (seed, index) only, not on who renders it."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))


def clock_labels(n: int, seed: int) -> np.ndarray:
    """``n`` labels [hour, minute], uniform over the 720 times: each time ``n // 720`` or one more
    times (the real set's 18,000 are 25 of each), in a seeded random order."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    times = np.arange(n) % MINUTES
    extra = n % MINUTES
    if extra:  # which times get the one extra copy is random too, not always the earliest ones
        times[n - extra :] = rng.choice(MINUTES, size=extra, replace=False)
    times = rng.permutation(times)
    return np.stack([times // 60, times % 60], axis=1).astype(np.int64)


def render_clock(
    hour: int, minute: int, rng: np.random.Generator | int = 0, style: ClockStyle | str = "photo", size: int = 150
) -> np.ndarray:
    """One ``size`` x ``size`` uint8 photo of the clock showing ``hour:minute``.

    The hour hand points at 30 x (hour + minute / 60) degrees and the minute hand at 6 x minute
    degrees, clockwise from 12, on the dial before the camera tilts and turns it.
    """
    if not (0 <= hour < 12 and 0 <= minute < 60):
        raise ValueError(f"time {hour}:{minute:02d} is not on a 12-hour dial")
    if isinstance(style, str):
        style = style_named(style)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return _draw.render_photo(int(hour), int(minute), rng, style, int(size))


def _render_range(start: int, labels: np.ndarray, seed: int, style: ClockStyle, size: int) -> np.ndarray:
    out = np.empty((len(labels), size, size), np.uint8)
    for k, (hour, minute) in enumerate(labels):
        out[k] = _draw.render_photo(int(hour), int(minute), image_rng(seed, start + k), style, size)
    return out


def _process_context() -> multiprocessing.context.BaseContext:
    """Fresh worker processes, not forks of this one: the caller may run threads (TensorFlow
    in a test session), and forking a threaded process can deadlock the child."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def render_set(
    labels: np.ndarray,
    seed: int,
    style: ClockStyle,
    size: int = 150,
    jobs: int = 1,
    out: np.ndarray | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Render one image per label row into ``out`` (or a new array), on ``jobs`` processes."""
    n = len(labels)
    if out is None:
        out = np.empty((n, size, size), np.uint8)
    step = max(1, min(_CHUNK, math.ceil(n / (4 * jobs))))  # small sets still reach every process
    chunks = [(s, labels[s : s + step]) for s in range(0, n, step)]
    bar = tqdm(total=n, unit="img", desc="synth-clock", disable=not progress, smoothing=0.1)
    with bar:
        if jobs <= 1 or len(chunks) <= 1:
            for start, part in chunks:
                out[start : start + len(part)] = _render_range(start, part, seed, style, size)
                bar.update(len(part))
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=_process_context()) as pool:
                futures = [pool.submit(_render_range, start, part, seed, style, size) for start, part in chunks]
                for (start, part), future in zip(chunks, futures, strict=False):
                    out[start : start + len(part)] = future.result()
                    bar.update(len(part))
    return out


def synthesize(
    out_dir: str | os.PathLike,
    n: int,
    seed: int = 7,
    style: ClockStyle | str = "photo",
    size: int = 150,
    jobs: int = 1,
    progress: bool = True,
) -> Path:
    """Write ``images.npy``, ``labels.npy``, ``sheet.png`` and ``synth.json`` into ``out_dir``.

    The arrays are written under temporary names and renamed when complete, so a reader never
    sees a half-written set. Returns the directory.
    """
    if isinstance(style, str):
        style_name, style = style, style_named(style)
    else:
        style_name = next((k for k, v in STYLES.items() if v == style), "custom")
    if n < 1:
        raise DataError(f"synth-clock: --n must be at least 1, not {n}")
    if not 16 <= size <= 1024:
        raise DataError(f"synth-clock: --size must be between 16 and 1024 pixels, not {size}")
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the output directory ({exc.strerror})") from exc
    labels = clock_labels(n, seed)
    log.info(
        "rendering %d %s clocks at %d px, seed %d, %d process(es) into %s", n, style_name, size, seed, jobs, folder
    )

    tmp_images = folder / "images.npy.tmp"
    images = np.lib.format.open_memmap(tmp_images, mode="w+", dtype=np.uint8, shape=(n, size, size))
    render_set(labels, seed, style, size, jobs, out=images, progress=progress)
    images.flush()
    tmp_labels = folder / "labels.npy.tmp"
    with open(tmp_labels, "wb") as f:
        np.save(f, labels)
    picks = np.arange(min(n, _SHEET_SAMPLES))
    captions = [f"{hour}:{minute:02d}" for hour, minute in labels[picks]]
    contact_sheet(images[picks], captions).save(folder / "sheet.png", optimize=False)
    del images
    os.replace(tmp_labels, folder / "labels.npy")
    os.replace(tmp_images, folder / "images.npy")
    meta = {
        "renderer_version": RENDERER_VERSION,
        "n": n,
        "seed": seed,
        "size": size,
        "style_name": style_name,
        "style": dataclasses.asdict(style),
    }
    (folder / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder
