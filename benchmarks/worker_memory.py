"""A long-running worker's resident memory: does RSS grow trial after trial (issue 15, point 3)?

    .venv/bin/python benchmarks/worker_memory.py --trials 60

It creates a fresh study in a temporary SQLite file through the CLI (``launch FAMILY --workers
0``, its sampler seeded so every run trains the same configs), starts ONE ``python -m search
worker`` process with one TensorFlow thread and the same pins (small by default: 1 epoch on 2,000
training images, so a trial takes seconds), and samples the worker's ``VmRSS`` from
``/proc/PID/status`` every ``--interval`` seconds next to the study's count of finished trials
(COMPLETE + PRUNED, read from the SQLite file).

It prints the RSS right after trial 1, 5, 10, 20, ... (the first sample once the study had that
many finished trials), the most RSS seen until the next trial finished, the growth from trial
``--warmup`` (after TensorFlow's first graphs and Optuna's first TPE fits) to the last trial in
percent, and the least-squares slope in MiB per trial (less sensitive to one noisy sample). A
process's RSS keeps the high-water mark of the largest model it has trained (the C allocator does
not hand every freed page back), so a plateau, not a flat line, is what no leak looks like.
``--json OUT`` writes every sample. The worker is stopped (SIGTERM, then SIGKILL) after
``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = (1, 5, 10, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 500, 1000)


def rss_mib(pid: int) -> float | None:
    """The process's resident set size in MiB (``VmRSS``), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def finished_trials(db: Path) -> int | None:
    """COMPLETE + PRUNED trials in the Optuna SQLite file (read-only; None while it cannot be read)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as con:
            (n,) = con.execute("SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')").fetchone()
            return int(n)
    except sqlite3.Error:
        return None


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the worker we started (it ends its trial cleanly), SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="fashion-mlp")
    parser.add_argument("--trials", type=int, default=60, help="finished trials the worker runs to")
    parser.add_argument("--set", dest="pins", action="append", default=None,
                        help="pin a config key (repeatable; default: epochs=1, train_limit=2000)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads of the worker")
    parser.add_argument("--sampler-seed", type=int, default=0,
                        help="the study's sampler seed: every run (and a run before and after a change) samples the same configs")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=int, default=5, help="growth is measured from this trial on")
    parser.add_argument("--timeout", type=float, default=1800, help="stop the worker after this many seconds")
    parser.add_argument("--json", metavar="OUT", help="write every sample and the summary as JSON")
    args = parser.parse_args()
    pins = args.pins if args.pins is not None else ["epochs=1", "train_limit=2000"]
    sets = [a for pin in pins for a in ("--set", pin)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    with tempfile.TemporaryDirectory(prefix="worker-memory-") as tmp:
        db = Path(tmp) / "memory.db"
        url = f"sqlite:///{db}"
        launch = [sys.executable, "-m", "search", "launch", args.family, "--workers", "0", "--storage", url,
                  "--sampler-seed", str(args.sampler_seed), *sets]
        subprocess.run(launch, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        worker = [sys.executable, "-m", "search", "worker", args.family, "--storage", url,
                  "--trials", str(args.trials), "--threads", str(args.threads), *sets]
        print("$", " ".join(worker).replace(sys.executable, ".venv/bin/python").replace(url, "sqlite:///TMP/memory.db"), flush=True)
        log_path = Path(tmp) / "worker.log"
        samples: list[tuple[float, int, float]] = []  # (seconds, finished trials, RSS MiB)
        start = time.monotonic()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                while proc.poll() is None and time.monotonic() - start < args.timeout:
                    rss, done = rss_mib(proc.pid), finished_trials(db)
                    if rss is not None and done is not None:
                        samples.append((time.monotonic() - start, done, rss))
                    time.sleep(args.interval)
            finally:
                stop(proc)
        wall = time.monotonic() - start
        final = finished_trials(db) or 0
        if proc.returncode != 0 or final < args.trials:
            tail = log_path.read_text().splitlines()[-20:]
            print(f"worker exited with {proc.returncode} after {wall:.0f} s at {final} finished trials; its log ends:")
            print("\n".join(tail))

    report(args, pins, samples, wall, final)


def slope(after: dict[int, tuple[float, float]], first: int) -> float:
    """MiB per trial of the least-squares line through RSS-after-trial-k, k >= ``first``: one
    trial's noise (a sample taken while the next model builds) moves it far less than the ends."""
    points = [(k, rss) for k, (_, rss) in after.items() if k >= first]
    mean_k = sum(k for k, _ in points) / len(points)
    mean_r = sum(r for _, r in points) / len(points)
    spread = sum((k - mean_k) ** 2 for k, _ in points)
    return sum((k - mean_k) * (r - mean_r) for k, r in points) / spread if spread else 0.0


def report(args: argparse.Namespace, pins: list[str], samples: list[tuple[float, int, float]], wall: float, final: int) -> None:
    """The RSS right after trial k, the most until trial k+1, and the growth since the warm-up."""
    after: dict[int, tuple[float, float]] = {}  # k -> (seconds, RSS) of the first sample with >= k finished
    peak: dict[int, float] = {}  # k -> most RSS while exactly k trials were finished
    for seconds, done, rss in samples:
        for k in range(1, done + 1):
            after.setdefault(k, (seconds, rss))
        peak[done] = max(peak.get(done, 0.0), rss)
    rows = [k for k in CHECKPOINTS if k in after and k <= args.trials]
    last = max(after) if after else 0
    if last and last not in rows:
        rows.append(last)
    print(f"\n{args.family}, pins {' '.join(pins)}, sampler seed {args.sampler_seed}, {args.threads} thread(s), one worker: "
          f"{final} finished trials in {wall:.0f} s, {len(samples)} RSS samples")
    print(f"{'trial':>6} {'at s':>7} {'RSS after MiB':>14} {'max until next MiB':>19}")
    for k in rows:
        seconds, rss = after[k]
        nxt = f"{peak[k]:>19.1f}" if k in peak else f"{'-':>19}"
        print(f"{k:>6} {seconds:>7.0f} {rss:>14.1f} {nxt}")
    growth = None
    if args.warmup in after and last > args.warmup:
        base, end = after[args.warmup][1], after[last][1]
        growth = 100 * (end - base) / base
        print(f"growth from trial {args.warmup} to trial {last}: {end - base:+.1f} MiB ({growth:+.1f}%); "
              f"least-squares slope over trials {args.warmup}-{last}: {slope(after, args.warmup):+.2f} MiB per trial; "
              f"peak {max(r for _, _, r in samples):.1f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "family": args.family, "pins": pins, "threads": args.threads, "trials": final, "wall_s": round(wall, 1),
            "rss_after_mib": {k: round(v[1], 1) for k, v in after.items()},
            "max_until_next_mib": {k: round(v, 1) for k, v in peak.items()},
            "growth_percent": None if growth is None else round(growth, 2),
            "slope_mib_per_trial": round(slope(after, args.warmup), 3) if growth is not None else None,
            "samples": [{"s": round(s, 2), "finished": d, "rss_mib": round(r, 1)} for s, d, r in samples],
        }, indent=1))


if __name__ == "__main__":
    main()
