"""How long ``python -m datasets synth-clock`` takes: median of a few runs, extrapolated to 18,000.

    .venv/bin/python benchmarks/synth_clock.py --n 2000 --jobs 2          # quick, while developing
    .venv/bin/python benchmarks/synth_clock.py --n 18000 --jobs 2 --repeats 1   # the real thing

The target (issue 3): 18,000 photo-style images at 150 px in at most 60 s on a 2-core machine.
Each run writes a complete set (images.npy, labels.npy, sheet.png) into a temporary directory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.synth import synthesize  # noqa: E402

FULL = 18000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--style", default="photo", choices=("photo", "clean"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = []
    for run in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="synth-clock-") as tmp:
            start = time.perf_counter()
            synthesize(tmp, args.n, seed=7 + run, style=args.style, size=args.size, jobs=args.jobs, progress=False)
            times.append(time.perf_counter() - start)
        print(f"run {run + 1}: {args.n} images in {times[-1]:.2f} s ({args.n / times[-1]:.0f} img/s)", flush=True)
    median = statistics.median(times)
    print(
        f"median of {args.repeats}: {median:.2f} s for {args.n} {args.style} images at {args.size} px, "
        f"--jobs {args.jobs}; "
        f"{FULL} images would take {median * FULL / args.n:.1f} s"
    )


if __name__ == "__main__":
    main()
