"""The common-sense error: how far apart two times are on a 12-hour clock face, in minutes.

11:55 against 0:05 is 10 minutes, not 710; the largest possible error is 360. Times are minutes
past 12:00 in [0, 720).
"""

from __future__ import annotations

import numpy as np

MINUTES = 720  # one turn of the hour hand


def to_minutes(hour: np.ndarray | int, minute: np.ndarray | int) -> np.ndarray:
    """[hour 0-11 (12 counts as 0), minute 0-59] -> minutes past 12:00."""
    return (np.asarray(hour) % 12) * 60 + np.asarray(minute)


def split_minutes(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minutes past 12:00 -> (hour 0-11, minute 0-59), rounding to the nearest minute."""
    total = np.rint(np.asarray(minutes, dtype=np.float64)).astype(np.int64) % MINUTES
    return total // 60, total % 60


def common_sense_error(true_minutes: np.ndarray, predicted_minutes: np.ndarray) -> np.ndarray:
    """Element-wise distance in minutes on the 720-minute circle, in [0, 360]."""
    diff = np.abs(np.asarray(true_minutes, dtype=np.float64) - np.asarray(predicted_minutes, dtype=np.float64)) % MINUTES
    return np.minimum(diff, MINUTES - diff)


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """The numbers a clock trial stores: mean, median, 90th percentile, share within 1/5/10 min."""
    errors = np.asarray(errors, dtype=np.float64)
    return {
        "mean": float(errors.mean()),
        "median": float(np.median(errors)),
        "p90": float(np.percentile(errors, 90)),
        "within_1": float((errors <= 1).mean()),
        "within_5": float((errors <= 5).mean()),
        "within_10": float((errors <= 10).mean()),
    }
