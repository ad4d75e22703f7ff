"""Label-preserving changes of clock photos, drawn afresh for every batch of training photos.

The photos show a dial at any in-plane angle, tilt and lighting, so turning the whole photo by
any angle, shifting, scaling or mildly skewing it, or changing its brightness, contrast and
noise, keeps the time (the numerals move with the hands); mirroring would not and is never used.

All geometric changes of one photo are composed into one homography and applied with one
bilinear warp (numpy, vectorised over the batch), then the photometric ones: a few element-wise
operations. A batch of sixteen 40 px photos takes well under a millisecond, against tens for the
network's step, so the augmented epoch costs little more than the plain one (BENCHMARKS.md).

An ``augment`` value is a preset (``none``, ``light``, ``strong``) or transform names joined by
``+`` (``rotate+noise``), which is how the ablation in BENCHMARKS.md switches one on at a time.
"""

from __future__ import annotations

import functools

import numpy as np

# The same names as models._config.AUGMENT_TRANSFORMS, which checks configs without numpy.
TRANSFORMS = ("rotate", "turn", "shift", "scale", "perspective", "brightness", "contrast", "noise")
PRESETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "light": ("shift", "brightness", "contrast"),
    "strong": TRANSFORMS,
}
# Strengths, in normalised coordinates (the photo spans [-1, 1]) and a 0-255 pixel scale.
SHIFT = 0.1  # up to 5% of the side each way
SCALE = 0.1  # zoom by a factor in [1/1.1, 1.1]
PERSPECTIVE = 0.15  # the homography's bottom-row entries: a corner moves by up to about 10%
BRIGHTNESS = 0.1 * 255
CONTRAST = 0.2  # the spread about the photo's mean times a factor in [0.8, 1.2]
NOISE = 0.03 * 255  # standard deviation of the added Gaussian noise


def transforms_of(augment: str) -> tuple[str, ...]:
    """The transform names an ``augment`` value switches on; ValueError names an unknown one."""
    if augment in PRESETS:
        return PRESETS[augment]
    names = tuple(augment.split("+"))
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown or not names:
        raise ValueError(f"unknown augmentation {unknown[0] if unknown else augment!r}")
    return names


def random_homographies(n: int, transforms: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """n x 3 x 3 maps from an output pixel to where it is read in the source, normalised coordinates."""
    if "rotate" in transforms:
        angle = rng.uniform(0, 2 * np.pi, n)
    elif "turn" in transforms:  # quarter turns: the pixel grid onto itself, nothing interpolated
        angle = rng.integers(0, 4, n) * (np.pi / 2)
    else:
        angle = np.zeros(n)
    scale = np.exp(rng.uniform(-np.log1p(SCALE), np.log1p(SCALE), n)) if "scale" in transforms else np.ones(n)
    shift = rng.uniform(-SHIFT, SHIFT, (n, 2)) if "shift" in transforms else np.zeros((n, 2))
    skew = rng.uniform(-PERSPECTIVE, PERSPECTIVE, (n, 2)) if "perspective" in transforms else np.zeros((n, 2))
    return homographies(angle, scale, shift, skew)


def homographies(angle: np.ndarray, scale: np.ndarray, shift: np.ndarray, skew: np.ndarray) -> np.ndarray:
    """n x 3 x 3 maps from n turns (radians), zooms, n x 2 shifts and n x 2 perspective skews."""
    n = len(angle)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    h = np.zeros((n, 3, 3))
    h[:, 0, 0], h[:, 0, 1], h[:, 0, 2] = cos, -sin, shift[:, 0]
    h[:, 1, 0], h[:, 1, 1], h[:, 1, 2] = sin, cos, shift[:, 1]
    h[:, 2, 0], h[:, 2, 1], h[:, 2, 2] = skew[:, 0], skew[:, 1], 1.0
    return h


NOISE_FIELDS = 512


@functools.lru_cache(maxsize=8)
def _noise_fields(shape: tuple[int, ...]) -> np.ndarray:
    """A fixed bank of Gaussian noise fields to draw from: drawing fresh normals for every pixel
    of every batch would cost as much as the warp itself."""
    return np.random.default_rng(0).standard_normal((NOISE_FIELDS, *shape), dtype=np.float32) * np.float32(NOISE)


@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> np.ndarray:
    """3 x (height * width) homogeneous normalised coordinates of every output pixel."""
    ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]).astype(np.float32)


def warp_batch(images: np.ndarray, homographies: np.ndarray) -> np.ndarray:
    """Resample B x S x S photos through B x 3 x 3 homographies (bilinear) -> float32.

    A pixel that maps outside the photo repeats the nearest border pixel: a turned photo's
    corners become streaks of background, where a mirrored border would paste mirrored pieces of
    the dial (and of its hands) into them. Written for speed (in-place float32 arithmetic, one
    gather per neighbour): it runs once per training batch.
    """
    b, height, width = images.shape
    src = homographies.astype(np.float32) @ _grid(height, width)  # B x 3 x N
    inv_w = 1.0 / np.maximum(src[:, 2], np.float32(1e-3))

    def pixel_coordinate(normalised: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = normalised * inv_w
        c += 1.0
        c *= np.float32(0.5 * (size - 1))
        np.clip(c, 0, size - 1, out=c)
        low = np.minimum(c.astype(np.int32), size - 2)  # c >= 0: truncation is the floor
        c -= low
        return low, c, 1.0 - c  # the lower neighbour, its weight's complement, its weight

    x0, wx, ux = pixel_coordinate(src[:, 0], width)
    y0, wy, uy = pixel_coordinate(src[:, 1], height)
    flat = images.reshape(-1).astype(np.float32)
    i = y0 * width + x0
    i += (np.arange(b, dtype=np.int32) * (height * width))[:, None]  # into the flattened batch
    out = (np.take(flat, i) * ux + np.take(flat, i + 1) * wx) * uy
    i += width
    out += (np.take(flat, i) * ux + np.take(flat, i + 1) * wx) * wy
    return out.reshape(b, height, width)


def augment_batch(images: np.ndarray, transforms: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """B x S x S uint8 photos -> the same photos changed by ``transforms``, float32 on 0-255."""
    b = len(images)
    if any(t in transforms for t in ("rotate", "turn", "shift", "scale", "perspective")):
        out = warp_batch(images, random_homographies(b, transforms, rng))
    else:
        out = images.astype(np.float32)
    if "contrast" in transforms:
        mean = out.mean(axis=(1, 2), keepdims=True)
        out = (out - mean) * rng.uniform(1 - CONTRAST, 1 + CONTRAST, (b, 1, 1)).astype(np.float32) + mean
    if "brightness" in transforms:
        out = out + rng.uniform(-BRIGHTNESS, BRIGHTNESS, (b, 1, 1)).astype(np.float32)
    if "noise" in transforms:
        out += _noise_fields(out.shape[1:])[rng.integers(0, NOISE_FIELDS, b)]
    return np.clip(out, 0, 255, out=out)
