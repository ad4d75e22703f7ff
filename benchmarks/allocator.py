"""Which memory allocator a clock worker should run with: side-by-side runs of ``clock_cpu.py``.

Each round starts two runs at once, one per core (``taskset``), with two allocator arms, and runs
every ordered pair of arms so that each arm sits on each core equally often. Per run it records the
training seconds, the CPU seconds the process got, its minor page faults and its peak resident
memory (``os.wait4``), and prints the median of each arm and its speed against the first arm.
Appends one JSON line per run to ``--out``::

    .venv/bin/python benchmarks/allocator.py --rounds 1 --set epochs=3
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
TUNED = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
BFC_OFF, BFC_ON = {"TF_CPU_ALLOCATOR_USE_BFC": "false"}, {"TF_CPU_ALLOCATOR_USE_BFC": "true"}
ARMS = {
    "glibc": BFC_OFF,  # TensorFlow before this change: every tensor from malloc
    "glibc-tuned": {**BFC_OFF, **TUNED},
    "jemalloc": {**BFC_OFF, "LD_PRELOAD": JEMALLOC},
    "tf-bfc": BFC_ON,  # TensorFlow's pooling allocator for tensors, malloc for the rest (Eigen's scratch)
    "tf-bfc+glibc-tuned": {**BFC_ON, **TUNED},
    "tf-bfc+jemalloc": {**BFC_ON, "LD_PRELOAD": JEMALLOC},
}


def start(arm: str, core: int, pins: list[str], out: Path) -> subprocess.Popen:
    env = {**os.environ, **ARMS[arm]}
    command = ["taskset", "-c", str(core), sys.executable, str(ROOT / "benchmarks" / "clock_cpu.py"), "--name", arm, "--out", str(out)]
    for pin in pins:
        command += ["--set", pin]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--rounds", type=int, default=1, help="times through every ordered pair of arms")
    parser.add_argument("--pairs", nargs="+", metavar="ARM:ARM", help="these pairs (core 0:core 1) instead of every ordered pair")
    parser.add_argument("--set", dest="pins", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "allocator.jsonl")
    args = parser.parse_args()
    if args.pairs:
        pairs = [tuple(p.split(":")) for p in args.pairs]
        if any(len(p) != 2 or not set(p) <= set(ARMS) for p in pairs):
            parser.error(f"--pairs takes ARM:ARM with arms from {', '.join(ARMS)}")
        args.arms = list(dict.fromkeys(arm for p in pairs for arm in p))
    if any("jemalloc" in arm for arm in args.arms) and not Path(JEMALLOC).exists():
        parser.error(f"{JEMALLOC} is missing: apt-get install libjemalloc2, or leave the arm out")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    pairs = (pairs if args.pairs else list(itertools.permutations(args.arms, 2))) * args.rounds
    for n, pair in enumerate(pairs, 1):
        with tempfile.TemporaryDirectory() as tmp:
            outs = [Path(tmp) / f"{core}.jsonl" for core in (0, 1)]
            procs = [start(arm, core, args.pins, outs[core]) for core, arm in enumerate(pair)]
            begun = time.perf_counter()
            for core, (arm, proc) in enumerate(zip(pair, procs)):
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                if proc.returncode != 0:
                    raise SystemExit(f"the {arm} run on core {core} exited {proc.returncode}")
                result = json.loads(outs[core].read_text().splitlines()[-1])
                row = {"arm": arm, "core": core, "pair": n, "train_seconds": result["train_seconds"],
                       "train_cpu_seconds": result["train_cpu_seconds"], "minor_faults": usage.ru_minflt,
                       "max_rss_mb": round(usage.ru_maxrss / 1024),
                       "val": result["val"], "pins": args.pins}
                rows.append(row)
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
            print(f"pair {n}/{len(pairs)} {pair}: " + ", ".join(
                f"{r['arm']} {r['train_seconds']} s ({r['minor_faults']} faults)" for r in rows[-2:]
            ) + f" [{time.perf_counter() - begun:.0f} s]", flush=True)
    base = statistics.median(r["train_seconds"] for r in rows if r["arm"] == args.arms[0])
    for arm in args.arms:
        mine = [r for r in rows if r["arm"] == arm]
        seconds = statistics.median(r["train_seconds"] for r in mine)
        print(f"{arm:12s} runs {len(mine)}  train s median {seconds:7.1f}  "
              f"cpu s median {statistics.median(r['train_cpu_seconds'] for r in mine):7.1f}  "
              f"faults median {statistics.median(r['minor_faults'] for r in mine):>9.0f}  "
              f"peak RSS MB median {statistics.median(r.get('max_rss_mb', 0) for r in mine):6.0f}  "
              f"speed vs {args.arms[0]} {base / seconds:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
