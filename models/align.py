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
    """

    def __init__(
        self, kind: str = "affine", filters: int = 8, units: int = 32, rate: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if kind not in _IDENTITY:
            raise ValueError(f"unknown alignment {kind!r}; expected one of {list(_IDENTITY)}")
        self.kind, self.filters, self.units = kind, int(filters), int(units)
        self.rate = float(RATE if rate is None else rate)
        # Three stride-2 convolutions see the whole dial at any input size after an average
        # pooling that brings a large photo down to about 32-64 px first (the net is a cost
        # paid on every image, and the transform needs the dial's outline, not its numerals).
        self.pool: keras.layers.Layer | None = None
        self.convs = [
            keras.layers.Conv2D(
                self.filters * 2**i, 3, strides=2, padding="same", activation="relu", name=f"loc_conv{i}"
            )
            for i in range(3)
        ]
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(self.units, activation="relu", name="loc_hidden")
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
        self.hidden.build(shape)
        self.theta.build(self.hidden.compute_output_shape(shape))

    def transforms(self, images: Any) -> Any:
        """The B x 6 or B x 8 transforms the localisation net picks for ``images``."""
        x = self.pool(images) if self.pool is not None else images
        for conv in self.convs:
            x = conv(x)
        theta = self.theta(self.hidden(self.flatten(x)))
        if self.rate == 1.0:
            return theta
        identity = ops.convert_to_tensor(_IDENTITY[self.kind], dtype=theta.dtype)
        return identity + self.rate * (theta - identity)

    def call(self, images: Any) -> Any:
        return warp(images, self.transforms(images))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        mine = {"kind": self.kind, "filters": self.filters, "units": self.units, "rate": self.rate}
        return {**super().get_config(), **mine}
