"""Datasets as numpy arrays: MNIST / Fashion-MNIST, clock photos (files and a synthetic
renderer), clock time, contact sheets, splits. Nothing here knows Keras models or Optuna."""

from datasets.clock import load_clock
from datasets.errors import DataError
from datasets.mnist import ImageData, load_images
from datasets.splits import Splits, carve, validation_split

__all__ = ["DataError", "ImageData", "Splits", "carve", "load_clock", "load_images", "validation_split"]
