"""``python -m datasets``: make and check data files without starting a search.

    python -m datasets synth-clock --n 18000 --out data/clock --seed 7 [--style photo|clean] [--size 150]
    python -m datasets check-clock data/clock [--size 64]
    python -m datasets import SRC --out DIR [--size N]   (a folder of photos: see datasets.folders)

Neither command imports TensorFlow or Optuna.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time

from datasets.errors import DataError


def _style_value(name: str, text: str, default: object) -> object:
    """Parse ``--set NAME=TEXT`` with the type of the style field's default value."""
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise DataError(f"--set {name}: expected true or false, not {text!r}")
        return text.lower() in ("true", "1", "yes")
    if isinstance(default, tuple) or (default is None and name == "distance"):
        if text.lower() == "none":
            return None
        parts = text.split(",")
        if len(parts) != 2:
            raise DataError(f"--set {name}: expected a range LOW,HIGH (e.g. {name}=0.8,0.95), not {text!r}")
        kind = type(default[0]) if isinstance(default, tuple) else float
        try:
            return tuple(kind(p) for p in parts)
        except ValueError as exc:
            raise DataError(f"--set {name}: {exc}") from exc
    if isinstance(default, str):
        return text
    try:
        return float(text)
    except ValueError as exc:
        raise DataError(f"--set {name}: expected a number, not {text!r}") from exc


def _style_overrides(pins: list[str]) -> dict[str, object]:
    from datasets.synth import ClockStyle

    defaults = {f.name: f.default for f in dataclasses.fields(ClockStyle)}
    out: dict[str, object] = {}
    for pin in pins:
        name, sep, text = pin.partition("=")
        if not sep:
            raise DataError(f"--set {pin!r}: expected NAME=VALUE")
        if name not in defaults:
            raise DataError(f"--set: unknown style field {name!r}; known: {', '.join(defaults)}")
        out[name] = _style_value(name, text, defaults[name])
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m datasets", description="Clockwork's data tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth-clock", help="render a synthetic look-alike of the tell-the-time photos")
    p.add_argument("--n", type=int, default=18000, help="number of images (default 18000, as the real set)")
    p.add_argument("--out", default="data/clock", help="output directory (default data/clock)")
    p.add_argument("--seed", type=int, default=7, help="the same seed gives byte-identical files")
    p.add_argument(
        "--style", default="photo", choices=("photo", "clean"), help="photo (default) or clean: flat, upright, plain"
    )
    p.add_argument("--size", type=int, default=150, help="image side in pixels (default 150, as the real set)")
    p.add_argument("--jobs", type=int, default=1, help="render in this many processes (same files whatever the number)")
    p.add_argument(
        "--set",
        dest="pins",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a style field, e.g. tilt_max=30, fill=0.85,0.9, numerals=false (repeatable)",
    )

    p = sub.add_parser("check-clock", help="check a directory of images.npy + labels.npy and show its split")
    p.add_argument("data_dir")
    p.add_argument("--size", type=int, default=None, help="also resize (and cache) to this input size")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the loader's)")
    p.add_argument("--cache-dir", default=None, help="resize cache (default runs/cache/clock)")

    p = sub.add_parser("import", help="convert a folder of images (labels.csv, or one sub-folder per class) once")
    p.add_argument("src", help="clock photos with labels.csv (file,hour,minute), or one sub-folder of images per class")
    p.add_argument("--out", required=True, help="output folder: images.npy + labels.npy (clock) or data.npz (classes)")
    p.add_argument("--size", type=int, default=None, help="resize every image to N x N (needed when sizes differ)")
    return parser


def cmd_import(args: argparse.Namespace) -> int:
    from datasets.folders import import_folder

    print(f"wrote {import_folder(args.src, args.out, args.size)}")
    return 0


def cmd_synth_clock(args: argparse.Namespace) -> int:
    from datasets.synth import style_named, synthesize

    if args.jobs < 1:
        raise DataError(f"--jobs must be at least 1, not {args.jobs}")
    style = style_named(args.style, **_style_overrides(args.pins))
    started = time.perf_counter()
    folder = synthesize(args.out, args.n, seed=args.seed, style=style, size=args.size, jobs=args.jobs)
    print(
        f"wrote {args.n} images ({args.size} px, {args.style}, seed {args.seed}) to {folder} "
        f"in {time.perf_counter() - started:.1f} s: images.npy, labels.npy, sheet.png, synth.json"
    )
    return 0


def cmd_check_clock(args: argparse.Namespace) -> int:
    from datasets import clock

    kwargs: dict[str, object] = {"size": args.size}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.cache_dir is not None:
        kwargs["cache_dir"] = args.cache_dir
    data = clock.load_clock(args.data_dir, **kwargs)
    print(
        f"{data.source}: ok, {data.image_size} px; train {len(data.x_train)}, validation {len(data.x_val)}, "
        f"test {len(data.x_test)} (split seed {kwargs.get('seed', clock.SPLIT_SEED)}); "
        f"{len(set(data.y_train.tolist()))} of 720 times in training"
    )
    return 0


_COMMANDS = {"synth-clock": cmd_synth_clock, "check-clock": cmd_check_clock, "import": cmd_import}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    try:
        return _COMMANDS[args.command](args)
    except DataError as exc:
        print(f"datasets: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk or an unwritable --out is the user's to fix, not a traceback
        print(f"datasets: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
