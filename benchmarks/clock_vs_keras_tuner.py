"""Clockwork against Keras Tuner (Hyperband) on the clock study: same space, data and time budget.

    .venv/bin/pip install -r requirements-bench.txt
    .venv/bin/python benchmarks/clock_vs_keras_tuner.py --minutes 30 [--set input_size=64 ...]

Each side gets the whole machine for ``--minutes`` of wall time, one after the other:

- Clockwork: ``python -m search launch clock --workers 2 --timeout ...`` on a fresh SQLite file;
- Keras Tuner: ``kt.Hyperband`` (one process, all cores) over the *same* define-by-run space
  (``studies.clock.clock_space`` asked through an adapter that turns ``suggest_*`` into ``hp.*``),
  the same models (``models.clock.build_clock_model`` with the same heads), the same data split,
  and the same objective: the mean validation common-sense error after decoding, in minutes.

Both sides' best trials are then scored on the same test photos. ``--set`` pins apply to both.

``--clockwork-storage URL`` takes the Clockwork side from an earlier, longer time-boxed run with
the same pins (``benchmarks/search_budget.py clock --minutes 120 ...``): its best trial among those
finished within the first ``--minutes``, so one long run gives the comparison at 30 minutes
without searching for 30 more.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class HpTrial:
    """``optuna.Trial``'s suggest API on top of a Keras Tuner ``HyperParameters``, honouring pins."""

    def __init__(self, hp: Any, pins: dict[str, Any]) -> None:
        self.hp, self.pins = hp, pins

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.pins[name] if name in self.pins else self.hp.Choice(name, list(choices))

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return self.pins[name] if name in self.pins else self.hp.Float(name, low, high, sampling="log" if log else "linear")

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        return self.pins[name] if name in self.pins else self.hp.Int(name, low, high, sampling="log" if log else "linear")


def run_keras_tuner(minutes: float, pins: dict[str, Any], out: Path) -> dict[str, Any]:
    """Hyperband over the clock space until the deadline; the best trial's validation and test error."""
    import keras
    import keras_tuner as kt

    from models.clock import build_clock_model
    from models.clock_heads import head_from_config
    from datasets.clocktime import common_sense_error, error_summary
    from search.data import DataCache
    from search.tasks import get_task
    from studies.clock import CLOCK, clock_space

    deadline = time.monotonic() + minutes * 60
    data = DataCache(get_task(CLOCK.task))

    def config_of(hp: Any) -> dict[str, Any]:
        return CLOCK.full_config(clock_space(HpTrial(hp, pins)), pins, seed=0)

    class ValidationError(keras.callbacks.Callback):
        def __init__(self, head: Any, splits: Any) -> None:
            super().__init__()
            self.head, self.splits = head, splits

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            pred = self.head.decode(self.model.predict(self.splits.x_val, batch_size=256, verbose=0))
            logs["val_error"] = float(common_sense_error(self.splits.y_val, pred).mean())
            if time.monotonic() > deadline:
                self.model.stop_training = True

    class ClockHyperModel(kt.HyperModel):
        searching = True  # load_model() builds the best trial again after the deadline

        def build(self, hp: Any) -> keras.Model:
            if self.searching and time.monotonic() > deadline:
                raise KeyboardInterrupt("time budget spent")
            config = config_of(hp)
            return build_clock_model(config, head_from_config(config))

        def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
            config = config_of(hp)
            head, splits = head_from_config(config), data.get(config)
            callbacks = [ValidationError(head, splits), *kwargs.pop("callbacks", [])]
            return model.fit(splits.x_train, head.encode(splits.y_train), batch_size=config["batch_size"],
                             callbacks=callbacks, verbose=0, **kwargs)

    max_epochs = int(pins.get("epochs", CLOCK.budget_defaults()["epochs"]))
    tuner = kt.Hyperband(ClockHyperModel(), objective=kt.Objective("val_error", "min"), max_epochs=max_epochs,
                         factor=3, directory=str(out), project_name="clock", overwrite=True,
                         max_consecutive_failed_trials=10)
    try:
        tuner.search(epochs=max_epochs)
    except KeyboardInterrupt:
        pass
    ClockHyperModel.searching = False
    best_trial = tuner.oracle.get_best_trials(1)[0]
    config = config_of(best_trial.hyperparameters)
    model = tuner.load_model(best_trial)
    splits = data.get(config)
    test = error_summary(common_sense_error(splits.y_test, head_from_config(config).decode(
        model.predict(splits.x_test, batch_size=256, verbose=0))))
    return {"trials": len(tuner.oracle.trials), "val_mean": best_trial.score, "test_mean": test["mean"],
            "head": config["head"], "config": config}


def run_clockwork(minutes: float, pin_args: list[str], stamp: str) -> dict[str, Any]:
    url = f"sqlite:///{ROOT / 'runs' / 'bench' / f'clock-vs-kt-{stamp}.db'}"
    cmd = [sys.executable, "-m", "search", "launch", "clock", "--workers", "2", "--trials", "100000",
           "--timeout", str(minutes * 60), "--storage", url, *[a for p in pin_args for a in ("--set", p)]]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return clockwork_at(url, minutes)


def clockwork_at(url: str, minutes: float) -> dict[str, Any]:
    """The best trial a time-boxed Clockwork run had finished ``minutes`` after it started."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name="clock", storage=url)
    trials = study.get_trials(deepcopy=False)
    t0 = min(t.datetime_start for t in trials if t.datetime_start)
    cutoff = t0 + dt.timedelta(minutes=minutes)
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.datetime_complete <= cutoff]
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    if not complete:
        first = min((t.datetime_complete for t in trials if t.state == TrialState.COMPLETE), default=None)
        note = f"first complete trial at {(first - t0).total_seconds() / 60:.1f} min" if first else "no complete trial at all"
        return {"trials": len(done), "val_mean": None, "test_mean": None, "head": f"- ({note})",
                "storage": url, "taken_at_minutes": minutes}
    best = min(complete, key=lambda t: t.value)
    return {"trials": len(done), "val_mean": best.value, "test_mean": best.user_attrs.get("test_mean"),
            "head": best.user_attrs["config"]["head"], "storage": url, "best_trial": best.number,
            "taken_at_minutes": minutes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--set", dest="pins", action="append", default=[])
    parser.add_argument("--side", choices=("both", "clockwork", "keras-tuner"), default="both")
    parser.add_argument("--clockwork-storage", help="take Clockwork's side from this earlier, longer run (see above)")
    args = parser.parse_args()
    from search.pins import parse_pins

    pins = parse_pins(args.pins)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results = {}
    if args.side in ("both", "clockwork"):
        if args.clockwork_storage:
            results["clockwork"] = clockwork_at(args.clockwork_storage, args.minutes)
        else:
            results["clockwork"] = run_clockwork(args.minutes, args.pins, stamp)
    if args.side in ("both", "keras-tuner"):
        results["keras-tuner"] = run_keras_tuner(args.minutes, pins, ROOT / "runs" / "bench" / f"kt-{stamp}")
    print(json.dumps(results, indent=2, default=str))
    print("\n| tool | trials | best validation error (min) | its test error (min) | head |\n|---|---|---|---|---|")
    for tool, r in results.items():
        val, test = (f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("val_mean", "test_mean"))
        print(f"| {tool} | {r['trials']} | {val} | {test} | {r['head']} |")


if __name__ == "__main__":
    main()
