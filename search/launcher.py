"""``launch``: create the study, start N worker processes, show progress, print a summary.

GPUs: each worker process sees one GPU through ``CUDA_VISIBLE_DEVICES``, round robin over the
devices this process may use (``$CUDA_VISIBLE_DEVICES`` if set, else what ``nvidia-smi -L`` or
``/proc/driver/nvidia/gpus`` list), so 8 workers on 4 GPUs put two on each. The launcher finds them
without importing TensorFlow. Without GPUs the CPU threads are split between the workers.

Stopping: Ctrl-C or SIGTERM asks every worker to end its running trial as FAIL; after they exit,
any trial still RUNNING under one of them (a worker killed after the grace time) is ended FAIL
too, so a later launch resumes a clean study: trial numbers continue and the budget counts what
was already finished.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from tqdm import tqdm

from search.cluster import WORKER_STOPPED, Cluster
from search.worker import LAST_START_SECONDS, last_start
from search.study import best_trial, error_of, finished_count, objectives_of, open_study, pareto_front, restart_lines, state_counts
from search.tasks import Task, task_of_study
from storage import Location, attrs
from storage.urls import MAX_RETRY

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
STOP_GRACE_SECONDS = 60
DEADLINE_GRACE_SECONDS = 30  # after --timeout, for workers to finish on their own before SIGTERM
WORKER_REPEATED_FAILURE = 3  # a worker's exit code when the study's last trials failed alike (search.worker.RepeatedFailure)
PROC_GPUS = Path("/proc/driver/nvidia/gpus")
MAX_REPLACEMENTS = 3  # times the worker count: lost workers replaced on a cluster before a launch stops replacing


def visible_gpus(env: dict[str, str] | None = None) -> list[str]:
    """The GPUs this process may hand out, as ``CUDA_VISIBLE_DEVICES`` entries (indices or UUIDs).

    An explicit ``$CUDA_VISIBLE_DEVICES`` wins (CUDA ignores everything from the first invalid
    entry on, so ``-1`` or an empty value hides all GPUs); otherwise the devices are detected.
    """
    env = os.environ if env is None else env
    if "CUDA_VISIBLE_DEVICES" in env:
        gpus = []
        for entry in env["CUDA_VISIBLE_DEVICES"].split(","):
            entry = entry.strip()
            if not entry or entry.startswith("-"):
                break
            gpus.append(entry)
        return gpus
    return [str(i) for i in range(detect_gpu_count())]


def detect_gpu_count() -> int:
    """How many NVIDIA GPUs the machine has, from ``nvidia-smi -L``, else the driver's /proc entries."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return sum(line.startswith("GPU ") for line in out.stdout.splitlines())
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return sum(1 for entry in PROC_GPUS.iterdir() if entry.is_dir())
    except OSError:
        return 0


def assign_gpus(workers: int, gpus: list[str]) -> list[str | None]:
    """Worker ``i`` gets ``gpus[i % len(gpus)]``; ``None`` for every worker when there is no GPU."""
    if not gpus:
        return [None] * workers
    return [gpus[i % len(gpus)] for i in range(workers)]


def worker_command(
    url: str, study: str, trials: int, threads: int, pin_args: list[str], index: int = 0,
    until: float | None = None, span: float | None = None,
) -> list[str]:
    cmd = [
        # The package this runs from: search in a checkout, clockwork.search when installed.
        sys.executable, "-m", __package__, "worker", study, "--storage", url, "--trials", str(trials),
        "--threads", str(threads), "--index", str(index),
    ]
    if until is not None:
        cmd += ["--until", f"{until:.3f}"]
        if span is not None:
            cmd += ["--span", f"{span:g}"]
    for item in pin_args:
        cmd += ["--set", item]
    return cmd


def run_launch(
    where: Location,
    study_name: str,
    workers: int,
    trials: int,
    pin_args: list[str],
    log_dir: Path,
    timeout: float | None = None,
    cluster: Cluster | None = None,
    data: str | None = None,
) -> int:
    """Run ``workers`` processes until the study has ``trials`` finished trials; return an exit code.

    With ``timeout`` (seconds) the search ends by then: the workers start no trial in its last
    minute (its last tenth, if shorter), and a running trial ends its training before an epoch
    that would cross it, tested and scored by its best epoch. A worker still running
    ``DEADLINE_GRACE_SECONDS`` later (a trial in an epoch longer than what was left) is stopped as
    on Ctrl-C: its running trial ends FAIL, queued again, and a later launch resumes it. With
    ``cluster`` the workers run on a Ray cluster (search.cluster), each node checked first against
    the launch's ``data`` fingerprint.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    until = time.time() + timeout if timeout else None  # the workers' deadline, in wall-clock seconds
    span = float(timeout) if timeout else None  # what sizes their reserves, a late replacement's too
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    procs: list[tuple[Any, Path]] = []
    if cluster is not None:
        env = {**cluster.forwarded_env(), **env}
        threads = cluster.threads
        if cluster.proxy_port is not None:  # the workers reach the database through a proxy started here
            worker_url = cluster.start_proxy(where.url, log_dir)
            print(f"gRPC storage proxy for the workers at {worker_url} (log: {log_dir / 'proxy.log'})", flush=True)
        else:
            worker_url = where.url
        # Each actor runs its node's Python on the same module: the command less `python -m PACKAGE`.
        argv = [worker_command(worker_url, study_name, trials, threads, pin_args, i, until, span)[3:] for i in range(workers)]
        started = cluster.start(argv, check_command(worker_url, study_name, pin_args, data)[3:], log_dir, env)
        procs = [(w, w.log_path) for w in started]
        nodes = sorted({f"{w.info.get('node', '?')[:8]} at {w.info.get('ip', '?')}" for w in started})
        print(
            f"launched {workers} workers on the Ray cluster at {cluster.address} ({cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs, "
            f"{threads} thread(s) each) over {len(nodes)} node(s) ({', '.join(nodes)}); logs copied to {log_dir}",
            flush=True,
        )
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        gpus = assign_gpus(workers, visible_gpus())
        for i in range(workers):
            path = log_dir / f"worker-{i}.log"
            worker_env = {**os.environ, **env} if gpus[i] is None else {**os.environ, **env, "CUDA_VISIBLE_DEVICES": gpus[i]}
            with open(path, "w") as out:
                proc = subprocess.Popen(
                    worker_command(where.url, study_name, trials, threads, pin_args, i, until, span),
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=worker_env,
                )
            procs.append((proc, path))
        devices = f", GPUs {', '.join(g or '-' for g in gpus)}" if gpus[0] is not None else ""
        print(f"launched {workers} workers ({threads} CPU thread(s) each{devices}); logs in {log_dir}", flush=True)

    study = open_study(where, study_name, heartbeat=False)
    study.set_user_attr(attrs.LOG_DIR, str(log_dir.resolve()))
    task = task_of_study(study)
    stopping = timed_out = False
    repeated: str | None = None  # the error every recent trial failed with, once a worker saw it
    # SIGTERM 30 s after the workers' deadline, however long the workers took to start
    deadline = time.monotonic() + (until - time.time()) + DEADLINE_GRACE_SECONDS if until is not None else None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    bar = _progress(trials, study_name)
    try:
        while True:
            if cluster is not None:  # first: a lost worker is replaced even when it was the last one running
                procs = _tend_cluster(
                    cluster, procs, study, bar, worker_url, study_name, trials, pin_args, data, env, until, span
                )
            if not any(p.poll() is None for p, _ in procs):
                break
            if not where.heartbeats:
                # A journal has no heartbeats: a worker that died (OOM-killed, SIGKILL) would hold
                # its trial RUNNING, and a slot of the budget, forever. Fail and requeue it now.
                end_orphaned_trials(study, [_owner(p) for p, _ in procs if p.poll() not in (None, 0)], retry=True)
            _update(bar, study, task)
            repeated = next((_error_line(path) for p, path in procs if p.poll() == WORKER_REPEATED_FAILURE), None)
            if repeated is not None:
                raise KeyboardInterrupt
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                raise KeyboardInterrupt
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        stopping = True
        if repeated is not None:
            reason = "the config fails every trial"
        else:
            reason = f"time limit of {timeout:g} s passed {DEADLINE_GRACE_SECONDS} s ago" if timed_out else "interrupted"
        bar.write(f"{reason}: asking workers to end their running trials")
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        grace_end = time.monotonic() + STOP_GRACE_SECONDS
        for proc, _ in procs:
            try:
                proc.wait(timeout=max(0.1, grace_end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if cluster is not None:  # workers still running here (the loop failed): stopped, not orphaned
            cluster.close([p for p, _ in procs], STOP_GRACE_SECONDS)
        ended = end_orphaned_trials(study, [_owner(p) for p, _ in procs if p.poll() is not None])
        _update(bar, study, task)
        bar.close()
    if ended:
        print(f"{ended} trial(s) left RUNNING by stopped workers were ended as FAIL", file=sys.stderr)
    if repeated is None:  # every worker may have seen it and exited before the loop looked
        repeated = next((_error_line(path) for p, path in procs if p.returncode == WORKER_REPEATED_FAILURE), None)
    if repeated is not None:
        print_summary(study, task)
        print(f"clockwork: error: {repeated}", file=sys.stderr)
        return 1
    failed = [(i, p.returncode, path) for i, (p, path) in enumerate(procs) if p.returncode not in (0, None)]
    if failed and all(code == WORKER_STOPPED for _, code, _ in failed):
        # The workers were stopped by a signal that this process did not get (a Ctrl-C where
        # the launcher was started with SIGINT ignored, or `kill -INT` to the workers alone):
        # a stop, which a later launch resumes, not a failure.
        stopping = True
    if stopping:
        print(f"stopped; launch again to resume study {study_name} (finished trials count toward --trials)")
    elif until is not None and not failed and finished_count(state_counts(study)) < trials:
        # Every worker ended on its own with trials left to run: the deadline's rules stopped them
        # (no trial starts in the search's last minute, nor one whose first epoch would not fit), which
        # on quick epochs can happen seconds before the last-start window opens.
        print(f"time limit of {timeout:g} s reached: the workers ended their trials by it; launch again to run more trials")

    for i, code, path in failed:
        if not stopping:
            tail = path.read_text(errors="replace").strip().splitlines()[-3:]
            print(f"worker {i} exited with code {code}; last lines of {path}:", *tail, sep="\n  ", file=sys.stderr)
    print_summary(study, task)
    if timed_out:
        return 0
    if stopping:
        return WORKER_STOPPED
    return 1 if failed else 0


def check_command(url: str, study: str, pin_args: list[str], data: str | None) -> list[str]:
    """The command each cluster node runs before any worker starts (search.worker.check_worker)."""
    cmd = [sys.executable, "-m", __package__, "worker", study, "--storage", url, "--trials", "1", "--check"]
    if data:
        cmd += ["--expect-data", data.split()[0]]
    for item in pin_args:
        cmd += ["--set", item]
    return cmd


def _owner(proc: Any) -> str | None:
    """The ``host:pid`` a worker's trials record: a cluster worker knows its node's; a local one is here."""
    return proc.owner if hasattr(proc, "owner") else f"{socket.gethostname()}:{proc.pid}"


def too_late_to_start(until: float | None, span: float | None, now: float | None = None) -> bool:
    """Whether a worker started now would start no trial: within the search's last-start reserve
    (``last_start(span)``, what its workers keep), or a minute when the span is unknown."""
    if until is None:
        return False
    reserve = last_start(span) if span else LAST_START_SECONDS
    return (time.time() if now is None else now) > until - reserve


def _tend_cluster(
    cluster: Cluster, procs: list[tuple[Any, Path]], study: Any, bar: tqdm, url: str, study_name: str,
    trials: int, pin_args: list[str], data: str | None, env: dict[str, str], until: float | None = None,
    span: float | None = None,
) -> list[tuple[Any, Path]]:
    """Copy the workers' logs to the head; put a lost worker's trial back in the queue and place a
    replacement on a live node; let a replacement still waiting for a node go once the others are done."""
    out = []
    for proc, path in procs:
        proc.copy_log()
        code = proc.poll()
        if code is not None and code < 0 and proc.started and not proc.replaced:
            # Killed: its node lost (the actor died with it) or the process alone (out of memory).
            proc.replaced = True
            proc.copy_log(final=True)
            ended = end_orphaned_trials(study, [proc.owner], retry=True)
            where_ = f"node {proc.info['node'][:8]} at {proc.info['ip']}"
            what = f"lost with its actor on {where_} ({proc.lost})" if proc.lost else f"killed by signal {-code} on {where_}"
            line = f"worker {proc.index} was {what}: {ended} running trial(s) ended FAIL and queued again (at most {MAX_RETRY} times a trial)"
            late = too_late_to_start(until, span)  # nothing left for a replacement to do
            if finished_count(state_counts(study)) >= trials or cluster.replaced >= MAX_REPLACEMENTS * len(procs) or late:
                bar.write(line)
                out.append((proc, path))
                continue
            bar.write(f"{line}; placing a replacement")
            # A fresh index: the replacement samples with a seed of its own, not the lost worker's again.
            index = len(procs) + cluster.replaced
            argv = worker_command(url, study_name, trials, cluster.threads, pin_args, index, until, span)[3:]
            check = check_command(url, study_name, pin_args, data)[3:]
            proc = cluster.replace(proc, argv, check, env)
        if proc.poll() == 2 and getattr(proc, "error", None):
            bar.write(f"worker {proc.index}: {proc.error}")
            proc.error = None
        out.append((proc, path))
    if all(p.poll() is not None for p, _ in out if p.started) and finished_count(state_counts(study)) >= trials:
        for p, _ in out:
            if not p.started and p.poll() is None:
                p.returncode = 0  # waited for a node that the finished budget no longer needs
    return out


def _error_line(log_path: Path) -> str:
    """The ``clockwork: error:`` line a worker ended its log with, without the prefix."""
    lines = log_path.read_text(errors="replace").splitlines()
    found = [line for line in lines if line.startswith("clockwork: error: ")]
    return found[-1].removeprefix("clockwork: error: ") if found else f"a worker stopped on repeated failures (see {log_path})"


def end_orphaned_trials(study: Any, owners: list[str | None], *, retry: bool = False) -> int:
    """End as FAIL the RUNNING trials of the exited workers ``owners`` (``host:pid``); return how many.

    With ``retry`` each is queued again with its parameters, as a heartbeat would have done (at
    most ``MAX_RETRY`` times per trial), and continues from its checkpoint (search.checkpoints).
    """
    from search.checkpoints import requeue

    owners = {o for o in owners if o}
    if not owners:
        return 0
    ended = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(attrs.WORKER) in owners:
            with contextlib.suppress(UpdateFinishedTrialError):
                study._storage.set_trial_user_attr(trial._trial_id, attrs.FAIL_REASON, "its worker process ended mid-trial")
                # Not tell(skip_if_finished): a heartbeat sweep or the worker itself may end the
                # trial first, and then it must not be queued a second time. The state change
                # raises UpdateFinishedTrialError when another writer got there first.
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                ended += 1
                if retry:
                    requeue(study, trial.number, max_retry=MAX_RETRY)
    return ended


def _progress(trials: int, study_name: str) -> tqdm:
    """A bar that redraws on a terminal; in a log file or a pipe, one line per finished trial.

    Where nobody watches a cursor (``make demo > log``) a redraw every poll would be a line every
    two seconds; there :func:`_update` draws only when the count of finished trials moves.
    """
    if sys.stderr.isatty():
        return tqdm(total=trials, desc=study_name, unit="trial", dynamic_ncols=True)
    return tqdm(total=trials, desc=study_name, unit="trial", ncols=100, mininterval=0, miniters=1)


def _update(bar: tqdm, study: Any, task: Task) -> None:
    counts = state_counts(study)
    best = best_trial(study)
    best_text = task.format_value(error_of(best)) if best else "-"
    bar.set_postfix(running=counts["RUNNING"], failed=counts["FAIL"], best=best_text, refresh=False)
    moved = min(finished_count(counts), bar.total) - bar.n
    if moved > 0:
        bar.update(moved)  # draws the line (off a terminal: the only time a line is written)
    elif sys.stderr.isatty():
        bar.refresh()


SECOND_NAMES = {"params": "parameters", "seconds": "training seconds"}


def _second(objective: str, value: float) -> str:
    return f"{int(value):,} parameters" if objective == "params" else f"{value:.1f} s of training"


def failure_lines(study: Any, shown: int = 3) -> list[str]:
    """The failed trials grouped by reason, most frequent first: ``2 failed (#3, #4): ValueError: ...``."""
    groups: dict[str, list[int]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if t.user_attrs.get(attrs.SURPLUS):
            continue  # an unrun trial past the budget (gRPC proxy): not a failure of anything
        reason = t.user_attrs.get(attrs.FAIL_REASON) or "no reason recorded (a worker that stopped without a heartbeat)"
        groups.setdefault(reason, []).append(t.number)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    lines = [
        f"{len(numbers)} failed ({', '.join(f'#{n}' for n in numbers[:5])}{', ...' if len(numbers) > 5 else ''}): {reason}"
        for reason, numbers in ordered[:shown]
    ]
    if len(ordered) > shown:
        lines.append(f"... and {sum(len(n) for _, n in ordered[shown:])} more failed trial(s) with other reasons")
    return lines


def record_lines(study: Any, task: Task) -> list[str]:
    """What ``status`` adds to the summary: which Clockwork and data made the study, and the disk
    its artifacts and the task's caches take."""
    from search.artifacts import disk_bytes, human_bytes, study_artifact_dir, study_artifact_ids

    version = study.user_attrs.get(attrs.PROJECT_VERSION) or "not recorded (a study made before versions were)"
    if attrs.DATA_FINGERPRINT not in study.user_attrs:
        data = "not recorded (a study made before fingerprints were)"
    else:
        data = study.user_attrs[attrs.DATA_FINGERPRINT] or "none (the task reads no data)"
    folder = study_artifact_dir(study)
    ids = study_artifact_ids(study)
    disk = f"disk: artifacts {human_bytes(disk_bytes([folder / i for i in ids]))} ({len(ids)} files in {folder})"
    for cache in task.cache_dirs():
        disk += f"; resize cache {human_bytes(disk_bytes([cache]))} ({cache}, shared by the studies on this data)"
    lines = [f"created by Clockwork {version}; data {data}", disk]
    if study.user_attrs.get(attrs.LOG_DIR):
        lines.append(f"worker logs: {study.user_attrs[attrs.LOG_DIR]} (the last launch's, on the machine that launched it)")
    return lines


def print_summary(study: Any, task: Task | None = None) -> None:
    """States, the best trial, the enqueued trials (reference, seeds) and the best sampled one beside
    it, the best config, and what the task adds (the clock: where its test photos are)."""
    task = task or task_of_study(study)
    counts = state_counts(study)
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no trials"
    print(f"study {study.study_name}: {states}")
    for line in [*failure_lines(study), *restart_lines(study)]:
        print(line)
    best = best_trial(study)
    if best is None:
        print("no completed trial yet")
        return
    attrs_ = best.user_attrs
    print(
        f"best trial #{best.number}: validation error {task.format_value(error_of(best))}, {task.test_line(attrs_)}, "
        f"{attrs_.get(attrs.EPOCHS)} epochs, {attrs_.get(attrs.PARAM_COUNT)} parameters"
    )
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    reference = [t for t in complete if t.user_attrs.get(attrs.REFERENCE)]
    if reference and reference[0].number != best.number:
        print(f"reference network (trial #{reference[0].number}): validation error {task.format_value(error_of(reference[0]))}")
    elif not reference:  # pruned: as far as it got
        cut = [
            t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
            if t.user_attrs.get(attrs.REFERENCE) and t.user_attrs.get(attrs.VAL_ERROR) is not None
        ]
        if cut:
            print(
                f"reference network (trial #{cut[0].number}, pruned after {cut[0].user_attrs.get(attrs.EPOCHS)} epochs): "
                f"validation error {task.format_value(cut[0].user_attrs[attrs.VAL_ERROR])}"
            )
    for seed in (t for t in complete if t.user_attrs.get(attrs.SEED) and t.number != best.number):
        print(f"seed (trial #{seed.number}): validation error {task.format_value(error_of(seed))}, {task.test_line(seed.user_attrs)}")
    sampled = [t for t in complete if not (t.user_attrs.get(attrs.REFERENCE) or t.user_attrs.get(attrs.SEED))]
    if sampled and best not in sampled:
        top = min(sampled, key=error_of)
        print(f"best sampled trial #{top.number}: validation error {task.format_value(error_of(top))}, {task.test_line(top.user_attrs)}")
    elif not sampled:  # every sampled trial was pruned: the best of them, as far as it got
        pruned = [
            t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
            if t.user_attrs.get(attrs.VAL_ERROR) is not None and not t.user_attrs.get(attrs.REFERENCE)
        ]
        if pruned:
            top = min(pruned, key=lambda t: t.user_attrs[attrs.VAL_ERROR])
            print(
                f"best sampled trial #{top.number} (pruned after {top.user_attrs.get(attrs.EPOCHS)} epochs): "
                f"validation error {task.format_value(top.user_attrs[attrs.VAL_ERROR])}, {task.test_line(top.user_attrs)}"
            )
        elif any(t.user_attrs.get(attrs.ENDED_BY) == "deadline" for t in complete):
            # a short search on few cores: the enqueued trials trained until --timeout
            print("no sampled trial finished: the enqueued trials trained until the deadline; a longer --timeout gives the search room")
    print("config:", json.dumps(attrs_.get(attrs.CONFIG), sort_keys=True))
    objectives = objectives_of(study)
    if len(objectives) > 1:
        front = pareto_front(study)
        print(f"Pareto front (validation error, {SECOND_NAMES[objectives[1]]}), {len(front)} trial(s):")
        for t in front:
            print(f"  #{t.number}: {task.format_value(t.values[0])}, {_second(objectives[1], t.values[1])}; {task.test_line(t.user_attrs)}")
    for line in task.summary_notes(study, best):
        print(line)
