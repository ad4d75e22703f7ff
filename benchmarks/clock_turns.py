"""Reading each photo at its four quarter turns against reading it once, on the same trained weights.

Trains the clock family's seed with the demo's pins on ONE TensorFlow thread (the reading inside
training is the plain one, ``read_turns=1``), then reads the validation and test photos as they
are, at each single quarter turn, and at all four averaged (``models.clock_heads.read_clocks``).
Appends one JSON line to ``--out``::

    taskset -c 0 .venv/bin/python benchmarks/clock_turns.py 1 & taskset -c 1 .venv/bin/python benchmarks/clock_turns.py 2 & wait
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int, help="the config's seed (weights and data order)")
    parser.add_argument("--set", dest="pins", action="append", default=[], metavar="KEY=VALUE", help="more pins")
    parser.add_argument("--data-dir", default="data/clock")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/clock_turns.jsonl"))
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from datasets.clocktime import common_sense_error, error_summary
    from models.clock_heads import read_clocks
    from search.pins import parse_pins
    from search.tasks import get_task
    from studies.clock import CLOCK, CLOCK_TWO_HANDS_PARAMS

    demo = ["input_size=40", "filters=16", "batch_size=16", "epochs=16", "read_turns=1", f"seed={args.seed}"]
    pins = parse_pins([*demo, *args.pins])
    config = CLOCK.full_config({"model": "clock", **CLOCK_TWO_HANDS_PARAMS}, {"data_dir": args.data_dir, **pins}, seed=args.seed)
    task = get_task(CLOCK.task)
    trainer = task.trainer(config, task.prepare(config))
    start = time.perf_counter()
    trainer.fit()
    s = trainer.splits
    result: dict = {"seed": args.seed, "pins": pins, "val_per_epoch": [round(v, 1) for v in trainer.record.val_errors],
                    "train_seconds": round(time.perf_counter() - start)}

    def summary(y, minutes):
        return {k: round(v, 3) for k, v in error_summary(common_sense_error(y, minutes)).items()}

    for name, x, y in (("val", s.x_val, s.y_val), ("test", s.x_test, s.y_test)):
        result[name] = {
            "once": summary(y, read_clocks(trainer.model, trainer.head, x)),
            "four_turns": summary(y, read_clocks(trainer.model, trainer.head, x, 4)),
            "each_turn_mean": [
                summary(y, read_clocks(trainer.model, trainer.head, np.ascontiguousarray(np.rot90(x, k, axes=(1, 2)))))["mean"]
                for k in range(4)
            ],
        }
    line = json.dumps(result)
    print(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.open("a").write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
