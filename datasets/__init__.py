"""Datasets as numpy arrays: MNIST / Fashion-MNIST, splits. Nothing here knows Keras models."""

from datasets.errors import DataError
from datasets.mnist import ImageData, load_images
from datasets.splits import validation_split

__all__ = ["DataError", "ImageData", "load_images", "validation_split"]
