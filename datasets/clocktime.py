"""Clock time, defined once: minutes on the 12-hour dial and the common-sense error.

A time is minutes past 12:00 in [0, 720); labels on disk are [hour 0-11, minute 0-59] rows (hour
12 reads as 0). The common-sense error is the distance on the dial: 11:55 against 0:05 is 10
minutes, not 710, and the largest possible error is 360. The data, the models' heads, the
renderer, the artifacts and ``predict`` all use these functions.
"""

from __future__ import annotations

import numpy as np

MINUTES = 720  # one turn of the hour hand; also the distinct readings at minute resolution


def to_minutes(hour: np.ndarray | int, minute: np.ndarray | int) -> np.ndarray:
    """[hour 0-11 (12 counts as 0), minute 0-59] -> minutes past 12:00."""
    return (np.asarray(hour) % 12) * 60 + np.asarray(minute)


def labels_to_minutes(labels: np.ndarray) -> np.ndarray:
    """Label rows [hour, minute] (N x 2) -> minutes past 12:00, 0-719."""
    labels = np.asarray(labels)
    return to_minutes(labels[..., 0], labels[..., 1])


def split_minutes(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minutes past 12:00 (any real numbers, taken around the dial) -> (hour 0-11, minute 0-59)."""
    total = np.rint(np.asarray(minutes, dtype=np.float64)).astype(np.int64) % MINUTES
    return total // 60, total % 60


def minutes_to_labels(minutes: np.ndarray) -> np.ndarray:
    """Minutes (taken around the dial) -> label rows [hour 0-11, minute 0-59]."""
    return np.stack(split_minutes(minutes), axis=-1)


def clock_label(minutes: float) -> str:
    """A time as a person reads it off the dial: ``h:mm`` with 12 for hour 0."""
    hour, minute = (int(v) for v in split_minutes(minutes))
    return f"{hour or 12}:{minute:02d}"


def common_sense_error(true_minutes: np.ndarray, predicted_minutes: np.ndarray) -> np.ndarray:
    """Element-wise distance in minutes on the 720-minute circle, in [0, 360]."""
    diff = np.abs(np.asarray(true_minutes, dtype=np.float64) - np.asarray(predicted_minutes, dtype=np.float64)) % MINUTES
    return np.minimum(diff, MINUTES - diff)


def minute_hand_error(true_minutes: np.ndarray, predicted_minutes: np.ndarray) -> np.ndarray:
    """Element-wise distance of the minute readings on the 60-minute circle, in [0, 30]: what the
    long hand alone says, whatever the hour. A reader that guesses has a mean of 15."""
    diff = np.abs(np.asarray(true_minutes, dtype=np.float64) - np.asarray(predicted_minutes, dtype=np.float64)) % 60
    return np.minimum(diff, 60 - diff)


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """The numbers a clock trial stores: mean, median, 90th percentile, share within 1/5/10 min, and
    the share read about an hour off (50 to 70 min: the short hand misread, the long one right)."""
    errors = np.asarray(errors, dtype=np.float64)
    return {
        "hour_off": float(((errors >= 50) & (errors <= 70)).mean()),
        "mean": float(errors.mean()),
        "median": float(np.median(errors)),
        "p90": float(np.percentile(errors, 90)),
        "within_1": float((errors <= 1).mean()),
        "within_5": float((errors <= 5).mean()),
        "within_10": float((errors <= 10).mean()),
    }
