"""The clock seed judged by its moving average of the weights against its trained weights, paired.

A moving average (``ema_momentum``) changes what a trial judges and keeps, not how it trains: the
trained weights follow the same path with or without it (``tests/test_weight_average.py``). So one
run measures both. The seed trains once through the service's ``ClockTrainer`` with the average
on; each epoch's check reads the trained weights and the average (four ways each), as a trial's
does, and this script keeps each side's best epoch by those readings (a trial keeps the better of
the two). At the end both kept models are read as a trial's kept model is (``read_turns``, eight
ways) on the validation and the test photos. One TensorFlow thread::

    .venv/bin/python benchmarks/clock_weight_average.py --seconds 6000

``--seconds`` is the trial's time limit (``trial_timeout``): the seed's cosine decay spans the
epochs that fit in it, as in a search that ends by its deadline. ``--set KEY=VALUE`` pins more.
One JSON line per run is appended to ``--out``.
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
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # what `python -m search` sets (search/cli.py)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6000.0, help="the trial's time limit (default 6000)")
    parser.add_argument("--epochs", type=int, default=250)
    parser.add_argument("--momentum", type=float, default=0.999, help="ema_momentum (default 0.999, the seed's)")
    parser.add_argument("--seed", type=int, default=1, help="training seed (a search's seed trial is #1)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pin a config key (JSON value)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/clock_weight_average.jsonl"))
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from models.clock_heads import WATCH_TURNS
    from search.tasks import get_task
    from search.tasks.clock_trainer import summary_of
    from studies.clock import CLOCK, CLOCK_TWO_HANDS_PARAMS

    pins = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    budget = {"epochs": args.epochs, "trial_timeout": args.seconds, "data_dir": args.data_dir, **pins}
    params = {"model": "clock", **CLOCK_TWO_HANDS_PARAMS, "ema_momentum": args.momentum}
    config = CLOCK.full_config(params, budget, seed=args.seed)
    task = get_task(CLOCK.task)
    splits = task.prepare(config)
    trainer = task.trainer(config, splits)

    class BothBest(keras.callbacks.Callback):
        """After the trainer's callbacks (the trained weights are back in the model): keeps the
        weights of each side's best epoch by what the trainer's check read of each."""

        def __init__(self) -> None:
            super().__init__()
            self.trained: list[float] = []
            self.averages: list[float] = []
            self.best: dict[str, list[np.ndarray]] = {}
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            summary = trainer._check.summaries[-1]
            for side, errors in (("trained", self.trained), ("average", self.averages)):
                error = summary[f"{side}_mean"]
                if not errors or error < min(errors):
                    if side == "trained":
                        self.best[side] = self.model.get_weights()
                    else:
                        trainer.average.put_in()
                        self.best[side] = self.model.get_weights()
                        trainer.average.restore()
                errors.append(error)
            print(f"epoch {epoch + 1}: {time.perf_counter() - self._start:.0f} s, validation {self.trained[-1]:.2f} trained, "
                  f"{self.averages[-1]:.2f} average", flush=True)

    both = BothBest()
    start = time.perf_counter()
    trainer.fit([both])
    seconds = time.perf_counter() - start
    result = {"config": config, "epochs": len(both.trained), "seconds": round(seconds, 1),
              "val_average": both.averages, "val_trained": both.trained, "kept": {}}
    for name, errors in (("average", both.averages), ("trained", both.trained)):
        trainer.model.set_weights(both.best[name])
        val = summary_of(splits.y_val, trainer.predict_minutes(splits.x_val))
        test = summary_of(splits.y_test, trainer.predict_minutes(splits.x_test))
        best = int(np.argmin(errors)) + 1
        result["kept"][name] = {"best_epoch": best, "check": min(errors), "val": val, "test": test}
        print(f"{name}: best epoch {best} (check {min(errors):.2f}); read {config['read_turns']} ways: validation "
              f"{val['mean']:.2f}, test {test['mean']:.2f} mean, {test['median']:.2f} median, {test['within_10']:.1%} "
              f"within 10 min, {test['hour_off']:.1%} an hour off", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
