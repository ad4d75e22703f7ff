"""Pixel permutation: one fixed shuffle of all pixels, the same for every image it touches.

The permutation depends on its seed and the number of pixels alone, never on the dataset or the
split, so MNIST and Fashion-MNIST, train, validation and test are all shuffled the same way and
anyone holding the seed rebuilds it (``pixel_permutation(seed)``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from datasets.mnist import ImageData

N_PIXELS = 28 * 28


def pixel_permutation(seed: int, n_pixels: int = N_PIXELS) -> np.ndarray:
    """Where each output pixel comes from: ``permuted.flat[i] = image.flat[perm[i]]``."""
    return np.random.default_rng(int(seed)).permutation(n_pixels)


def permute_pixels(images: np.ndarray, seed: int) -> np.ndarray:
    """``images`` (N x H x W[ x C]) with the H*W pixel positions shuffled by the seed's permutation."""
    n, h, w = images.shape[:3]
    flat = images.reshape(n, h * w, -1)
    return flat[:, pixel_permutation(seed, h * w)].reshape(images.shape)


def permute_images(data: ImageData, seed: int | None) -> ImageData:
    """``data`` with train and test images permuted (validation is carved from train later).

    ``seed=None`` returns ``data`` unchanged: the original images.
    """
    if seed is None:
        return data
    return dataclasses.replace(
        data,
        x_train=permute_pixels(data.x_train, seed),
        x_test=permute_pixels(data.x_test, seed),
        source=f"{data.source}, pixels permuted (seed {int(seed)})",
    )
