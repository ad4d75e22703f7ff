"""Finished trials per second for 1-8 workers on each storage, with the trivial ``smoke`` objective.

Every run gets a fresh storage (a new SQLite file, journal file, PostgreSQL database, or a gRPC
proxy in front of a new PostgreSQL database), creates the ``smoke`` study and starts N
``python -m search worker`` processes, as a user would on one machine. The rate is the steady
state: trials completed between the 10th and the 90th percentile of completion times, divided by
the time between them, so process start-up and the last stragglers do not count. Storages and
worker counts are interleaved inside each repeat, so machine noise hits them alike; the table
shows the median over the repeats.

    .venv/bin/python benchmarks/storage_throughput.py --repeats 3 --trials 150
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests"))
# The same throwaway databases and proxy the integration tests use (servers from $CLOCKWORK_TEST_*).
from backends import POSTGRES, fresh_database, grpc_proxy  # noqa: E402
STORAGES = ("sqlite", "journal", "postgresql", "grpc")


@contextlib.contextmanager
def storage(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
    elif kind == "journal":
        yield str(folder / "bench.log")
    elif kind == "postgresql":
        with fresh_database(POSTGRES) as url:
            yield url
    elif kind == "grpc":
        with fresh_database(POSTGRES) as url, grpc_proxy(url, folder / "proxy.log") as proxy:
            yield proxy
    else:
        raise ValueError(kind)


def one_run(kind: str, workers: int, trials: int) -> tuple[float, int]:
    """Steady-state finished trials per second, and the number of surplus/failed trials."""
    import optuna
    from optuna.trial import TrialState

    from search.study import create_study
    from storage import open_storage
    from studies import get_family

    with tempfile.TemporaryDirectory() as tmp, storage(kind, Path(tmp)) as url:
        create_study(url, "smoke", get_family("smoke"), "none")
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "search", "worker", "smoke", "--storage", url, "--trials", str(trials)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        codes = [p.wait(600) for p in procs]
        if any(codes):
            raise RuntimeError(f"{kind}, {workers} workers: worker exit codes {codes}")
        study = optuna.load_study(study_name="smoke", storage=open_storage(url, heartbeat=False, create=False))
        all_trials = study.get_trials(deepcopy=False)
        done = sorted(t.datetime_complete.timestamp() for t in all_trials if t.state == TrialState.COMPLETE)
        if len(done) != trials:
            raise RuntimeError(f"{kind}, {workers} workers: {len(done)} finished trials, expected {trials}")
        lo, hi = int(0.1 * (len(done) - 1)), int(0.9 * (len(done) - 1))
        failed = sum(t.state == TrialState.FAIL for t in all_trials)
        return (hi - lo) / (done[hi] - done[lo]), failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--storages", nargs="+", default=list(STORAGES), choices=STORAGES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=150, help="finished trials per run")
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rates: dict[tuple[str, int], list[float]] = {}
    surplus: dict[tuple[str, int], int] = {}
    print(f"{os.cpu_count()} CPUs, {args.trials} trials per run, {args.repeats} repeats", flush=True)
    for r in range(args.repeats):
        for kind in args.storages:
            for n in args.workers:
                start = time.perf_counter()
                rate, failed = one_run(kind, n, args.trials)
                rates.setdefault((kind, n), []).append(rate)
                surplus[(kind, n)] = surplus.get((kind, n), 0) + failed
                print(
                    f"repeat {r}: {kind:<10} {n} workers: {rate:7.1f} trials/s ({time.perf_counter() - start:.1f} s wall, {failed} failed)",
                    flush=True,
                )

    print()
    print("| storage | " + " | ".join(f"{n} worker{'s' if n > 1 else ''}" for n in args.workers) + " |")
    print("|---|" + "---:|" * len(args.workers))
    for kind in args.storages:
        cells = [f"{statistics.median(rates[(kind, n)]):.1f}" for n in args.workers]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    total_failed = sum(surplus.values())
    print(
        f"\nmedian finished trials per second over {args.repeats} runs; failed (gRPC surplus) trials in all runs: {total_failed}"
    )


if __name__ == "__main__":
    main()
