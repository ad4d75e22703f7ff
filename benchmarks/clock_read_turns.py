"""A finished clock trial's model read at 1, 4, 8 and 16 even turns of each photo, on the same weights.

Loads the ``model.keras`` artifact of a trial (a study's best-so-far model) and the trial's config,
then reads the validation and test photos of that config's split with ``models.clock_heads.read_clocks``
at each number of turns, on one TensorFlow thread, and prints one line per reading: the errors
and the seconds it took (each view of an odd eighth or sixteenth is a bilinear resampling)::

    .venv/bin/python benchmarks/clock_read_turns.py --storage sqlite:////tmp/b2h/clock-2h.db --study clock-2h --trial 1

The readings pick nothing: the trial chose its epoch by its own per-epoch check, so the
validation numbers are as honest a guide to the test numbers as the trial's own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--trial", type=int, required=True, help="the trial number (its model.keras artifact is read)")
    parser.add_argument("--turns", default="1,4,8,16", help="comma-separated turn counts")
    parser.add_argument("--gap-reads", default=None, metavar="R,R,...",
                        help="instead of the turn counts: read at the config's turns once and decode with each of these gap_read weights (clock_cpu.py's --gap-reads)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/clock_read_turns.jsonl"))
    args = parser.parse_args()

    import keras
    import optuna
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import models.align  # noqa: F401  registers the alignment stage a clock model may hold
    from models.clock_heads import head_from_config, read_clocks
    from search import artifacts
    from search.tasks import get_task
    from search.tasks.clock_trainer import summary_of
    from storage import attrs

    study = optuna.load_study(study_name=args.study, storage=args.storage)
    trial = study.trials[args.trial]
    config = trial.user_attrs[attrs.CONFIG]
    model_id = artifacts.find_artifact(trial, study._storage, artifacts.MODEL)
    if model_id is None:
        sys.exit(f"trial {args.trial} of {args.study} has no {artifacts.MODEL} artifact (only a best-so-far trial has one)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / artifacts.MODEL
        path.write_bytes(artifacts.read_artifact(artifacts.open_store(artifacts.study_artifact_dir(study)), model_id))
        model = keras.models.load_model(path)
    head = head_from_config(config)
    splits = get_task("clock").prepare(config)
    result = {"study": args.study, "trial": args.trial, "best_epoch": trial.user_attrs.get(attrs.BEST_EPOCH),
              "val_error": trial.user_attrs.get(attrs.VAL_ERROR), "readings": {}}
    if args.gap_reads:
        from benchmarks.clock_cpu import gap_reads
        from models.clock_heads import turns_of

        result["gap_reads"] = gap_reads(model, head, splits, turns_of(config), args.gap_reads)
    for turns in () if args.gap_reads else map(int, args.turns.split(",")):
        start = time.perf_counter()
        val = summary_of(splits.y_val, read_clocks(model, head, splits.x_val, turns))
        test = summary_of(splits.y_test, read_clocks(model, head, splits.x_test, turns))
        seconds = time.perf_counter() - start
        result["readings"][turns] = {"val": val, "test": test, "seconds": round(seconds, 1)}
        print(f"{turns:2d} turns: validation {val['mean']:.2f} min mean; test {test['mean']:.2f} mean, {test['median']:.2f} median, "
              f"{test['within_10']:.1%} within 10 min, {test['hour_off']:.1%} an hour off; {seconds:.1f} s for "
              f"{len(splits.x_val) + len(splits.x_test)} photos", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
