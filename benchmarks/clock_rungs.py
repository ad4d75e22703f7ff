"""What an early epoch says about a clock run: the whole reading against the minute hand alone.

A clock run sits at chance (about 180 min mean error) for its first epochs, so the pruner judges
none before the family's ``min_epochs``. This trains a set of configs for a few epochs each and
records, per epoch, the validation mean error and the minute hand's own error (the minute
readings on the 60-minute circle; 15 at chance), so a rung can be judged on what it would have
cut. The configs: the family's two enqueued trials (the reference and the seed) at several
training seeds, and ``--samples`` configs drawn at random from the clock space among the heads
that read a minute hand (the multi head, two sin/cos pairs). Each run is ``clock_cpu.py`` on one
core, two at a time; its JSON line (with ``val`` and ``val_minute``) goes to ``--out``::

    .venv/bin/python benchmarks/clock_rungs.py --epochs 10 --seeds 1 2 3 --samples 6 \\
        --set input_size=40 --set filters=16 --set batch_size=16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.pins import PinnedTrial, parse_pins  # noqa: E402
from studies.clock import CLOCK_REFERENCE_PARAMS, CLOCK_TWO_HANDS_PARAMS, clock_space  # noqa: E402

CHANCE = 162.0  # the family's at_chance ceiling: 90% of the 180 min a guess reads


def sampled(count: int, seed: int, pins: dict[str, Any]) -> list[dict[str, Any]]:
    """``count`` configs of the clock space (random sampler) whose head reads a minute hand."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out: list[dict[str, Any]] = []
    while len(out) < count:
        trial = study.ask()
        config = clock_space(PinnedTrial(trial, pins))
        study.tell(trial, 0.0)
        if config["head"] == "multi" or (config["head"] == "periodic" and config.get("pairs") == 2):
            out.append({k: v for k, v in config.items() if k != "model"})
    return out


def start(name: str, config: dict[str, Any], pins: list[str], core: int, out: Path, log: Path) -> subprocess.Popen:
    sets = [f"{k}={json.dumps(v)}" for k, v in config.items()] + pins
    cmd = ["taskset", "-c", str(core), sys.executable, str(ROOT / "benchmarks" / "clock_cpu.py"), "--name", name, "--out", str(out)]
    for pin in sets:
        cmd += ["--set", pin]
    with open(log, "w") as f:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def first(values: list[float], test: Any) -> int | None:
    """The 1-based epoch of the first value passing ``test``; None if none does."""
    return next((i + 1 for i, v in enumerate(values) if test(v)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds of the two enqueued configs")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--set", dest="pins", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "clock_rungs.jsonl")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pins = [*args.pins, f"epochs={args.epochs}"]
    runs = [(f"reference seed {k}", {**CLOCK_REFERENCE_PARAMS, "seed": k}) for k in args.seeds]
    runs += [(f"seed trial seed {k}", {**CLOCK_TWO_HANDS_PARAMS, "seed": k}) for k in args.seeds]
    runs += [(f"sample {i}", c) for i, c in enumerate(sampled(args.samples, args.sample_seed, parse_pins(args.pins)))]
    folder = Path(tempfile.mkdtemp(prefix="rungs-", dir=ROOT / "runs" / "bench"))
    out = folder / "runs.jsonl"
    print(f"{len(runs)} runs of {args.epochs} epochs, two at a time; logs in {folder}", flush=True)
    for i in range(0, len(runs), 2):
        procs = [(n, start(n, c, pins, core, out, folder / f"run-{i + core}.log")) for core, (n, c) in enumerate(runs[i : i + 2])]
        for name, proc in procs:
            if proc.wait() != 0:
                print(f"{name} exited {proc.returncode}; see its log in {folder}", flush=True)
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    print("\n| run | left chance (val < 162) at epoch | minute hand < 12 at epoch | val by epoch | minute hand by epoch |")
    print("|---|---:|---:|---|---|")
    for line in lines:
        left = first(line["val"], lambda v: v < CHANCE)
        minute = first(line["val_minute"], lambda v: v < 12.0)
        print(f"| {line['name']} | {left or '-'} | {minute or '-'} | {' '.join(f'{v:.0f}' for v in line['val'])} | "
              f"{' '.join(f'{v:.1f}' for v in line['val_minute'])} |")


if __name__ == "__main__":
    main()
