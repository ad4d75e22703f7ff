"""Where a clock reader's misses sit: its test errors against each photo's camera.

A trial's ``predictions.npz`` artifact (y_true, y_pred, error over the test photos, in the order of
``datasets.clock.test_split``) is joined with the viewpoint the renderer drew for each photo, which
``datasets.synth.image_rng`` replays without rendering: the dial's tilt, and how far the tilt moves
the hour hand's apparent angle from its true one (measured from the photo's own 12 o'clock, the
distortion a reader has to undo). Only for sets made by ``datasets synth-clock`` (synth.json).

    .venv/bin/python benchmarks/clock_misses.py runs/artifacts/<id> --data-dir data/clock
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets._draw import HOUR_HAND, _apply, hand_angles, sample_camera
from datasets.clock import load_clock_files, test_split
from datasets.synth import ClockStyle, image_rng

HOUR_OFF = (50.0, 70.0)  # minutes off that read as "an hour off", the trials' own test_hour_off


def apparent_angle(front: np.ndarray, degrees: float) -> float:
    """Degrees clockwise from the photo's 12 o'clock at which a hand at ``degrees`` on the dial appears."""
    a, reach = math.radians(degrees), HOUR_HAND[0]  # at the hour hand's tip
    centre, twelve, tip = _apply(front, np.array([[0.0, 0.0], [0.0, -reach], [reach * math.sin(a), -reach * math.cos(a)]]))
    w, v = twelve - centre, tip - centre
    return math.degrees(math.atan2(w[0] * v[1] - w[1] * v[0], w @ v)) % 360


def viewpoints(data_dir: Path, indices: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tilt in degrees, hour hand's apparent minus true angle in degrees) of each photo."""
    meta = json.loads((data_dir / "synth.json").read_text())
    style = ClockStyle(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["style"].items()})
    tilt, shift = np.empty(len(indices)), np.empty(len(indices))
    for k, (index, (hour, minute)) in enumerate(zip(indices, labels)):
        cam = sample_camera(image_rng(int(meta["seed"]), int(index)), style, int(meta["size"]))
        true = hand_angles(int(hour), int(minute))[0]
        tilt[k] = style.tilt_max * math.sqrt(image_rng(int(meta["seed"]), int(index)).random())  # its first draw
        shift[k] = (apparent_angle(cam.front, true) - true + 180) % 360 - 180
    return tilt, shift


def stretch(transforms: np.ndarray) -> np.ndarray:
    """How far each alignment transform's linear part is from a rotation and uniform scale: the log
    of its singular values' ratio. Undoing a dial tilted by t needs log(1 / cos t), 0.35 at 45 degrees."""
    sv = np.linalg.svd(transforms[:, [0, 1, 3, 4]].reshape(-1, 2, 2), compute_uv=False)
    return np.log(sv[:, 0] / sv[:, 1])


def table(name: str, values: np.ndarray, edges: list[float], error: np.ndarray) -> None:
    off = (error >= HOUR_OFF[0]) & (error <= HOUR_OFF[1])
    print(f"\n{name:>24} | photos | mean error | median | an hour off | of the mean")
    for lo, hi in zip(edges[:-1], edges[1:]):
        pick = (values >= lo) & (values < hi)
        if not pick.any():
            continue
        share = error[pick & off].sum() / len(error)
        print(
            f"{f'{lo:g}-{hi:g}':>24} | {pick.sum():6d} | {error[pick].mean():10.2f} | {np.median(error[pick]):6.2f} |"
            f" {off[pick].mean():10.1%} | {share:6.2f} min"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, help="a trial's predictions.npz artifact")
    parser.add_argument("--data-dir", type=Path, default=Path("data/clock"))
    args = parser.parse_args()
    with np.load(args.predictions) as npz:
        y_true, error = npz["y_true"].astype(np.int64), npz["error"].astype(np.float64)
        transforms = npz["transforms"] if "transforms" in npz else None  # clock_cpu.py's, with align
    _, labels, _ = load_clock_files(args.data_dir)
    test, _ = test_split(len(labels))
    minutes = (labels[test, 0] % 12) * 60 + labels[test, 1]
    if len(test) != len(y_true) or not np.array_equal(minutes, y_true % 720):
        raise SystemExit(f"{args.predictions}: its y_true is not the test split of {args.data_dir}")
    tilt, shift = viewpoints(args.data_dir, test, labels[test])
    off = (error >= HOUR_OFF[0]) & (error <= HOUR_OFF[1])
    print(f"{len(error)} test photos: mean {error.mean():.2f} min, an hour off {off.mean():.1%} ({error[off].sum() / len(error):.2f} min of the mean)")
    table("tilt (degrees)", tilt, [0, 15, 25, 35, 45, 55.01], error)
    table("|hour hand shift| (deg)", np.abs(shift), [0, 5, 10, 15, 20, 90], error)
    if transforms is not None:
        # Does the alignment stage straighten the oblique dials? Undoing a tilt t stretches one
        # axis by 1 / cos t: log(singular value ratio) of the transform's linear part would follow
        # log(1 / cos t) (0.35 at 45 degrees); a stage that learned nothing of the tilt stays flat.
        stretched = stretch(transforms)
        corr = f"corr {np.corrcoef(tilt, stretched)[0, 1]:.2f}" if stretched.std() > 1e-9 else "the same for every photo"
        print(f"\nthe alignment stage's stretch, log(s1/s2), against the tilt ({corr})")
        for lo, hi in zip([0, 15, 25, 35, 45], [15, 25, 35, 45, 55.01]):
            pick = (tilt >= lo) & (tilt < hi)
            want = np.log(1 / np.cos(np.radians(tilt[pick]))).mean()
            print(f"{f'{lo:g}-{hi:g}':>24} | {stretched[pick].mean():.4f} (straightening would be {want:.3f})")


if __name__ == "__main__":
    main()
