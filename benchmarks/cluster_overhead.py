"""What Ray adds: trials per second of the ``smoke`` family with 8 workers, ``launch`` on this
machine against ``launch --cluster`` over a two-node Ray cluster started on the same machine.

On one machine this measures Ray's overhead (actors, the node checks, log copies), not scaling:
both sides share the same cores. The cluster is a head and a second node with 2 CPUs each, in
process groups of their own (tests/raycluster.py), stopped by those groups at the end; each
worker asks for 0.5 CPU so that 8 fit. Every run gets a fresh PostgreSQL database. Two numbers
per run: the steady rate (finished trials between the 10th and 90th percentile of completion
times over the time between them) and the wall time of the whole ``launch`` command, start-up and
summary included. Local and cluster runs alternate inside each repeat; the table shows medians.

    .venv/bin/python benchmarks/cluster_overhead.py --repeats 3 --trials 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from backends import POSTGRES, fresh_database  # noqa: E402
from raycluster import RayTestCluster  # noqa: E402


def one_run(address: str | None, workers: int, trials: int, sleep: float) -> tuple[float, float, list[str]]:
    """Steady trials/s, wall seconds of the launch command, and the nodes the trials ran on."""
    import optuna
    from optuna.trial import TrialState

    with fresh_database(POSTGRES) as url, tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "search", "launch", "smoke", "--workers", str(workers), "--trials", str(trials),
               "--storage", url, "--set", f"sleep={sleep}"]
        if address:
            cmd += ["--cluster", address, "--cpus-per-worker", "0.5"]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"launch failed ({done.returncode}): {done.stderr[-2000:]}")
        study = optuna.load_study(study_name="smoke", storage=optuna.storages.RDBStorage(url))
        trials_ = study.get_trials(deepcopy=False)
        ends = sorted(t.datetime_complete.timestamp() for t in trials_ if t.state == TrialState.COMPLETE)
        if len(ends) != trials:
            raise RuntimeError(f"{len(ends)} finished trials, expected {trials}")
        lo, hi = int(0.1 * (len(ends) - 1)), int(0.9 * (len(ends) - 1))
        nodes = sorted({t.user_attrs.get("node", "local")[:8] for t in trials_})
        return (hi - lo) / (ends[hi] - ends[lo]), wall, nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds each smoke trial sleeps")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"local": [], "cluster": []}
    with tempfile.TemporaryDirectory(prefix="cwray") as tmp:
        cluster = RayTestCluster(Path(tmp))
        try:
            cluster.start_head()
            cluster.add_node()
            for r in range(args.repeats):
                order = ("local", "cluster") if r % 2 == 0 else ("cluster", "local")
                for side in order:
                    rate, wall, nodes = one_run(cluster.address if side == "cluster" else None, args.workers, args.trials, args.sleep)
                    results[side].append((rate, wall))
                    print(f"repeat {r + 1} {side:>7}: {rate:6.1f} trials/s steady, {wall:5.1f} s wall, nodes {', '.join(nodes)}", flush=True)
        finally:
            cluster.stop()
    print(f"\n{args.workers} workers, {args.trials} smoke trials (sleep {args.sleep:g} s), PostgreSQL, medians of {args.repeats}:")
    print("| launch | trials/s (steady) | wall s (whole command) |")
    print("|---|---|---|")
    med = {side: (statistics.median(r for r, _ in v), statistics.median(w for _, w in v)) for side, v in results.items()}
    for side, (rate, wall) in med.items():
        print(f"| {side} | {rate:.1f} | {wall:.1f} |")
    print(f"cluster / local: {med['cluster'][0] / med['local'][0]:.2f}x the steady rate, {med['cluster'][1] / med['local'][1]:.2f}x the wall time")


if __name__ == "__main__":
    main()
