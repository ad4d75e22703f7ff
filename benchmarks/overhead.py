"""Service overhead per trial: one trial through the worker against a bare ``model.fit``.

Both sides train the same config (the reference MLP, every search dimension pinned) on the same
arrays in the same process, alternating, so machine noise hits both. The service side is a whole
``Worker.run`` step: budget lock, trial counts, ask, config, build, fit with per-epoch report and
pruning callbacks, test evaluation, user attributes and tell on a SQLite storage with heartbeats.
The bare side is build + compile + ``model.fit`` with validation data.

    .venv/bin/python benchmarks/overhead.py --epochs 5 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="fashion-mlp")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-limit", type=int, default=None)
    args = parser.parse_args()

    import keras
    import optuna

    from models.classifier import build_classifier
    from search.study import create_study
    from search.worker import Worker
    from studies import get_family

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    family = get_family(args.family)
    pins = {**family.reference_params, "epochs": args.epochs, "train_limit": args.train_limit}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/overhead.db"
        create_study(url, "overhead", family, "none")
        worker = Worker(url, "overhead", pins)
        splits = worker.objective.data.get(family.full_config(family.reference, pins, seed=0))
        config = family.full_config(family.reference, pins, seed=0)
        print(f"{args.family} reference, {args.epochs} epochs, {len(splits.x_train)} train / {len(splits.x_val)} validation images")
        print(f"{'repeat':>6} {'bare s':>8} {'service s':>10} {'ratio':>7}")
        ratios, bares, services = [], [], []
        for r in range(args.repeats):
            timings = {}
            for side in (("bare", "service") if r % 2 == 0 else ("service", "bare")):
                start = time.perf_counter()
                if side == "bare":
                    keras.backend.clear_session()
                    keras.utils.set_random_seed(r)
                    model = build_classifier(config, splits.input_shape, splits.n_classes)
                    model.fit(
                        splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                        batch_size=config["batch_size"], epochs=config["epochs"], verbose=0,
                    )
                else:
                    assert worker.run(trials=r + 1) == 1
                timings[side] = time.perf_counter() - start
            ratio = timings["service"] / timings["bare"]
            ratios.append(ratio)
            bares.append(timings["bare"])
            services.append(timings["service"])
            print(f"{r:>6} {timings['bare']:>8.2f} {timings['service']:>10.2f} {ratio:>7.3f}", flush=True)
        print(f"median: bare {statistics.median(bares):.2f} s, service {statistics.median(services):.2f} s, "
              f"ratio {statistics.median(ratios):.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
