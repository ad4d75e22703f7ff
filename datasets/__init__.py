"""Datasets as numpy arrays: MNIST / Fashion-MNIST, clock photos (files and a synthetic
renderer), splits. Nothing here knows Keras models or Optuna."""

from datasets.clock import ClockData, load_clock, to_minutes
from datasets.errors import DataError
from datasets.mnist import ImageData, load_images
from datasets.splits import validation_split

__all__ = ["ClockData", "DataError", "ImageData", "load_clock", "load_images", "to_minutes", "validation_split"]
