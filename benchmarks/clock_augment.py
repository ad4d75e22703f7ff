"""What augmentation and the alignment stage cost and buy on the demo's clock recipe, one CPU thread.

Every run starts from the clock family's seed (two sin/cos pairs, Adam 3e-3, cosine decay) with
the demo's pins (40 px, 16 filters, batches of 16), trains through the service's own
``ClockTrainer`` (the path a trial and ``train`` take) and appends one JSON line to ``--out``.

``cost``: seconds per training epoch for each ``--augment`` and ``--align`` value, fitted as
``train`` does (training and validation photos together, so no validation pass is timed),
alternating the values within each repeat so that the machine's load hits all of them alike;
the first epoch (tracing) is left out of the median::

    nice -n 10 .venv/bin/python benchmarks/clock_augment.py cost --augment none light strong \
        --train-limit 3000 --epochs 6 --repeats 2
    nice -n 10 .venv/bin/python benchmarks/clock_augment.py cost --augment none \
        --align none affine perspective --train-limit 3000 --epochs 6 --repeats 2

``effect``: the validation and test error of named runs, each a name and ``--set`` pins on top of
the recipe (``--train-limit 0``: all 12,960 training photos)::

    nice -n 10 .venv/bin/python benchmarks/clock_augment.py effect --train-limit 0 --epochs 8 \
        --run none --run 'rotate augment=rotate' --run 'affine align=affine'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The demo's recipe as it was when this was measured (before the seed took a warm-up epoch, no
# dropout and light augmentation, and photos were read four ways): the rows in BENCHMARKS.md.
RECIPE = {"input_size": 40, "filters": 16, "batch_size": 16, "augment": "none", "dropout": 0.2, "warmup_epochs": 0, "read_turns": 1}


def _trainer(pins: dict[str, Any], args: argparse.Namespace) -> Any:
    from search.tasks import get_task
    from studies.clock import CLOCK, CLOCK_TWO_HANDS_PARAMS

    budget = {"data_dir": args.data_dir, "epochs": args.epochs, "train_limit": args.train_limit or None, **RECIPE}
    config = CLOCK.full_config({"model": "clock", **CLOCK_TWO_HANDS_PARAMS}, {**budget, **pins}, seed=args.seed)
    task = get_task(CLOCK.task)
    return task.trainer(config, task.prepare(config))


def _epoch_times() -> Any:
    import keras

    class EpochTimes(keras.callbacks.Callback):
        """Seconds per epoch, epoch hooks only (a per-batch hook would slow every batch down)."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []  # of this process: less swayed by a busy machine

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start, self._cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(time.process_time() - self._cpu)

    return EpochTimes()


def _write(args: argparse.Namespace, result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(result) + "\n")


def cost(args: argparse.Namespace) -> None:
    for repeat in range(args.repeats):
        for augment, align in [(augment, align) for augment in args.augment for align in args.align]:
            trainer = _trainer({"augment": augment, "align": align}, args)
            times = _epoch_times()
            trainer.fit([times], with_validation=False)  # no validation pass: the epoch is training only
            s = trainer.splits
            _write(args, {
                "mode": "cost", "augment": augment, "align": align, "repeat": repeat,
                "train_photos": len(s.x_train) + len(s.x_val),
                "epoch_seconds": [round(t, 2) for t in times.seconds],
                "epoch_cpu_seconds": [round(t, 2) for t in times.cpu_seconds],
                # the first epoch traces the graph: the median of the others is the steady cost
                "median_seconds": round(statistics.median(times.seconds[1:] or times.seconds), 2),
                "median_cpu_seconds": round(statistics.median(times.cpu_seconds[1:] or times.cpu_seconds), 2),
            })


def effect(args: argparse.Namespace) -> None:
    import models.align
    from search.pins import parse_pins

    for run in args.run:
        name, *pins = run.split()
        trainer = _trainer(parse_pins(pins), args)
        times = _epoch_times()
        start = time.perf_counter()
        trainer.fit([times])
        test = trainer.evaluate_test()
        record = trainer.record
        _write(args, {
            "mode": "effect", "name": name, "pins": pins, "seed": args.seed, "epochs": args.epochs,
            "align_rate": models.align.RATE, "train_photos": len(trainer.splits.x_train),
            "params": trainer.param_count, "val": [round(v, 1) for v in record.val_errors],
            "best_val": round(min(record.val_errors), 2), "best_epoch": record.best_epoch,
            "test_mean": round(test["test_mean"], 2), "test_median": round(test["test_median"], 2),
            "test_within_10": round(test["test_within_10"], 3),
            "epoch_seconds": round(sum(times.seconds) / len(times.seconds), 2),  # with the validation pass
            "wall_seconds": round(time.perf_counter() - start, 1),
        })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("cost", "effect"))
    parser.add_argument("--augment", nargs="+", default=["none", "light", "strong"], help="cost: the values compared")
    parser.add_argument("--align", nargs="+", default=["none"], help="cost: the alignment stages compared")
    parser.add_argument("--repeats", type=int, default=2, help="cost: rounds over the --augment and --align values")
    parser.add_argument("--run", action="append", default=[], metavar="'NAME KEY=VALUE ...'", help="effect: one run")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=3000, help="training photos (0: all 12,960)")
    parser.add_argument("--seed", type=int, default=1, help="the training seed (weights, order, augmentation)")
    parser.add_argument("--align-rate", type=float, default=None, help="models.align.RATE for these runs")
    parser.add_argument("--data-dir", default="data/clock")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/clock_augment.jsonl"))
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.align_rate is not None:
        import models.align

        models.align.RATE = args.align_rate
    cost(args) if args.mode == "cost" else effect(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
