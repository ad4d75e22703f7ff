"""A time-boxed search: what N workers find in M minutes, next to the reference network (trial 0).

    .venv/bin/python benchmarks/search_budget.py fashion-mlp --minutes 30 --workers 2

It launches the study through the CLI exactly as a user would (a fresh SQLite file under
runs/bench/), stops the workers when the time is up, and prints a Markdown summary: trial counts,
the best trial's validation error and test accuracy, the reference network's, and the best value
over time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", dest="pins", action="append", default=[])
    args = parser.parse_args()

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    db = ROOT / "runs" / "bench" / f"{args.family}-{stamp}.db"
    url = f"sqlite:///{db}"
    cmd = [sys.executable, "-m", "search", "launch", args.family, "--workers", str(args.workers),
           "--trials", "100000", "--timeout", str(args.minutes * 60), "--storage", url]
    for pin in args.pins:
        cmd += ["--set", pin]
    print("$", " ".join(cmd), flush=True)
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - start

    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=args.family, storage=url)
    trials = study.get_trials()
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: t.value)
    reference = next(t for t in trials if t.user_attrs.get("reference"))
    print(f"\n{args.family}, {args.workers} workers, {wall / 60:.1f} min wall, storage {url}")
    print(f"trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed "
          f"(those running at the deadline end as failed)\n")
    print("| trial | validation error | test accuracy | epochs | parameters | config |")
    print("|---|---|---|---|---|---|")
    for label, t in (("best", best), ("reference (trial 0)", reference)):
        a = t.user_attrs
        value = f"{t.value:.4f}" if t.value is not None else "-"
        test = f"{a['test_accuracy']:.4f}" if "test_accuracy" in a else "-"
        keys = ("hidden_units", "activation", "initializer", "optimizer", "learning_rate", "regularizer",
                "dropout", "batch_norm", "batch_size")
        short = {k: a.get("config", {}).get(k) for k in keys if k in a.get("config", {})}
        print(f"| {label} #{t.number} | {value} | {test} | {a.get('epochs')} | {a.get('param_count')} | `{short}` |")
    print("\nbest validation error over time:")
    t0 = min(t.datetime_start for t in trials)
    running_best = None
    for t in sorted(complete, key=lambda t: t.datetime_complete):
        if running_best is None or t.value < running_best:
            running_best = t.value
            minutes = (t.datetime_complete - t0).total_seconds() / 60
            print(f"  {minutes:5.1f} min: {running_best:.4f} (trial #{t.number})")


if __name__ == "__main__":
    main()
