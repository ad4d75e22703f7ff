"""One clock config trained on ONE CPU thread through the service's own trainer: what a demo trial costs.

Starts from the clock family's seed (two sin/cos pairs, Adam 3e-3, cosine; since issue 12's sweep
also a warm-up epoch, 24 filters, no dropout, light augmentation, photos read four ways: rows
measured before then pin ``warmup_epochs=0 dropout=0.2 augment=none read_turns=1``; since 329daff
it reads 48 px photos, rows measured before pin ``input_size=40``), applies ``--set`` pins,
trains with the family's validation split and reports every epoch's validation error, seconds per
epoch, and the test numbers at the best epoch (whose weights the trainer restores). Appends one
JSON line to ``--out``. Pin it to a core for a clean single-thread cost::

    taskset -c 1 .venv/bin/python benchmarks/clock_cpu.py --set input_size=40 --set filters=16 \\
        --set batch_size=16 --set augment=light --set epochs=16 --set trial_timeout=220
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.cli import tensorflow_defaults  # noqa: E402

tensorflow_defaults()  # TensorFlow as `python -m search` runs it


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="pins", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-dir", default="data/clock")
    parser.add_argument("--name", default=None, help="a label for the result line")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/clock_cpu.jsonl"))
    parser.add_argument("--stop-after", type=int, default=0, help="end training after this many epochs (the schedule still spans the config's epochs): how a run starts")
    parser.add_argument("--gap-reads", default=None, metavar="R,R,...",
                        help="with gap_weight above 0: also read the kept weights' validation and test photos with each of these gap_read weights (the same outputs, decoded each way)")
    parser.add_argument("--predictions", type=Path, default=None, help="also save the test predictions (y_true, error) for clock_misses.py")
    # A variant of the first alignment stage (align_stage 1, models.align's defaults changed for this
    # run; with --set align=affine or perspective): any of these pins align_stage=1.
    parser.add_argument("--align-rate", type=float, default=None, help="models.align.RATE: the transform's own rate")
    parser.add_argument("--align-gate", type=float, default=None, metavar="MINUTES",
                        help="gated (models.align.GATED), opened after the first epoch whose validation error is under MINUTES")
    parser.add_argument("--align-norm", action="store_true", help="a layer normalisation in the localisation net (NORMALISED)")
    parser.add_argument("--align-activation", default=None, help="the localisation net's activation (ACTIVATION)")
    parser.add_argument("--align-loc-rate", type=float, default=None, help="the localisation net's rate (LOC_RATE)")
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from search.pins import parse_pins
    from search.tasks import get_task
    from studies.clock import CLOCK, CLOCK_TWO_HANDS_PARAMS

    pins = parse_pins(args.pins)
    config = CLOCK.full_config({"model": "clock", **CLOCK_TWO_HANDS_PARAMS}, {"data_dir": args.data_dir, **pins}, seed=1)
    task = get_task(CLOCK.task)
    import models.align

    variant = {
        "RATE": args.align_rate, "GATED": True if args.align_gate is not None else None,
        "OPENS_BELOW": args.align_gate, "NORMALISED": True if args.align_norm else None,
        "ACTIVATION": args.align_activation, "LOC_RATE": args.align_loc_rate,
    }
    variant = {name: value for name, value in variant.items() if value is not None}
    if variant:
        config["align_stage"] = 1
        for name, value in variant.items():
            setattr(models.align, name, value)
    start = time.perf_counter()
    trainer = task.trainer(config, task.prepare(config))
    cpu = time.process_time()
    import keras

    losses: list[float] = []  # the training loss of every epoch (all outputs' losses summed)
    def epoch_end(epoch: int, logs: dict) -> None:
        losses.append(float(logs["loss"]))
        summary = trainer._check.summaries[-1]
        print(f"epoch {epoch + 1}: val {trainer.record.val_errors[-1]:.1f} (minute hand {summary['minute_mean']:.1f}), "
              f"loss {losses[-1]:.4f}, {trainer.record.seconds / trainer.record.epochs:.1f} s an epoch", flush=True)
        if getattr(trainer, "align_opened", None) == epoch + 1:
            print(f"epoch {epoch + 1}: the alignment stage opens", flush=True)
        if args.stop_after and epoch + 1 >= args.stop_after:
            trainer.model.stop_training = True

    trainer.fit([keras.callbacks.LambdaCallback(on_epoch_end=epoch_end)])
    record = trainer.record
    test = trainer.evaluate_test()
    import numpy as np

    from benchmarks.clock_misses import stretch
    from datasets.clocktime import common_sense_error

    # Photos read an hour off with the minute hand within 5 min (55-65 min off): the short hand
    # misread (about 60 min off), or the dial's turn misjudged by 16-30 degrees (62.7-65 min off,
    # BENCHMARKS.md "The hour hand"). Their share, the minutes of the mean they carry, their median.
    error = common_sense_error(trainer.splits.y_test, trainer.test_minutes)
    extra: dict[str, Any] = {}
    aligned = None
    if "align" in [layer.name for layer in trainer.model.layers]:
        # What the stage learned: the transform it picks for each test photo, and its mean stretch.
        stage = trainer.model.get_layer("align")
        before = keras.Model(trainer.model.inputs, stage.input)
        extra["transforms"] = np.concatenate([
            np.asarray(stage.transforms(before(trainer.splits.x_test[i : i + 256])))
            for i in range(0, len(trainer.splits.x_test), 256)
        ])
        aligned = round(float(np.mean(stretch(extra["transforms"]))), 4)
    if args.predictions:
        np.savez(args.predictions, y_true=trainer.splits.y_test, error=error, **extra)
    hour_off = np.abs(error - 60) <= 5
    result = {
        "name": args.name or " ".join(args.pins), "pins": pins, "params": trainer.param_count,
        "val": [round(v, 1) for v in record.val_errors],
        "val_minute": [round(v["minute_mean"], 1) for v in trainer._check.summaries],  # the long hand alone; chance 15
        "loss": [round(v, 4) for v in losses],
        "best_epoch": record.best_epoch, "align_anisotropy": aligned, "align_opened_after": getattr(trainer, "align_opened", None),
        "train_seconds": round(record.seconds, 1), "train_cpu_seconds": round(time.process_time() - cpu, 1),
        "test_mean": round(test["test_mean"], 1), "test_median": round(test["test_median"], 1),
        "test_within_10": round(test["test_within_10"], 3),
        "hour_off_share": round(float(hour_off.mean()), 3), "hour_off_minutes": round(float(error[hour_off].sum() / len(error)), 1),
        "hour_off_median_error": round(float(np.median(error[hour_off])), 1) if hour_off.any() else None,
        "epoch_seconds": round(record.seconds / max(len(record.val_errors), 1), 1), "wall_seconds": round(time.perf_counter() - start, 1),
    }
    if args.gap_reads:
        from models.clock_heads import turns_of

        result["gap_reads"] = gap_reads(trainer.model, trainer.head, trainer.splits, turns_of(trainer.config), args.gap_reads)
    print(json.dumps(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(result) + "\n")
    return 0


def gap_reads(model: Any, head: Any, s: Any, turns: int, reads: str) -> dict[str, dict[str, float]]:
    """A model's validation and test errors decoded with each ``gap_read`` weight in ``reads``
    ("0,0.5,1"), from one reading of the photos of splits ``s`` at ``turns`` turns."""
    from models.clock_heads import HandGap, read_outputs
    from search.tasks.clock_trainer import summary_of

    if not isinstance(head, HandGap):
        raise SystemExit("--gap-reads needs gap_weight above 0")
    outputs = {part: read_outputs(model, head, x, turns) for part, x in (("val", s.x_val), ("test", s.x_test))}
    out = {}
    for read in (float(r) for r in reads.split(",")):
        decoder = HandGap(head.inner, head.weight, read)
        val, test = (summary_of(y, decoder.decode(outputs[part])) for part, y in (("val", s.y_val), ("test", s.y_test)))
        out[f"{read:g}"] = {"val_mean": round(val["mean"], 2), "test_mean": round(test["mean"], 2), "test_median": round(test["median"], 2),
                            "test_hour_off": round(test["hour_off"], 3)}
        print(f"gap_read {read:g}: validation {val['mean']:.2f} min mean; test {test['mean']:.2f} mean, {test['median']:.2f} median, "
              f"{test['hour_off']:.1%} an hour off", flush=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
