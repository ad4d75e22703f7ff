"""Photos per second of the demo's clock recipe under each CPU lever, fitted as a trial fits (issue 12, point 4).

Each run is the clock family's seed with the demo's pins (40 px, 16 filters, batches of 16, one
read of each photo) plus the run's ``--set``-style pins, trained through the service's own
``ClockTrainer`` with the per-epoch validation decode a trial pays. Runs alternate within each
repeat so the machine's load hits them alike; the first epoch (tracing) is left out of the median.
Photos per second = training photos / median seconds of an epoch (its validation decode included)::

    taskset -c 0 .venv/bin/python benchmarks/clock_levers.py --repeats 3 \
        --run base --run 'turns-4 read_turns=4' --run 'batch-64 batch_size=64'

``--threads 2`` gives TensorFlow two threads (run it on two cores) for the thread-split row: one
two-thread worker against two one-thread workers, each on its own core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clock_augment import _epoch_times, _trainer, _write  # noqa: E402  (this folder's helpers)


# On top of clock_augment's frozen recipe: the seed as the demo trains it now, each photo read once.
DEMO = {"augment": "light", "dropout": 0.0, "warmup_epochs": 1, "read_turns": 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="'NAME KEY=VALUE ...'")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-limit", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default="data/clock")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/clock_levers.jsonl"))
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from search.pins import parse_pins

    for repeat in range(args.repeats):
        for run in args.run:
            name, *pins = run.split()
            trainer = _trainer({**DEMO, **parse_pins(pins)}, args)
            times = _epoch_times()
            trainer.fit([times])
            photos = len(trainer.splits.x_train)
            median = statistics.median(times.seconds[1:] or times.seconds)
            _write(args, {
                "mode": "levers", "name": name, "pins": pins, "threads": args.threads, "repeat": repeat,
                "train_photos": photos, "epoch_seconds": [round(t, 2) for t in times.seconds],
                "median_seconds": round(median, 2), "photos_per_second": round(photos / median, 1),
                "val": [round(v, 1) for v in trainer.record.val_errors],
            })
    return 0


if __name__ == "__main__":
    sys.exit(main())
