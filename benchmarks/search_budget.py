"""A time-boxed search: what N workers find in M minutes, next to the reference network (trial 0).

    .venv/bin/python benchmarks/search_budget.py fashion-mlp --minutes 30 --workers 2

It launches the study through the CLI exactly as a user would (a fresh SQLite file under
runs/bench/), stops the workers when the time is up, and prints a Markdown summary: trial counts,
the best trial's validation error and test accuracy, the reference network's, and the best value
over time. For the clock family it also prints the best trial of each head type, with test errors.
``--summarize URL`` prints the summary of an earlier run's storage without searching.
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
    parser.add_argument("--summarize", metavar="URL", help="only summarise this earlier run's storage")
    args = parser.parse_args()

    if args.summarize:
        url, wall = args.summarize, None
    else:
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
    summarize(args.family, url, args.workers, wall)


def summarize(family: str, url: str, workers: int, wall: float | None) -> None:
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=family, storage=url)
    trials = study.get_trials()
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        print(f"{family}: no complete trial in {url}")
        return
    best = min(complete, key=lambda t: t.value)
    reference = next(t for t in trials if t.user_attrs.get("reference"))
    t0 = min(t.datetime_start for t in trials if t.datetime_start)
    if wall is None:
        wall = (max(t.datetime_complete or t.datetime_start for t in trials if t.datetime_start) - t0).total_seconds()
    print(f"\n{family}, {workers} workers, {wall / 60:.1f} min wall, storage {url}")
    print(f"trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed "
          f"(those running at the deadline end as failed)\n")
    if family == "clock":
        clock_tables(trials, complete, t0)
        return
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
    running_best = None
    for t in sorted(complete, key=lambda t: t.datetime_complete):
        if running_best is None or t.value < running_best:
            running_best = t.value
            minutes = (t.datetime_complete - t0).total_seconds() / 60
            print(f"  {minutes:5.1f} min: {running_best:.4f} (trial #{t.number})")


CLOCK_KEYS = ("augment", "conv_blocks", "filters", "first_stride", "global_pool", "optimizer", "learning_rate")


def clock_tables(trials: list, complete: list, t0: dt.datetime) -> None:
    """The best trial over time and per head type, with its test errors (minutes)."""
    def head_of(t) -> str:
        c = t.user_attrs.get("config", t.params)
        extra = c.get("minute_head") or c.get("classes") or c.get("regression_loss") or (f"{c['pairs']} pair(s)" if c.get("pairs") else "")
        return f"{c.get('head')} {extra}".strip()

    def row(label: str, t) -> str:
        a = t.user_attrs
        tests = " | ".join(f"{a[k]:.1f}" if k in a else "-" for k in ("test_mean", "test_median", "test_p90"))
        within = f"{100 * a['test_within_10']:.0f}%" if "test_within_10" in a else "-"
        minutes = (t.datetime_complete - t0).total_seconds() / 60
        short = {k: a.get("config", {}).get(k) for k in CLOCK_KEYS}
        short = {k: float(f"{v:.2g}") if isinstance(v, float) else v for k, v in short.items()}
        state = "" if t.state.name == "COMPLETE" else f" ({t.state.name.lower()})"
        return (f"| {label} | #{t.number}{state} | {t.value:.1f} | {tests} | {within} | {a.get('epochs')} | "
                f"{minutes:.0f} | `{short}` |")

    header = ("| {} | trial | val mean | test mean | test median | test p90 | test within 10 min | epochs | "
              "finished at (min) | config |\n|---|---|---|---|---|---|---|---|---|---|")
    print("best validation error over time:\n")
    print(header.format("when"))
    running_best = None
    for t in sorted(complete, key=lambda t: t.datetime_complete):
        if running_best is None or t.value < running_best:
            running_best = t.value
            print(row("new best", t))
    print("\nbest trial per head type (a pruned trial's value is its validation error when it was cut):\n")
    print(header.format("head"))
    by_head: dict[str, object] = {}
    for t in trials:
        if t.value is None:  # failed, stopped at the deadline, or still running
            continue
        h = head_of(t)
        if h not in by_head or t.value < by_head[h].value:
            by_head[h] = t
    for h, t in sorted(by_head.items(), key=lambda kv: kv[1].value):
        print(row(h, t))
    heads = {head_of(t) for t in trials if t.user_attrs.get("config") or t.params}
    missing = sorted(heads - set(by_head))
    if missing:
        print(f"\nhead types tried but never finished (stopped at the deadline): {', '.join(missing)}")


if __name__ == "__main__":
    main()
