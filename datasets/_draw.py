"""Drawing primitives for the synthetic clock: dial, hands, camera, backgrounds, photo effects.

Coordinates: *dial units* put the clock centre at (0, 0) and the outside of the rim at radius 1,
with x to the right and y down (12 o'clock at (0, -1)). Pixel coordinates are continuous, pixel i
covering [i, i + 1), which is what Pillow's ``transform`` uses; ``ImageDraw`` puts pixel centres
on integers, hence the ``- 0.5`` where we draw.

Every per-image function takes its randomness from the ``rng`` it is handed, in a fixed order,
so an image depends on its own seed only (see ``datasets.synth``).
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

if TYPE_CHECKING:
    from datasets.synth import ClockStyle

# The one clock being imitated, in dial units and grey levels.
RIM_INNER = 0.84  # the white face ends here; the dark rim runs from here to 1
RIM_GREY, RIM_HIGHLIGHT = 34.0, 85.0  # rim body, and the lit crest of its rounded bezel
FACE_GREY, INK_GREY, HAND_GREY = 236.0, 28.0, 18.0
TICKS = (0.745, 0.80, 0.011)  # minute ticks: inner radius, outer radius, width
BOLD_TICKS = (0.69, 0.80, 0.030)  # every fifth minute
NUMERAL_RADIUS, NUMERAL_HEIGHT = 0.575, 0.165
# Hands as (reach past the centre, tail behind it, width at the hub, width near the tip).
HOUR_HAND = (0.50, 0.09, 0.085, 0.050)
MINUTE_HAND = (0.79, 0.13, 0.052, 0.026)
HUB_RADIUS = 0.055


def hand_angles(hour: int, minute: int) -> tuple[float, float]:
    """Degrees clockwise from 12 of the hour and minute hands: the labels' exact geometry."""
    return 30.0 * (hour % 12 + minute / 60.0), 6.0 * minute


def _disc_coverage(r: np.ndarray, radius: float, px_per_unit: float) -> np.ndarray:
    """Antialiased inside-the-circle coverage, one pixel of soft edge."""
    return np.clip((radius - r) * px_per_unit + 0.5, 0.0, 1.0)


@functools.lru_cache(maxsize=8)
def dial(px: int, numerals: bool, ticks: bool) -> Image.Image:
    """The face and rim without hands, ``px`` x ``px`` (the rim touching the edges), grey "L".

    Drawn once per process and size: the clock is the same in every photo, only its hands move.
    Outside the rim the image holds the rim grey, so bilinear sampling never pulls in black.
    """
    half = px / 2
    coords = (np.arange(px, dtype=np.float64) + 0.5 - half) / half
    r = np.hypot(coords[None, :], coords[:, None])
    face = _disc_coverage(r, RIM_INNER, half)
    # Rounded bezel: darker body, a lit crest, a shadowed inner lip where it meets the face.
    crest = np.exp(-(((r - 0.93) / 0.035) ** 2))
    lip = np.exp(-(((r - RIM_INNER - 0.012) / 0.012) ** 2))
    rim = RIM_GREY + (RIM_HIGHLIGHT - RIM_GREY) * crest - 20.0 * lip
    # The face is white paper behind glass, a touch darker towards the rim.
    face_grey = FACE_GREY - 10.0 * np.clip(r / RIM_INNER, 0, 1) ** 4
    lum = rim * (1 - face) + face_grey * face

    # Ticks and numerals as ink coverage, drawn 4x larger and box-filtered down for antialiasing.
    big = 4 * px
    ink = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(ink)
    c, unit = big / 2 - 0.5, big / 2
    if ticks:
        for m in range(60):
            r0, r1, w = BOLD_TICKS if m % 5 == 0 else TICKS
            s, k = math.sin(math.radians(6 * m)), -math.cos(math.radians(6 * m))
            draw.line(
                [(c + r0 * unit * s, c + r0 * unit * k), (c + r1 * unit * s, c + r1 * unit * k)],
                fill=255,
                width=max(1, round(w * unit)),
            )
    if numerals:
        font = ImageFont.load_default(size=max(4, round(NUMERAL_HEIGHT * unit * 1.35)))
        stroke = max(1, round(0.012 * unit))  # a bold face, as on wall clocks
        for h in range(1, 13):
            a = math.radians(30 * h)
            xy = (c + NUMERAL_RADIUS * unit * math.sin(a), c - NUMERAL_RADIUS * unit * math.cos(a))
            draw.text(xy, str(h), fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
    cover = np.asarray(ink.resize((px, px), Image.Resampling.BOX), dtype=np.float64) / 255.0
    lum = lum * (1 - cover * face) + INK_GREY * cover * face
    return Image.fromarray(np.clip(np.rint(lum), 0, 255).astype(np.uint8), "L")


def _hand_polygon(angle_deg: float, shape: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """A tapered hand with a pointed tip, in dial units, pointing ``angle_deg`` clockwise from 12."""
    reach, tail, width, tip = shape
    along = np.array([math.sin(math.radians(angle_deg)), -math.cos(math.radians(angle_deg))])
    across = np.array([-along[1], along[0]])
    outline = [
        (-tail, -0.7 * width / 2),
        (0.0, -width / 2),
        (0.82 * reach, -tip / 2),
        (reach, 0.0),
        (0.82 * reach, tip / 2),
        (0.0, width / 2),
        (-tail, 0.7 * width / 2),
    ]
    return [tuple(a * along + b * across) for a, b in outline]


def dial_with_hands(
    px: int, hour: int, minute: int, numerals: bool, ticks: bool, shadow: tuple[float, float, float] | None = None
) -> Image.Image:
    """The dial with both hands drawn at the exact angles of ``hour:minute`` (no second hand).

    ``shadow`` = (dx, dy, darkness): the hands' shadow on the face, offset in dial units.
    """
    img = dial(px, numerals, ticks).copy()
    half = px / 2
    hour_angle, minute_angle = hand_angles(hour, minute)
    hands = [_hand_polygon(angle, shape) for angle, shape in ((hour_angle, HOUR_HAND), (minute_angle, MINUTE_HAND))]
    hub = HUB_RADIUS * half

    def outline(dx: float, dy: float) -> list[list[tuple[float, float]]]:
        return [[(half + (x + dx) * half - 0.5, half + (y + dy) * half - 0.5) for x, y in hand] for hand in hands]

    if shadow is not None:
        dx, dy, darkness = shadow
        shade = Image.new("L", img.size, 255)
        draw = ImageDraw.Draw(shade)
        for poly in outline(dx, dy):
            draw.polygon(poly, fill=round(255 * (1 - darkness)))
        img = ImageChops.multiply(img, shade)
    draw = ImageDraw.Draw(img)
    for poly in outline(0.0, 0.0):
        draw.polygon(poly, fill=int(HAND_GREY))
    draw.ellipse([half - hub - 0.5, half - hub - 0.5, half + hub - 0.5, half + hub - 0.5], fill=int(HAND_GREY))
    return img


# -- camera ----------------------------------------------------------------------------------


def _tilt_matrix(tilt_deg: float, axis_deg: float) -> np.ndarray:
    """Rotation turning the dial by ``tilt_deg`` about an in-plane axis at ``axis_deg`` (Rodrigues)."""
    t, p = math.radians(tilt_deg), math.radians(axis_deg)
    a = np.array([math.cos(p), math.sin(p), 0.0])
    cross = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) * math.cos(t) + math.sin(t) * cross + (1 - math.cos(t)) * np.outer(a, a)


def _plane_homography(rot: np.ndarray, depth: float, distance: float) -> np.ndarray:
    """Dial units of the plane ``depth`` behind the glass -> image plane, camera ``distance`` away.

    ``distance`` is in dial radii from the centre of the glass; ``inf`` gives a parallel view.
    Normalised so that a dial facing the camera keeps scale 1 at the centre.
    """
    cols = np.column_stack([rot[:, 0], rot[:, 1], rot[:, 2] * depth])
    if math.isinf(distance):
        return np.vstack([cols[:2], [0.0, 0.0, 1.0]])
    cols[2, 2] += distance
    return np.diag([distance, distance, 1.0]) @ cols


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = h @ np.vstack([pts.T, np.ones(len(pts))])
    return (q[:2] / q[2]).T


class Camera:
    """Where one photo's clock lands: homographies from dial units to output pixels.

    ``front`` maps the glass plane, ``back`` the back of the case (its visible side under a tilt).
    """

    def __init__(
        self,
        size: int,
        tilt: float,
        tilt_axis: float,
        distance: float,
        rotation: float,
        fill: float,
        offset: tuple[float, float],
        depth: float,
    ) -> None:
        rot3 = _tilt_matrix(tilt, tilt_axis)
        front = _plane_homography(rot3, 0.0, distance)
        back = _plane_homography(rot3, depth, distance)
        ring = np.array([[math.cos(a), math.sin(a)] for a in np.linspace(0, 2 * math.pi, 96, endpoint=False)])
        rho = math.radians(rotation)
        spin = np.array([[math.cos(rho), -math.sin(rho), 0], [math.sin(rho), math.cos(rho), 0], [0, 0, 1]])
        outline = _apply(spin @ front, ring)
        lo, hi = outline.min(0), outline.max(0)
        scale = fill * size / float((hi - lo).max())
        centre = size / 2 + np.asarray(offset) * size - scale * (lo + hi) / 2
        place = np.array([[scale, 0, centre[0]], [0, scale, centre[1]], [0, 0, 1]])
        self.size = size
        self.scale = scale  # output pixels per dial unit, near the centre
        self.front = place @ spin @ front
        self.back = place @ spin @ back

    def to_dial(self, plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dial coordinates (u, v) under every output pixel centre, for one plane's homography."""
        inv = np.linalg.inv(plane).astype(np.float32)  # float32 all the way: half the time of float64
        x, y = _grid(self.size)
        w = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
        return (inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]) / w, (inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]) / w

    def warp(self, img: Image.Image) -> np.ndarray:
        """Sample a dial image (rim touching its edges) into the output frame, bilinear."""
        half = img.size[0] / 2
        to_src = np.array([[half, 0, half], [0, half, half], [0, 0, 1]]) @ np.linalg.inv(self.front)
        to_src /= to_src[2, 2]
        out = img.transform(
            (self.size, self.size), Image.Transform.PERSPECTIVE, tuple(to_src.ravel()[:8]), Image.Resampling.BILINEAR
        )
        return np.asarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, float32; row/column vectors broadcast to the full frame."""
    c = np.arange(size, dtype=np.float32) + 0.5
    return c[None, :], c[:, None]


# -- backgrounds -----------------------------------------------------------------------------

# Standard normal quantiles of 256 equal-probability bins: indexing it with random bytes gives
# Gaussian-looking noise 7x faster than ``standard_normal`` (tails stop at 2.9 sigma).
_GAUSS = np.array([NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)], np.float32)


def gauss_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-mean, unit-variance-ish noise, float32."""
    return _GAUSS[rng.integers(0, 256, size=shape, dtype=np.uint8)]


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)  # ``x % 1.0``, which numpy computes 30x slower


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1]-ish: a ``cells`` x ``cells`` grid upsampled bicubically."""
    coarse = Image.fromarray(rng.random((cells, cells), dtype=np.float32), "F")
    return np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)


def _rotated(size: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    x, y = _grid(size)
    c, s = math.cos(angle), math.sin(angle)
    return x * c + y * s, y * c - x * s  # along, across


def carpet(rng: np.random.Generator, size: int, level: float) -> np.ndarray:
    """Looped-pile carpet: fibre noise, a faint weave, blotches, sometimes dark woven stripes."""
    img = level + gauss_noise(rng, (size, size)) * rng.uniform(8, 20)
    img += (smooth_noise(rng, size, int(rng.integers(4, 10))) - 0.5) * rng.uniform(15, 45)
    along, across = _rotated(size, rng.uniform(0, math.pi))
    pitch = rng.uniform(2.2, 4.5)
    img += rng.uniform(4, 12) * np.sin(2 * math.pi * along / pitch) * np.sin(2 * math.pi * across / pitch)
    if rng.random() < 0.6:
        period = rng.uniform(0.15, 0.45) * size
        duty, dark = rng.uniform(0.15, 0.5), rng.uniform(0.3, 0.65)
        wobble = (smooth_noise(rng, size, 4) - 0.5) * rng.uniform(0, 8)
        phase = _frac((across + wobble) / period + rng.random())
        stripe = np.clip((duty - np.abs(phase - 0.5)) * period / 1.5, 0, 1)  # soft-edged band
        img *= 1 - dark * stripe
    return img


def wood(rng: np.random.Generator, size: int, level: float) -> np.ndarray:
    """Floorboards: wavy growth rings, fine grain streaks, a tone per plank, dark seams between."""
    along, across = _rotated(size, rng.uniform(0, math.pi))
    warp = (smooth_noise(rng, size, int(rng.integers(3, 7))) - 0.5) * rng.uniform(6, 20)
    ring_period = rng.uniform(5, 16)
    rings = 0.5 + 0.5 * np.sin(2 * math.pi * (across + warp) / ring_period + 0.02 * along)
    streaks = gauss_noise(rng, (4 * size,))
    streaks = np.convolve(streaks, np.ones(2, np.float32) / 2, mode="same")
    idx = np.clip((across + 0.4 * warp + 2 * size).astype(np.int32), 0, 4 * size - 1)
    plank_w = rng.uniform(0.22, 0.55) * size
    shift = rng.uniform(0, plank_w)
    plank = np.floor((across + shift) / plank_w).astype(np.int32)
    tones = rng.uniform(-30, 30, size=int(plank.max() - plank.min()) + 1).astype(np.float32)
    img = (
        level
        + tones[plank - plank.min()]
        + rng.uniform(15, 45) * (rings * rings * rings - 0.35)
        + rng.uniform(5, 14) * streaks[idx]
    )
    gap = np.abs(_frac((across + shift) / plank_w) - 0.5) * plank_w  # distance from the plank's middle
    seam = np.clip(gap - (plank_w / 2 - rng.uniform(0.8, 2.0)), 0, 1)
    return img * (1 - rng.uniform(0.5, 0.8) * seam)


# -- photo effects ---------------------------------------------------------------------------


def glare(rng: np.random.Generator, cam: Camera, count: int, strength: tuple[float, float]) -> np.ndarray:
    """Reflections on the glass: soft elongated bright blobs, in [0, 1] per pixel."""
    x, y = _grid(cam.size)
    total = np.zeros((cam.size, cam.size), np.float32)
    for _ in range(count):
        r, a = 0.75 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        cx, cy = (float(c) for c in _apply(cam.front, np.array([[r * math.cos(a), r * math.sin(a)]]))[0])
        major = rng.uniform(0.04, 0.2) * cam.size
        minor = major / rng.uniform(1.0, 4.0)
        t = rng.uniform(0, math.pi)
        du, dv = (x - cx) * math.cos(t) + (y - cy) * math.sin(t), (y - cy) * math.cos(t) - (x - cx) * math.sin(t)
        du, dv = du / major, dv / minor
        total += rng.uniform(*strength) * np.exp(-0.5 * (du * du + dv * dv))
    return np.minimum(total, 1.0)


def soften(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur through Pillow (8-bit, which both the shadow mask and a photo can afford).

    Not a BLAS product: on a busy machine OpenBLAS threads make a 150 px blur take milliseconds.
    """
    if sigma <= 0.05:
        return img
    grey = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "L")
    return np.asarray(grey.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32)


def _shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved by (dy, dx) pixels, its edge values repeated into the uncovered border."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return a
    padded = np.pad(a, p, mode="edge")
    h, w = a.shape
    return padded[p - dy : p - dy + h, p - dx : p - dx + w]


def sample_camera(rng: np.random.Generator, style: ClockStyle, size: int) -> Camera:
    """The viewpoint of one photo; the first draws from ``rng`` that ``render_photo`` makes."""
    u = rng.uniform
    return Camera(
        size,
        tilt=style.tilt_max * math.sqrt(rng.random()),  # more weight on strong tilts than uniform in angle
        tilt_axis=u(0, 360),
        distance=u(*style.distance) if style.distance else math.inf,
        rotation=u(-style.rotation_max, style.rotation_max),
        fill=u(*style.fill),
        offset=(u(-style.offset, style.offset), u(-style.offset, style.offset)),
        depth=style.case_depth,
    )


def _tone_curve(gamma: float, contrast: float, brightness: float) -> np.ndarray:
    """The camera's response as a 256-entry lookup table: gamma, then contrast about mid-grey, then offset."""
    v = 255.0 * (np.arange(256) / 255.0) ** gamma
    return np.clip(np.rint((v - 128.0) * contrast + 128.0 + brightness), 0, 255).astype(np.uint8)


def render_photo(hour: int, minute: int, rng: np.random.Generator, style: ClockStyle, size: int) -> np.ndarray:
    """One ``size`` x ``size`` uint8 photo of the clock at ``hour:minute`` in ``style``."""
    u = rng.uniform
    cam = sample_camera(rng, style, size)
    level = u(*style.background_level)
    if style.background == "plain":
        img = np.full((size, size), level, np.float32)
    elif rng.random() < 0.5:
        img = carpet(rng, size, level)
    else:
        img = wood(rng, size, level)

    fu, fv = cam.to_dial(cam.front)
    r_front = np.hypot(fu, fv)
    alpha = _disc_coverage(r_front, 1.0, cam.scale)
    glass = _disc_coverage(r_front, RIM_INNER, cam.scale)
    if style.case_depth > 0:
        bu, bv = cam.to_dial(cam.back)
        body = np.maximum(_disc_coverage(np.hypot(bu, bv), 1.0, cam.scale), alpha)
    else:
        body = alpha
    if style.shadow > 0:
        shadow = soften(255 * body, u(0.02, 0.07) * size) / 255
        dy, dx = (int(s) for s in rng.integers(-int(0.04 * size) - 1, int(0.04 * size) + 2, size=2))
        shadow = _shifted(shadow, dy, dx)
        img *= 1 - u(0.2, 1.0) * style.shadow * shadow
    if style.case_depth > 0:
        img += (u(18, 60) - img) * body  # the case's side, seen past the rim
    shade = None
    if style.hand_shadow > 0:
        a, d = u(0, 2 * math.pi), u(0.01, 0.035)
        shade = (d * math.cos(a), d * math.sin(a), u(0.3, 1.0) * style.hand_shadow)
    # Hands drawn at twice the size and box-filtered down: 2 x 2 supersampled, antialiased edges.
    lum = cam.warp(dial_with_hands(2 * size, hour, minute, style.numerals, style.ticks, shade).reduce(2))
    img += (lum - img) * alpha

    n_glare = int(rng.integers(style.glare[0], style.glare[1] + 1))
    if n_glare or style.glass_sheen > 0:
        light = np.full((size, size), u(0, style.glass_sheen), np.float32)
        if n_glare:
            light = np.maximum(light, glare(rng, cam, n_glare, style.glare_strength))
        img += (255 - img) * light * glass
    if style.lighting > 0:
        x, y = _grid(size)
        gx, gy = (float(g) * style.lighting / size for g in u(-1, 1, size=2))
        img *= 1 + gx * (x - size / 2) + gy * (y - size / 2)
    tone = _tone_curve(u(*style.gamma), u(*style.contrast), u(*style.brightness))
    grey = Image.fromarray(tone[np.clip(np.rint(img), 0, 255).astype(np.uint8)], "L")
    radius = u(*style.blur)
    if radius > 0.05:
        grey = grey.filter(ImageFilter.GaussianBlur(radius))
    sigma = u(*style.noise)
    if sigma <= 0:
        return np.array(grey)
    noisy = np.asarray(grey, dtype=np.float32) + gauss_noise(rng, (size, size)) * sigma
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
