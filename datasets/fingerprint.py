"""A short fingerprint of a dataset's arrays: the same bytes, shapes and dtypes give the same text."""

from __future__ import annotations

import hashlib

import numpy as np


def fingerprint(*arrays: np.ndarray) -> str:
    """``sha256:`` and 16 hex digits over every array's shape, dtype and bytes (memory maps are read
    in chunks of rows: a 400 MB clock set costs about half a second)."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype}".encode())
        rows = max(1, (64 << 20) // max(1, array[:1].nbytes))
        for start in range(0, len(array), rows):
            digest.update(np.ascontiguousarray(array[start : start + rows]).tobytes())
    return "sha256:" + digest.hexdigest()[:16]
