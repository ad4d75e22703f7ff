"""`python -m datasets import`: photo folders become the arrays the loaders read, or one line says why not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets.__main__ import main

N_CLOCK = 210  # the clock loader wants at least 200 photos


def _png(path: Path, value: int, size: int = 32) -> None:
    Image.fromarray(np.full((size, size), value, np.uint8), "L").save(path)


@pytest.fixture
def clock_photos(tmp_path: Path) -> Path:
    src = tmp_path / "photos"
    src.mkdir()
    rows = ["file,hour,minute"]
    for i in range(N_CLOCK):
        _png(src / f"p{i:03d}.png", i % 256)
        rows.append(f"p{i:03d}.png,{i % 13},{i % 60}")  # hour 12 is read as 0
    (src / "labels.csv").write_text("\n".join(rows) + "\n")
    return src


def test_clock_folder_becomes_a_clock_data_directory(capsys, clock_photos: Path, tmp_path: Path) -> None:
    from datasets.clock import load_clock

    out = tmp_path / "clock"
    assert main(["import", str(clock_photos), "--out", str(out), "--size", "24"]) == 0
    assert f"wrote {N_CLOCK} clock photos (24 x 24 px)" in capsys.readouterr().out
    labels = np.load(out / "labels.npy")
    assert labels.shape == (N_CLOCK, 2) and labels[12].tolist() == [0, 12] and labels[5].tolist() == [5, 5]
    assert np.load(out / "images.npy").shape == (N_CLOCK, 24, 24)
    splits = load_clock(out, seed=0, val_size=0.1, cache_dir=tmp_path / "cache")  # a search reads it as it is
    assert len(splits.x_train) + len(splits.x_val) + len(splits.x_test) == N_CLOCK


def test_class_folders_become_an_npz_the_image_loaders_read(capsys, tmp_path: Path) -> None:
    from datasets import load_images

    src = tmp_path / "classes"
    for c, name in enumerate(["bag", "coat", "shoe"]):
        (src / name).mkdir(parents=True)
        for i in range(20):
            _png(src / name / f"{i}.png", 10 * c + i, size=40)
    out = tmp_path / "out"
    assert main(["import", str(src), "--out", str(out), "--size", "28"]) == 0
    assert "60 images in 3 classes (28 x 28 px)" in capsys.readouterr().out
    assert json.loads((out / "classes.json").read_text())["classes"] == ["bag", "coat", "shoe"]
    data = load_images("fashion", out / "data.npz")
    assert sorted(set(data.y_train.tolist()) | set(data.y_test.tolist())) == [0, 1, 2]


@pytest.mark.parametrize(
    "break_it,fragment",
    [
        (lambda s: (s / "p007.png").write_bytes(b"not a png"), "p007.png: unreadable image"),
        (lambda s: _png(s / "extra.png", 1), "extra.png: no label in labels.csv"),
        (lambda s: (s / "p003.png").unlink(), "labels.csv:5: p003.png not found"),
        (lambda s: (s / "labels.csv").write_text((s / "labels.csv").read_text().replace("p009.png,9,9", "p009.png,9,61")),
         "labels.csv:11: 9:61 is out of range"),
        (lambda s: (s / "labels.csv").write_text((s / "labels.csv").read_text().replace("p009.png,9,9", "p009.png,nine,9")),
         "labels.csv:11: hour and minute must be whole numbers"),
        (lambda s: (s / "labels.csv").write_text("name,h,m\n"), "expected a header line file,hour,minute"),
        (lambda s: _png(s / "p004.png", 4, size=40), "p004.png is 40 x 40 px, p000.png 32 x 32; pass --size N"),
    ],
    ids=["unreadable", "unlabelled", "missing", "out of range", "not a number", "no header", "sizes differ"],
)
def test_each_problem_is_one_line(capsys, clock_photos: Path, tmp_path: Path, break_it, fragment: str) -> None:
    break_it(clock_photos)
    out = tmp_path / "out"
    assert main(["import", str(clock_photos), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("datasets: error: ") and fragment in err[0], err
    assert not (out / "images.npy").exists()


def test_a_folder_that_is_neither_layout_is_one_line(capsys, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["import", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "neither a labels.csv (clock photos) nor sub-folders of images" in capsys.readouterr().err


def test_a_search_reads_a_photo_folder_as_its_data_dir(clock_photos: Path, tmp_path: Path, monkeypatch) -> None:
    """Given as data_dir, a folder of photos is converted once into the import cache, then reused."""
    from datasets import clock

    monkeypatch.chdir(tmp_path)
    images, labels, _ = clock.load_clock_files(clock_photos)
    assert images.shape == (N_CLOCK, 32, 32) and labels[12].tolist() == [0, 12]
    converted = list((tmp_path / "runs" / "cache" / "import").iterdir())
    assert len(converted) == 1
    stamp = (converted[0] / "images.npy").stat().st_mtime_ns
    clock.load_clock_files(clock_photos)
    assert (converted[0] / "images.npy").stat().st_mtime_ns == stamp  # not converted again
    _png(clock_photos / "p000.png", 99)  # a changed photo: converted again
    clock.load_clock_files(clock_photos)
    assert len(list((tmp_path / "runs" / "cache" / "import").iterdir())) == 2


def test_a_search_reads_class_folders_as_its_data_dir(tmp_path: Path, monkeypatch) -> None:
    from datasets import load_images

    monkeypatch.chdir(tmp_path)
    for c in range(2):
        (tmp_path / "shots" / f"class{c}").mkdir(parents=True)
        for i in range(10):
            _png(tmp_path / "shots" / f"class{c}" / f"{i}.png", i, size=28)
    data = load_images("fashion", tmp_path / "shots")
    assert len(data.x_train) + len(data.x_test) == 20 and "converted into" in data.source
