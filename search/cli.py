"""``python -m search``: the command line of the service.

Commands that do not train (studies, status, export, dashboard) never import TensorFlow.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from datasets import DataError
from search.errors import UserError
from storage import ENV_VAR, Location, StorageError, default_url, parse_location
from storage.export import ExportError
from search.study import OBJECTIVE_CHOICES, SAMPLERS
from studies import FAMILIES, FamilyFileError, UnknownStudy, get_family

log = logging.getLogger("search")

# How the user runs this CLI: the installed console script (the package is then clockwork.search,
# see setup.py), or the module from a checkout. Hints print commands that way.
INSTALLED = __name__.startswith("clockwork.")
COMMAND = "clockwork" if INSTALLED else "python -m search"
EPILOG = (
    "Relative paths resolve against the current folder: the default storage sqlite:///runs/clockwork.db "
    "(or $CLOCKWORK_STORAGE), worker logs in runs/logs/STUDY, trial artifacts beside the database, and the "
    "clock photos in data/clock (render them with: "
    + ("python -m clockwork.datasets" if INSTALLED else "python -m datasets")
    + " synth-clock --n 18000 --out data/clock --seed 7)."
)


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        default=None,
        help=f"storage URL (default: ${ENV_VAR}, else sqlite:///runs/clockwork.db)",
    )


def _pins_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set", dest="pins", action="append", default=[], metavar="KEY=VALUE",
        help="pin a config key for this run, e.g. optimizer=adam, epochs=2, train_limit=5000 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=COMMAND, description="Clockwork: hyperparameter search for Keras models on Optuna.", epilog=EPILOG
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("studies", help="list the study families, or one family's config keys")
    p.add_argument("family", nargs="?", help="print this family's keys: what each accepts, what the study searches, its default")

    p = sub.add_parser("launch", help="create or resume a study and run parallel workers on it")
    p.add_argument("family", help="study family, see `studies`")
    p.add_argument("--workers", type=int, default=2, help="worker processes on this machine (0: only create the study)")
    p.add_argument("--trials", type=int, default=20, help="finished trials (complete + pruned) the study should reach")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS",
        help="end the search by then: no trial starts in its last minute (or tenth), running trials end before an epoch "
        "that would cross it, scored by their best epoch; a worker still busy 30 s later is stopped (its trial queued again)",
    )
    p.add_argument("--study-name", default=None, help="study name (default: the family name)")
    p.add_argument("--pruner", default=None, choices=("median", "hyperband", "none"), help="pruner of a new study (default: the family's)")
    p.add_argument("--sampler", default=None, choices=SAMPLERS, help="sampler of a new study (default: tpe; gp needs PyTorch)")
    p.add_argument("--sampler-seed", type=int, default=None, metavar="N", help="seed of a new study's sampler: worker i samples with N+i")
    p.add_argument(
        "--objectives", default=None, choices=OBJECTIVE_CHOICES,
        help="what a new study minimises: the error (default), or the error and the parameter count or training seconds "
        "(multi-objective: nothing prunes; status and export --pareto show the Pareto front)",
    )
    p.add_argument("--warm-start", default=None, metavar="STUDY|FILE.json", help="enqueue the best 3 trials of an earlier study (same storage) or export file")
    p.add_argument(
        "--trial-timeout", type=float, default=None, metavar="SECONDS",
        help="end a trial after the epoch that passes this many seconds, scored by its best epoch (the budget key trial_timeout)",
    )
    g = p.add_argument_group("on a Ray cluster (pip install -r requirements-cluster.txt; docs/cluster.md)")
    g.add_argument(
        "--cluster", default=None, metavar="ADDRESS",
        help="run the --workers workers on this Ray cluster: auto ($RAY_ADDRESS, else a head started here), HOST:6379 or ray://HOST:10001",
    )
    g.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="C", help="CPUs Ray reserves for each worker, its thread count rounded up (default 1)")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G", help="GPUs Ray gives each worker; fractions share one (default 0)")
    g.add_argument(
        "--proxy-port", type=int, default=None, metavar="PORT",
        help="serve the --storage database to the workers through a gRPC proxy that launch starts here, on every interface (no authentication)",
    )
    g.add_argument("--runtime-env", default=None, metavar="JSON", help="Ray runtime environment, e.g. '{\"working_dir\": \".\"}' to ship the code to the nodes")
    _storage_arg(p)
    _pins_arg(p)

    p = sub.add_parser("worker", help="run one worker on an existing study (for other machines)")
    p.add_argument("study")
    p.add_argument("--trials", type=int, required=True, help="finished trials the study should reach")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for TensorFlow (default: all)")
    p.add_argument("--index", type=int, default=0, help="this worker's number: it samples with the study's sampler seed plus this")
    p.add_argument(
        "--until", type=float, default=None, metavar="UNIX_TIME",
        help="the search's deadline (launch --timeout sets it): no trial starts in its last minute (or tenth), and training ends before an epoch that would cross it",
    )
    p.add_argument(
        "--span", type=float, default=None, metavar="SECONDS",
        help="with --until: the seconds the whole search had, which size its reserves (default: the time left when this worker starts)",
    )
    p.add_argument("--check", action="store_true", help="only check that this machine can run the study's workers (code, storage, data), then exit")
    p.add_argument("--expect-data", default=None, metavar="FINGERPRINT", help="with --check: the data fingerprint the launch saw (sha256:...)")
    _storage_arg(p)
    _pins_arg(p)

    p = sub.add_parser("status", help="trial states, best value and best config of a study")
    p.add_argument("study")
    _storage_arg(p)

    p = sub.add_parser("delete", help="remove a study with its trials, artifacts (models, sheets) and worker logs")
    p.add_argument("study")
    p.add_argument("--yes", action="store_true", help="really delete (without it: say what would go, delete nothing)")
    _storage_arg(p)

    p = sub.add_parser("export", help="write the best trials of a study as JSON for `train`")
    p.add_argument("study")
    p.add_argument("--top", type=int, default=1, help="the K trials of lowest error")
    p.add_argument("--pareto", action="store_true", help="a multi-objective study's whole Pareto front instead of --top")
    p.add_argument("--out", type=Path, required=True)
    _storage_arg(p)

    p = sub.add_parser("train", help="retrain an exported config on train+validation and test it")
    p.add_argument("file", type=Path, help="export file (or a bare config JSON)")
    p.add_argument("--out", type=Path, required=True, help="directory for model.keras and metrics.json")
    p.add_argument("--entry", type=int, default=0, help="which exported trial (0: the best)")

    p = sub.add_parser("predict", help="read the time from clock photos, or classify images, with a trained model")
    p.add_argument("model", type=Path, help="directory written by `train` (model.keras + config.json)")
    p.add_argument("inputs", nargs="+", help="a data directory, an images.npy, image files (PNG/JPEG), or for a classifier an .npz with x (and y)")
    p.add_argument("--out", type=Path, default=Path("preds.csv"), help="CSV with one row per image")

    p = sub.add_parser("dashboard", help="serve optuna-dashboard on the storage")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--artifact-dir", type=Path, default=None, help="trial artifacts (default: $CLOCKWORK_ARTIFACT_DIR, else 'artifacts' beside a SQLite file, else runs/artifacts)")
    _storage_arg(p)

    p = sub.add_parser("permutation", help="retrain the best task-one networks on original and pixel-permuted images")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per network and condition")
    p.add_argument("--permute-seed", type=int, default=None, help="seed of the pixel permutation (default: 1234)")
    p.add_argument("--data-dir-mnist", default=None, help="MNIST data for these runs, e.g. ../shared/data/mnist-10k.npz")
    p.add_argument("--data-dir-fashion", default=None, help="Fashion-MNIST data for these runs (default: found offline)")
    p.add_argument("--out", type=Path, default=Path("runs") / "permutation.json", help="result JSON (the table also as .md beside it)")
    _storage_arg(p)
    _pins_arg(p)

    p = sub.add_parser("report", help="write one self-contained HTML report over the studies of a storage")
    p.add_argument("--out", type=Path, default=Path("runs") / "report.html")
    p.add_argument("--artifact-dir", type=Path, default=None, help="trial artifacts (default: $CLOCKWORK_ARTIFACT_DIR, else the folder each study recorded at creation)")
    _storage_arg(p)

    p = sub.add_parser("serve-storage", help="serve a database to workers through Optuna's gRPC proxy (grpc://HOST:PORT)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface, no authentication)")
    p.add_argument("--port", type=int, default=13000)
    _storage_arg(p)
    return parser


def tensorflow_defaults() -> None:
    """How this service runs TensorFlow, set before it is imported; a user's own setting wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up lines say nothing to a user
    # TensorFlow's pooling allocator for CPU tensors (read when TensorFlow makes its CPU device).
    # Without it every step's buffers go back to malloc and from there to the kernel, and each page
    # is faulted in again next step: on a 2-core VM a clock epoch took 1.4-1.7x as long and 4-5x
    # the page faults (BENCHMARKS.md, "The CPU allocator").
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


def main(argv: list[str] | None = None) -> int:
    tensorflow_defaults()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if args.command == "worker" else optuna.logging.WARNING)
    try:
        return _COMMANDS[args.command](args) or 0
    except (UserError, StorageError, DataError, ExportError, UnknownStudy, FamilyFileError) as exc:
        print(f"clockwork: error: {exc}", file=sys.stderr)
        return 2


def _url(args: argparse.Namespace) -> Location:
    """The storage location, parsed once: a malformed URL is rejected before anything is opened."""
    return parse_location(args.storage or default_url())


def cmd_studies(args: argparse.Namespace) -> int:
    if args.family:
        return _print_family_keys(get_family(args.family))
    width = max(len(n) for n in FAMILIES)
    for name, family in FAMILIES.items():
        print(f"{name:<{width}}  {family.summary}")
    return 0


def _print_family_keys(family: Any) -> int:
    """The family's config keys from the schema (models._config.KEYS), with the space's ranges."""
    from models import KEYS, describe, key_spec
    from search.pins import known_keys, sample_space, searched_text

    known = known_keys(family)
    _, distributions = sample_space(family)
    model = family.reference.get("model")
    searched = {name: searched_text(d, key_spec(name, model)) for name, d in distributions.items()}
    defaults = {**family.reference_params, **family.reference, **family.budget_defaults()}
    names = list(dict.fromkeys(k.name for k in KEYS if k.name in known))
    own: tuple[str, ...] = ()
    if family.source:  # a family file: its keys are its own, only budget and data keys are Clockwork's
        ours = {k.name for k in KEYS if k.group in ("budget", "identity") and k.name in known}
        own = tuple(sorted(known - ours))
        names = [n for n in names if n in ours] + list(own)
    print(f"{family.name}: {family.summary}")
    print(f"objective: {family.objective}; default = the reference network (trial 0) and the family's budget; --set KEY=VALUE pins any key")
    for line in describe(names, model, defaults, searched, own):
        print(line.rstrip())
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from search.launcher import run_launch
    from search.pins import check_pins, parse_pins
    from search.study import create_study, parse_objectives, warm_start, warm_start_params
    from search.tasks import task_of

    family = get_family(args.family)
    if args.workers < 0 or args.trials < 1:
        raise UserError("--workers must be 0 or more and --trials at least 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UserError(f"--timeout {args.timeout:g}: expected a positive number of seconds")
    if args.sampler_seed is not None and args.sampler_seed < 0:
        raise UserError(f"--sampler-seed {args.sampler_seed}: expected a whole number, at least 0")
    pin_args = list(args.pins)
    if args.trial_timeout is not None:
        if args.trial_timeout <= 0:
            raise UserError("--trial-timeout must be a positive number of seconds")
        pin_args.append(f"trial_timeout={args.trial_timeout:g}")
    pins = parse_pins(pin_args)
    check_pins(family, pins)
    data = task_of(family).check_data(family, pins)
    url = _url(args)
    name = args.study_name or family.study_name
    # Everything is checked before the study is created: a rejected launch writes nothing.
    start = warm_start_params(args.warm_start, url, family) if args.warm_start else []
    objectives = parse_objectives(args.objectives) if args.objectives else None
    if args.proxy_port is not None and not args.cluster:
        raise UserError("--proxy-port goes with --cluster (on one machine, start `serve-storage` yourself, see docs/scaling.md)")
    cluster = _cluster(args, url) if args.cluster and args.workers else None
    try:
        study = create_study(url, name, family, args.pruner or family.pruner, args.sampler, args.sampler_seed, data, objectives)
    except BaseException:
        if cluster is not None:
            cluster.disconnect()
        raise
    if start:
        warm_start(study, args.warm_start, start)
    if args.workers == 0:
        print(f"study {name} is ready in {url}; start workers with: {COMMAND} worker {name} --storage '{url}' --trials {args.trials}")
        return 0
    log_dir = Path("runs") / "logs" / name
    try:
        code = run_launch(url, name, args.workers, args.trials, pin_args, log_dir, args.timeout, cluster, data)
    finally:
        if cluster is not None:
            cluster.disconnect()
    print(f"open the dashboard: {COMMAND} dashboard --storage '{url}'")
    return code


def _cluster(args: argparse.Namespace, url: Location) -> Any:
    """Connect to the Ray cluster of ``launch --cluster`` (before the study is created: an
    unreachable head writes nothing)."""
    from search.cluster import Cluster, parse_runtime_env

    if args.cpus_per_worker <= 0 or args.gpus_per_worker < 0:
        raise UserError("--cpus-per-worker must be above 0 and --gpus-per-worker 0 or more")
    if args.proxy_port is not None:
        if not url.is_database:
            raise UserError(f"--proxy-port serves a database (sqlite, postgresql, mysql) to the workers, not {url}")
        if not 0 < args.proxy_port < 65536:
            raise UserError(f"--proxy-port {args.proxy_port}: expected a port number from 1 to 65535")
    elif url.file is not None:
        log.warning("%s is a file: every node must see it at the same path (one machine); use a database server for nodes on other machines", url)
    elif any(f"://{h}" in url.url or f"@{h}" in url.url for h in ("127.0.0.1", "localhost")):
        log.warning("%s names this machine: workers on other machines will not reach it; give an address the nodes reach", url)
    return Cluster(args.cluster, args.cpus_per_worker, args.gpus_per_worker, parse_runtime_env(args.runtime_env), args.proxy_port)


def cmd_worker(args: argparse.Namespace) -> int:
    from search.pins import parse_pins
    from search.worker import run_worker

    from search.worker import RepeatedFailure

    from search.worker import watch_parent

    watch_parent()  # started by a Ray actor: end with it
    pins = parse_pins(args.pins)
    if args.check:
        from search.worker import check_worker

        print(check_worker(_url(args), args.study, pins, args.expect_data))
        return 0
    try:
        ran = run_worker(_url(args), args.study, args.trials, pins, args.threads, args.index, args.until, args.span)
    except RepeatedFailure as exc:
        print(f"clockwork: error: {exc}", file=sys.stderr)
        return RepeatedFailure.exit_code
    except KeyboardInterrupt:
        log.warning("worker stopped by a signal; its running trial was recorded as FAIL")
        return 130
    log.info("worker ran %d trial(s)", ran)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from search.launcher import print_summary, record_lines
    from search.study import open_study
    from search.tasks import task_of_study

    study = open_study(_url(args), args.study, heartbeat=False)
    task = task_of_study(study)
    print_summary(study, task)
    for line in record_lines(study, task):
        print(line)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    import shutil

    import optuna

    from search.artifacts import disk_bytes, human_bytes, open_store, study_artifact_dir, study_artifact_ids
    from search.study import open_study

    url = _url(args)
    study = open_study(url, args.study, heartbeat=False)
    folder = study_artifact_dir(study, url)
    ids = [i for i in study_artifact_ids(study) if (folder / i).exists()]
    logs = Path("runs") / "logs" / args.study
    what = (
        f"study {args.study} ({len(study.trials)} trials) in {url}, {len(ids)} artifact files "
        f"({human_bytes(disk_bytes([folder / i for i in ids]))}) in {folder}"
        + (f" and its worker logs in {logs}" if logs.is_dir() else "")
    )
    if not args.yes:
        raise UserError(f"delete would remove {what}; add --yes to delete it")
    # The database first: files left behind by a crash after it are orphans, never dangling links.
    optuna.delete_study(study_name=args.study, storage=study._storage)
    store = open_store(folder)
    for artifact_id in ids:
        store.remove(artifact_id)
    if logs.is_dir():
        shutil.rmtree(logs)
    shutil.rmtree(folder / "checkpoints" / args.study, ignore_errors=True)  # a stopped trial's epochs
    print(f"deleted {what}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from search.study import open_study
    from storage.export import export_study, write_export

    if args.top < 1:
        raise UserError("--top must be at least 1")
    url = _url(args)
    data = export_study(open_study(url, args.study, heartbeat=False), args.top, url.url, pareto=args.pareto)
    write_export(data, args.out)
    best = data["trials"][0]
    if args.pareto:
        print(f"wrote the Pareto front of {args.study}, {len(data['trials'])} trial(s), to {args.out}; lowest error: trial #{best['trial']}, {best['value']:.4f}")
    else:
        print(f"wrote {len(data['trials'])} trial(s) of {args.study} to {args.out}; best: trial #{best['trial']}, value {best['value']:.4f}")
    print(f"retrain it with: {COMMAND} train {args.out} --out runs/{args.study}-best")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from search.retrain import run_train
    from storage.export import read_export

    entries = read_export(args.file)
    if not 0 <= args.entry < len(entries):
        raise UserError(f"--entry {args.entry}: {args.file} holds {len(entries)} trial(s)")
    metrics, task = run_train(entries[args.entry], args.out)
    test_line = task.test_line
    print(
        f"{test_line(metrics)} (the trial's: {test_line(metrics['trial_test'])}), "
        f"{metrics['param_count']} parameters (trial: {metrics['trial_param_count']}); "
        f"saved {args.out / 'model.keras'} and {args.out / 'metrics.json'}"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from search.predict import format_summary, run_predict

    summary = run_predict(args.model, args.inputs, args.out)
    rows = sum(1 for _ in open(args.out)) - 1
    print(f"wrote {rows} predictions to {args.out}")
    if summary is not None:
        print(format_summary(summary, rows))
    return 0


def cmd_serve_storage(args: argparse.Namespace) -> int:
    from storage.grpc import serve

    url = _url(args)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the storage proxy listens on %s without authentication: anyone who can reach this machine can read, change and delete the studies", args.host)
    print(f"gRPC storage proxy on {args.host}:{args.port} for {url}; workers use --storage grpc://HOST:{args.port} (Ctrl-C to stop)", flush=True)
    try:
        serve(url, args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from optuna_dashboard import run_server

    from storage import open_storage

    url = _url(args)
    storage = open_storage(url, heartbeat=False, create=False)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the dashboard listens on %s: anyone who can reach this machine can read the studies", args.host)
    from search.artifacts import default_artifact_dir, open_store  # no TensorFlow: numpy and optuna only

    artifact_dir = args.artifact_dir or default_artifact_dir(url)
    print(f"optuna-dashboard on http://{args.host}:{args.port}/ for {url}, artifacts in {artifact_dir} (Ctrl-C to stop)", flush=True)
    run_server(storage, host=args.host, port=args.port, artifact_store=open_store(artifact_dir))
    return 0


def cmd_permutation(args: argparse.Namespace) -> int:
    from search.permutation import DEFAULT_PERMUTE_SEED, format_table, run_permutation, write_result
    from search.pins import parse_pins

    url = _url(args)
    permute_seed = DEFAULT_PERMUTE_SEED if args.permute_seed is None else args.permute_seed
    data_dirs = {"mnist": args.data_dir_mnist, "fashion": args.data_dir_fashion}
    try:
        result = run_permutation(url, args.seeds, permute_seed, parse_pins(args.pins), data_dirs)
    except KeyboardInterrupt:
        log.warning("stopped; the finished runs are kept: the same command resumes")
        return 130
    write_result(result, args.out)
    for line in result["skipped"]:
        print(line)
    print(f"networks: {'; '.join(result['sources'])}")
    print(f"data: {'; '.join(result['data'])}")
    print(f"pixel permutation seed {permute_seed}; {args.seeds} seed(s) per cell; test accuracy mean ± standard deviation:")
    print(format_table(result["rows"]))
    if result["failed_runs"]:
        print(f"{result['failed_runs']} run(s) failed: see the failed trials of study permutation")
    print(f"saved {args.out} and {args.out.with_suffix('.md')}; the runs are study 'permutation' in {url}")
    return 0 if result["rows"] else 1


def cmd_report(args: argparse.Namespace) -> int:
    from search.report import write_report
    from storage import open_storage

    url = _url(args)
    storage = open_storage(url, heartbeat=False, create=False)
    summary = write_report(storage, args.out, args.artifact_dir, url)
    print(f"wrote {args.out}: {summary}")
    return 0


_COMMANDS = {
    "studies": cmd_studies,
    "launch": cmd_launch,
    "worker": cmd_worker,
    "status": cmd_status,
    "delete": cmd_delete,
    "export": cmd_export,
    "train": cmd_train,
    "predict": cmd_predict,
    "dashboard": cmd_dashboard,
    "serve-storage": cmd_serve_storage,
    "permutation": cmd_permutation,
    "report": cmd_report,
}
