"""Idle time at a clock trial's epoch ends with tf.data's autotuning on and off (issue 12, point 4).

Fits the clock family's seed through the service's own ``ClockTrainer`` on one TensorFlow
thread, as a worker of ``launch --workers 2`` fits it, and records for every epoch the wall and
CPU seconds of its training and validation decode and of the gap before its first batch (where
Keras replaces the previous epoch's input iterator), once with ``CLOCKWORK_TF_DATA_AUTOTUNE=on``
(TensorFlow's default) and once with ``off`` (what a worker runs). Runs
alternate within each repeat, each in its own process; appends one JSON line per run::

    taskset -c 0 .venv/bin/python benchmarks/tf_data_autotune.py --repeats 2 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(epochs: int, pins: list[str], data_dir: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from search.cli import tensorflow_defaults

    tensorflow_defaults()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from search.pins import parse_pins
    from search.tasks import get_task
    from studies.clock import CLOCK, CLOCK_TWO_HANDS_PARAMS

    config = CLOCK.full_config(
        {"model": "clock", **CLOCK_TWO_HANDS_PARAMS}, {"data_dir": data_dir, "epochs": epochs, **parse_pins(pins)}, seed=1
    )
    task = get_task(CLOCK.task)
    trainer = task.trainer(config, task.prepare(config))
    marks: list[tuple[str, float, float]] = []

    class Mark(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks.append(("begin", time.perf_counter(), time.process_time()))

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                marks.append(("first batch", time.perf_counter(), time.process_time()))

        def on_epoch_end(self, epoch, logs=None):  # runs after the validation decode
            marks.append(("end", time.perf_counter(), time.process_time()))

    trainer.fit([Mark()])
    epochs_out = []
    for i in range(0, len(marks) - 2, 3):
        (_, w0, c0), (_, w1, c1), (_, w2, c2) = marks[i : i + 3]
        epochs_out.append({"gap_wall": round(w1 - w0, 2), "gap_cpu": round(c1 - c0, 2),
                           "epoch_wall": round(w2 - w0, 2), "epoch_cpu": round(c2 - c0, 2)})
    return {"val": [round(v, 2) for v in trainer.record.val_errors], "epochs": epochs_out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--set", dest="pins", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-dir", default="data/clock")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/tf_data_autotune.jsonl"))
    parser.add_argument("--one", choices=("on", "off"), help=argparse.SUPPRESS)  # a child process: one run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.epochs, args.pins, args.data_dir)))
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    per_epoch: dict[str, list[float]] = {"on": [], "off": []}
    for repeat in range(args.repeats):
        for autotune in ("off", "on") if repeat % 2 == 0 else ("on", "off"):
            env = {**os.environ, "CLOCKWORK_TF_DATA_AUTOTUNE": autotune}
            cmd = [sys.executable, __file__, "--one", autotune, "--epochs", str(args.epochs), "--data-dir", args.data_dir]
            cmd += [a for pin in args.pins for a in ("--set", pin)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            result = {"autotune": autotune, "repeat": repeat, "pins": args.pins, **json.loads(done.stdout.strip().splitlines()[-1])}
            with open(args.out, "a") as f:
                f.write(json.dumps(result) + "\n")
            later = result["epochs"][1:]  # the first epoch traces the graph
            per_epoch[autotune] += [e["epoch_wall"] for e in later]
            idle = sum(e["epoch_wall"] - e["epoch_cpu"] for e in later)
            print(f"repeat {repeat} autotune {autotune}: epochs after the first {[e['epoch_wall'] for e in later]} s wall, "
                  f"{[e['epoch_cpu'] for e in later]} s CPU, idle {idle:.1f} s; gaps {[e['gap_wall'] for e in later]} s", flush=True)
    on, off = statistics.median(per_epoch["on"]), statistics.median(per_epoch["off"])
    print(f"median epoch: autotune on {on:.2f} s, off {off:.2f} s: {on / off:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
