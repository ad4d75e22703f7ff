"""Bad clock data through the CLI: one clear line, exit code 2, no traceback, no study created."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from conftest import cli, pins


def _write(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images)
    np.save(folder / "labels.npy", labels)
    return folder


def _good(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 32, 32), dtype=np.uint8), np.stack([rng.integers(0, 12, n), rng.integers(0, 60, n)], 1)


def _corrupt(folder: Path) -> None:
    _write(folder, *_good())
    (folder / "images.npy").write_bytes(b"this is not a numpy file")


def _truncated(folder: Path) -> None:
    _write(folder, *_good())
    data = (folder / "images.npy").read_bytes()
    (folder / "images.npy").write_bytes(data[: len(data) // 2])


def _nan_pixels(folder: Path) -> None:
    images, labels = _good()
    images = images.astype(np.float32)
    images[5, 3, 3] = np.nan
    _write(folder, images, labels)


def _hour_out_of_range(folder: Path) -> None:
    images, labels = _good()
    labels[7, 0] = 13
    _write(folder, images, labels)


def _wrong_dtype(folder: Path) -> None:
    images, labels = _good()
    _write(folder, images.astype(np.complex64), labels)


def _wrong_shape(folder: Path) -> None:
    images, labels = _good()
    _write(folder, images.reshape(300, 32 * 32), labels)


def _empty(folder: Path) -> None:
    _write(folder, np.zeros((0, 32, 32), np.uint8), np.zeros((0, 2), np.int64))


CASES = {
    "corrupt": (_corrupt, "not a readable .npy file"),
    "truncated": (_truncated, "truncated"),
    "nan": (_nan_pixels, "NaN"),
    "hour": (_hour_out_of_range, "hour 13 at row 7 is out of range"),
    "dtype": (_wrong_dtype, "complex64"),
    "shape": (_wrong_shape, "expected N x H x W"),
    "empty": (_empty, "only 0 images"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_clock_data_is_one_clear_message(case: str, tmp_path: Path, storage: str) -> None:
    make, fragment = CASES[case]
    folder = tmp_path / "clock"
    make(folder)
    result = cli("launch", "clock", "--workers", "1", "--trials", "1", "--storage", storage, *pins(f"data_dir={folder}"))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("clockwork: error: ") and "Traceback" not in result.stderr
    assert fragment in result.stderr and str(folder) in result.stderr
    db = Path(storage.removeprefix("sqlite:///"))
    assert not db.exists() or not optuna.get_all_study_names(storage)
