"""The alignment stage: a small spatial transformer that straightens the dial before the reader.

A localisation net (strided convolutions and a dense layer) looks at the photo and outputs a
transform, affine (6 numbers) or perspective (8: a homography with its last entry fixed at 1);
a bilinear sampler then resamples the photo through it. The final dense layer starts at zero
weights and the identity transform as its bias, so an untrained stage passes the photo through
unchanged and the reader learns as it would without it; training moves the transform only as far
as the reading loss asks (Jaderberg et al. 2015; the clock reader of Yang, Xie and Zisserman 2022
aligns the same way).

Everything is written with ``keras.ops``, so it runs on any Keras backend, and the sampler is
differentiable with respect to the transform: the bilinear weights are the fractional parts of
the sampling coordinates, which carry the gradient back to the localisation net.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models._config import ALIGNMENTS  # noqa: F401 (re-exported)
# How fast the transform moves against the reader: the stage applies identity + RATE x (the dense
# layer's output - identity). Adam takes steps of about the learning rate in every parameter,
# whatever its gradient's size, so scaling the output is what slows the transform down. A reader
# still at chance sends the transform a noisy signal: at the full rate the aligned demo recipe
# stayed at chance for 9 epochs instead of 3, at a tenth it left with the plain one
# (BENCHMARKS.md, "Augmentation and alignment on the demo recipe").
RATE = 0.1
# What the stage's localisation net is like, as defaults of new layers (each is also an argument,
# kept in the layer's config, so a saved model loads as it was trained). The defaults are the first
# stage (STAGES below); benchmarks/clock_cpu.py sets others (BENCHMARKS.md, "The alignment stage
# learns to straighten the dial: a slower, gated localisation net").
# - GATED: the stage passes the photo through unchanged, without running its localisation net or
#   sampler, until its ``gate`` (a non-trainable weight, 0 at first) is set to 1, by whoever
#   trains it, once the reader has left chance.
# - NORMALISED: a layer normalisation of the convolutions' features before the hidden layer.
# - ACTIVATION: of the localisation net's convolutions and hidden layer.
# - LOC_RATE: the convolutions and the hidden layer compute LOC_RATE x (W x + b) with W initialised
#   LOC_RATE times smaller: the same function at the start, but each Adam step (about the learning
#   rate in every weight, whatever its gradient) moves the effective weights LOC_RATE times less.
GATED = False
NORMALISED = False
ACTIVATION = "relu"
LOC_RATE = 1.0
# The stages a clock config names by ``align_stage``: 1, the first (open from the start, ReLU, at
# the reader's speed: its localisation net died or broke the reader, so it applied one transform
# to every photo); 2, gated, leaky ReLU, ten times slower, which learned to straighten the oblique
# dials (BENCHMARKS.md). Stage 1 takes the defaults above.
STAGES: dict[int, dict[str, Any]] = {1: {}, 2: {"gated": True, "activation": "leaky_relu", "loc_rate": 0.1}}
# A gated stage opens after the first epoch whose validation error is under this (minutes; a
# constant guess scores about 180): from then on the reader reads something the transform can help.
OPENS_BELOW = 150.0
_IDENTITY = {
    "affine": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    "perspective": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
}


def sampling_grid(transforms: Any, height: int, width: int) -> tuple[Any, Any]:
    """Source coordinates (in pixels) of every output pixel, each B x (height * width).

    ``transforms`` is B x 6 (affine ``[a, b, c, d, e, f]``: x' = a x + b y + c, y' = d x + e y + f)
    or B x 8 (perspective: the same numerator over ``g x + h y + 1``), in coordinates normalised
    to [-1, 1] with (0, 0) at the image centre, so the identity is the same at every size.
    """
    ys, xs = ops.meshgrid(ops.linspace(-1.0, 1.0, height), ops.linspace(-1.0, 1.0, width), indexing="ij")
    xs, ys = ops.reshape(xs, (1, -1)), ops.reshape(ys, (1, -1))
    t = [transforms[:, i : i + 1] for i in range(transforms.shape[-1])]
    x_src = t[0] * xs + t[1] * ys + t[2]
    y_src = t[3] * xs + t[4] * ys + t[5]
    if len(t) == 8:
        w = t[6] * xs + t[7] * ys + 1.0
        # Keep the divisor away from 0 (and its sign positive): a degenerate homography maps far
        # outside the photo, where the sampler repeats the border, instead of producing inf.
        w = ops.maximum(w, 0.1)
        x_src, y_src = x_src / w, y_src / w
    return (x_src + 1.0) * 0.5 * (width - 1), (y_src + 1.0) * 0.5 * (height - 1)


def bilinear_sample(images: Any, x: Any, y: Any) -> Any:
    """Sample B x H x W x C ``images`` at pixel coordinates ``x``, ``y`` (each B x N) -> B x N x C.

    Coordinates outside the photo repeat its border pixels. The result is differentiable with
    respect to ``x`` and ``y`` (through the interpolation weights), not only the images.
    """
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    x = ops.clip(x, 0.0, width - 1.0)
    y = ops.clip(y, 0.0, height - 1.0)
    x0 = ops.clip(ops.floor(x), 0.0, width - 2.0)
    y0 = ops.clip(ops.floor(y), 0.0, height - 2.0)
    wx, wy = ops.expand_dims(x - x0, -1), ops.expand_dims(y - y0, -1)  # B x N x 1, carry the gradient
    # One flat gather per neighbour: row b's pixel (y, x) is row b * H * W + y * W + x of the batch.
    batch = ops.shape(images)[0]
    offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * (height * width), -1)
    index = ops.cast(y0, "int32") * width + ops.cast(x0, "int32") + offsets
    flat = ops.reshape(images, (-1, channels))

    def pixels(shift: int) -> Any:
        return ops.take(flat, index + shift, axis=0)

    top = pixels(0) * (1.0 - wx) + pixels(1) * wx
    bottom = pixels(width) * (1.0 - wx) + pixels(width + 1) * wx
    return top * (1.0 - wy) + bottom * wy


def warp(images: Any, transforms: Any) -> Any:
    """Resample B x H x W x C ``images`` through B x 6 or B x 8 ``transforms`` (see sampling_grid)."""
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    x, y = sampling_grid(transforms, height, width)
    return ops.reshape(bilinear_sample(images, x, y), (-1, height, width, channels))


@keras.saving.register_keras_serializable(package="clockwork")
class SpatialTransformer(keras.layers.Layer):
    """Localisation net + bilinear sampler: B x S x S x C photos in, the same photos realigned out.

    Args:
        kind: ``"affine"`` or ``"perspective"``.
        filters: filters of the localisation net's first convolution (doubling twice).
        units: the hidden dense layer's width.
        rate: the transform's share of each change of the dense layer (see ``RATE``).
        gated, normalised, activation, loc_rate: see ``GATED``, ``NORMALISED``, ``ACTIVATION``,
            ``LOC_RATE`` (None: those defaults).
    """

    def __init__(
        self,
        kind: str = "affine",
        filters: int = 8,
        units: int = 32,
        rate: float | None = None,
        gated: bool | None = None,
        normalised: bool | None = None,
        activation: str | None = None,
        loc_rate: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if kind not in _IDENTITY:
            raise ValueError(f"unknown alignment {kind!r}; expected one of {list(_IDENTITY)}")
        self.kind, self.filters, self.units = kind, int(filters), int(units)
        self.rate = float(RATE if rate is None else rate)
        self.gated = bool(GATED if gated is None else gated)
        self.gate: Any = None
        self.normalised = bool(NORMALISED if normalised is None else normalised)
        self.norm = keras.layers.LayerNormalization(name="loc_norm") if self.normalised else None
        # Three stride-2 convolutions see the whole dial at any input size after an average
        # pooling that brings a large photo down to about 32-64 px first (the net is a cost
        # paid on every image, and the transform needs the dial's outline, not its numerals).
        self.pool: keras.layers.Layer | None = None
        self.activation = str(ACTIVATION if activation is None else activation)
        self.loc_rate = float(LOC_RATE if loc_rate is None else loc_rate)
        self.act = keras.activations.get(self.activation)
        init = keras.initializers.VarianceScaling(1.0 / self.loc_rate**2, "fan_avg", "uniform")
        self.convs = [
            keras.layers.Conv2D(
                self.filters * 2**i, 3, strides=2, padding="same", kernel_initializer=init, name=f"loc_conv{i}"
            )
            for i in range(3)
        ]
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(self.units, kernel_initializer=init, name="loc_hidden")
        self.theta = keras.layers.Dense(
            len(_IDENTITY[kind]),
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(_IDENTITY[kind]),
            name="loc_theta",
        )

    def build(self, input_shape: tuple) -> None:
        shape = tuple(input_shape)
        factor = max(1, int(shape[1]) // 32)
        if factor > 1:
            self.pool = keras.layers.AveragePooling2D(factor, name="loc_pool")
            self.pool.build(shape)
            shape = self.pool.compute_output_shape(shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        shape = self.flatten.compute_output_shape(shape)
        if self.norm is not None:
            self.norm.build(shape)
        self.hidden.build(shape)
        self.theta.build(self.hidden.compute_output_shape(shape))
        if self.gated:
            self.gate = self.add_weight(shape=(), initializer="zeros", trainable=False, name="gate")

    def transforms(self, images: Any) -> Any:
        """The B x 6 or B x 8 transforms the localisation net picks for ``images``."""
        x = self.pool(images) if self.pool is not None else images
        for conv in self.convs:
            x = self.act(self.loc_rate * conv(x))
        x = self.flatten(x)
        if self.norm is not None:
            x = self.norm(x)
        theta = self.theta(self.act(self.loc_rate * self.hidden(x)))
        if self.rate == 1.0 and not self.gated:
            return theta
        identity = ops.convert_to_tensor(_IDENTITY[self.kind], dtype=theta.dtype)
        rate = self.rate * ops.cast(self.gate, theta.dtype) if self.gated else self.rate
        return identity + rate * (theta - identity)

    def call(self, images: Any) -> Any:
        def aligned() -> Any:
            return warp(images, self.transforms(images))

        if not self.gated:
            return aligned()
        # A shut gate makes the transform the identity, so the photo passes through as it is: the
        # localisation net and the sampler are skipped, not computed and multiplied by 0. They cost
        # about a third of an epoch at the demo's sizes (BENCHMARKS.md, "The alignment stage skips
        # its work while its gate is shut"), and a seed spends its first epochs shut.
        return ops.cond(self.gate > 0.5, aligned, lambda: images)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        mine = {
            "kind": self.kind, "filters": self.filters, "units": self.units, "rate": self.rate,
            "gated": self.gated, "normalised": self.normalised, "activation": self.activation, "loc_rate": self.loc_rate,
        }
        return {**super().get_config(), **mine}
