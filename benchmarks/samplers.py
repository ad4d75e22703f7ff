"""Which sampler finds the most in a small budget: the same study run with each sampler and seed.

Each run is ``python -m search launch FAMILY --workers 1 --trials N --sampler S --sampler-seed K``
on a fresh SQLite file, as a user would start it (the reference network is its trial 0, as in
every study); two runs at a time, one per core (``taskset``), so a round compares samplers side
by side on the same machine. It prints, per sampler, the median over seeds of the best
validation error after 5, 10, 15, 20, ... trials, and appends one JSON line per run to ``--out``::

    .venv/bin/python benchmarks/samplers.py fashion-mlp --trials 30 --seeds 0 1 2 \\
        --set epochs=2 --set train_limit=6000
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def start(family: str, sampler: str, seed: int, trials: int, pins: list[str], core: int, folder: Path) -> subprocess.Popen:
    cmd = [
        "taskset", "-c", str(core), sys.executable, "-m", "search", "launch", family,
        "--study-name", f"{sampler}-{seed}", "--storage", f"sqlite:///{folder}/{sampler}-{seed}.db",
        "--workers", "1", "--trials", str(trials), "--sampler", sampler, "--sampler-seed", str(seed),
        "--pruner", "none", *itertools.chain.from_iterable(("--set", pin) for pin in pins),
    ]  # fmt: skip
    with open(folder / f"{sampler}-{seed}.log", "w") as log:  # the child keeps its own copy
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def best_so_far(folder: Path, sampler: str, seed: int) -> list[float]:
    """The best validation error after each finished trial, in trial order."""
    study = optuna.load_study(study_name=f"{sampler}-{seed}", storage=f"sqlite:///{folder}/{sampler}-{seed}.db")
    best, out = float("inf"), []
    for trial in sorted(study.trials, key=lambda t: t.number):
        if trial.state == optuna.trial.TrialState.COMPLETE:
            best = min(best, float(trial.value))
        out.append(best)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("family")
    parser.add_argument("--samplers", nargs="+", default=["tpe", "random", "qmc", "cmaes"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--set", dest="pins", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "samplers.jsonl")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="samplers-", dir=ROOT / "runs" / "bench"))
    runs = [(s, k) for k in args.seeds for s in args.samplers]  # a seed's samplers run close together in time
    curves: dict[str, list[list[float]]] = {s: [] for s in args.samplers}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{len(runs)} runs of {args.trials} trials, two at a time; studies and logs in {folder}", flush=True)
    for pair in (runs[i : i + 2] for i in range(0, len(runs), 2)):
        began = time.monotonic()
        procs = [start(args.family, s, k, args.trials, args.pins, core, folder) for core, (s, k) in enumerate(pair)]
        codes = [p.wait() for p in procs]
        for (sampler, seed), code in zip(pair, codes):
            if code != 0:  # a run that stopped early (say, on failing configs) counts with the trials it has
                print(f"{sampler} seed {seed} exited {code}; see {folder}/{sampler}-{seed}.log", flush=True)
            curve = best_so_far(folder, sampler, seed)
            if not curve:
                print(f"{sampler} seed {seed}: no trial finished; left out of the table", flush=True)
                continue
            curves[sampler].append(curve)
            with args.out.open("a") as f:
                f.write(json.dumps({"family": args.family, "sampler": sampler, "seed": seed, "pins": args.pins, "best_so_far": curve}) + "\n")
            print(f"{sampler:>7} seed {seed}: best {curve[-1]:.4f} after {len(curve)} trials ({time.monotonic() - began:.0f} s)", flush=True)
    marks = [m for m in (5, 10, 15, 20, 30, 50, 100) if m < args.trials] + [args.trials]
    print(f"\nmedian over seeds {args.seeds} of the best validation error after n trials (trial 0 is the reference)")
    print("| sampler | " + " | ".join(f"n={m}" for m in marks) + " |")
    print("|---|" + "---:|" * len(marks))
    for sampler, runs_of in curves.items():
        if not runs_of:
            continue
        cells = [statistics.median(c[min(m, len(c)) - 1] for c in runs_of) for m in marks]
        print(f"| {sampler} | " + " | ".join(f"{v:.4f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
