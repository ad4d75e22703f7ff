"""One worker process: load the data once, then run trials until the study's budget is met.

The budget counts finished trials (COMPLETE + PRUNED) of the whole study, over every worker and
every launch. A worker starts a trial only under the storage's budget lock, after counting
finished plus running trials, so N workers never overshoot it; failed trials do not count, so a
crashed or diverged trial is replaced. Behind the gRPC proxy no lock reaches the workers: there a
new trial proceeds only if :func:`storage.over_budget` allows it (see its docstring).

Signals: SIGTERM and SIGINT end a running trial as FAIL (Optuna records the interrupted objective)
and stop the worker. Outside a trial (while Optuna creates or finishes one) the signal is held
until that storage write is done, so a stopped worker never leaves a RUNNING trial behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import platform
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.checkpoints import requeue
from search.cluster import NODE_ENV, PARENT_ENV
from search.errors import UserError
from search.objective import Objective
from search.pins import check_pins
from search.study import (
    RECORDED,
    REPEATED_FAILURES,
    family_of,
    finished_count,
    kept_budget,
    make_pruner,
    objectives_of,
    open_study,
    repeated_failure,
    state_counts,
    worker_sampler,
)
from search.tasks import task_of
from storage import Location, attrs, budget_lock, over_budget, parse_location
from storage.urls import MAX_RETRY, heartbeat_interval

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
MAX_CONSECUTIVE_FAILURES = 5
# Before the search's deadline (``until``), a trial's training ends this many seconds early, to test
# and record the trial: the demo's clock trials (40 px) spent 4-14 s outside their epochs (model
# built, test photos read four ways, artifacts) on a quick day; 64 px and a slow day cost more.
# And no trial starts in the last LAST_START_SECONDS. Both are at most a tenth of the time the
# worker had (a search of 12 s still runs trials).
DEADLINE_RESERVE = 30.0
LAST_START_SECONDS = 60.0


def yielding_trial(
    trials: Sequence[FrozenTrial], budget: int, minimize: bool = True, own: tuple[int, float] | None = None
) -> tuple[int, int | None]:
    """(how many trials the budget still needs that no worker has started, the running trial that
    leaves time for them). That one is the running trial of worst best value so far (a trial yet
    to report one counts as worst; among equals, the later), so the trial that shows most promise
    keeps its time: on a slow evening the demo's reference network was still at chance (179 min)
    after 5 epochs while its seed had reached 77 min. ``own`` = (number, value): a running trial's
    value this epoch, which it has not reported yet when it asks."""
    finished = finished_count(Counter(t.state.name for t in trials))
    running = [t for t in trials if t.state == TrialState.RUNNING]
    later = budget - finished - len(running)
    if later <= 0 or not running:
        return max(0, later), None

    def worst(t: FrozenTrial) -> tuple[float, int]:
        values = list(t.intermediate_values.values())
        if own is not None and t.number == own[0] and math.isfinite(own[1]):
            values.append(own[1])
        if not values:
            return math.inf, t.number
        return (min(values) if minimize else -max(values)), t.number

    return later, max(running, key=worst).number


def last_start(span: float) -> float:
    """Seconds before the deadline after which no trial starts, for a worker that had ``span``."""
    return min(LAST_START_SECONDS, span / 10)


def keras_backend() -> str:
    """The Keras backend this process trains with (``$KERAS_BACKEND``, else Keras' own config),
    read without importing Keras' backend libraries."""
    import keras

    return keras.backend.backend()


def versions(backend: str | None = None) -> dict[str, str]:
    """Python, Keras, its backend (name and version) and Optuna, as every trial records them."""
    out = {"python": platform.python_version()}
    if backend is not None:
        out["keras_backend"] = backend
    dists = [("keras", "keras"), ("optuna", "optuna")]
    if backend in (None, "tensorflow"):
        dists = [("tensorflow-cpu", "tensorflow"), ("tensorflow", "tensorflow"), *dists]
    elif backend == "jax":
        dists = [("jax", "jax"), ("jaxlib", "jaxlib"), *dists]
    elif backend == "torch":
        dists = [("torch", "torch"), *dists]
    for dist, key in dists:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.setdefault(key, metadata.version(dist))
    return out


def set_threads(threads: int, index: int = 0, backend: str = "tensorflow") -> None:
    """Give this worker ``threads`` CPU threads, so N workers share the cores instead of fighting.

    TensorFlow and PyTorch take a thread count (TensorFlow is imported only under its backend).
    JAX has no setting that holds (XLA starts its own pools), so a JAX worker is pinned to
    ``threads`` cores of its own, the ``index``-th slice of the cores this process may use.
    """
    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            # TensorFlow already ran in this process (a worker started from Python, not the CLI):
            # its thread pools are fixed now.
            log.warning("TensorFlow is already initialised in this process; keeping its thread count")
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # settable once, before any parallel work
            torch.set_num_interop_threads(threads)
    elif hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        start = (index * threads) % len(cores)
        mine = set((cores * 2)[start : start + min(threads, len(cores))])
        os.sched_setaffinity(0, mine)
        log.info("%s backend: this worker runs on cores %s", backend, sorted(mine))


class _Interrupts:
    """SIGTERM/SIGINT as one KeyboardInterrupt: inside a trial at once, else at the next safe point.

    "At once" waits for a storage write in progress to end (polled every 50 ms with SIGALRM): an
    interrupted write could leave a journal file's lock or half a record behind. Only the first
    signal raises; later ones (Ctrl-C and the launcher's SIGTERM both arrive) must not hit the
    clean-up of the first.
    """

    STORAGE_CODE = tuple(f"{os.sep}{part}{os.sep}" for part in (f"optuna{os.sep}storages", "sqlalchemy", "redis", "grpc"))

    def __init__(self) -> None:
        self.in_trial = False
        self.pending: int | None = None
        self.raised = False

    def handle(self, signum: int, frame: Any) -> None:
        if signum != signal.SIGALRM:
            self.pending = self.pending or signum
        if self.pending is None or self.raised or not self.in_trial:
            return
        if self._in_storage_write(frame):
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # ask again when the write is done
            return
        self.raised = True
        raise KeyboardInterrupt(f"signal {self.pending}")

    def check(self) -> None:
        if self.pending is not None:
            self.raised = True
            raise KeyboardInterrupt(f"signal {self.pending}")

    def _in_storage_write(self, frame: Any) -> bool:
        while frame is not None:
            if any(part in frame.f_code.co_filename for part in self.STORAGE_CODE):
                return True
            frame = frame.f_back
        return False


class RepeatedFailure(UserError):
    """The study's last trials all failed with one error: more trials of this config would too."""

    exit_code = 3  # `python -m search worker` exits with it; the launcher then stops every worker


class Lease:
    """Journals have no heartbeats: a running trial's worker renews ``lease_until`` instead, every
    heartbeat interval, for three intervals ahead. Any worker of the study that finds a RUNNING
    trial whose lease ran out (its worker died) ends it FAIL and queues it again
    (:func:`expire_leases`), so a worker started by hand that dies leaves nothing RUNNING forever.
    """

    def __init__(self, study: optuna.Study, trial: optuna.Trial, interval: float) -> None:
        self.study, self.trial_id, self.interval = study, trial._trial_id, interval
        self._stop = threading.Event()
        self._renew()
        self._thread = threading.Thread(target=self._run, name="clockwork-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        self.study._storage.set_trial_user_attr(self.trial_id, attrs.LEASE_UNTIL, time.time() + 3 * self.interval)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._renew()
            except Exception as exc:  # noqa: BLE001 - the trial may have just ended; never kill the worker
                log.debug("lease not renewed: %s", exc)
                return

    def end(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def expire_leases(study: optuna.Study) -> int:
    """End FAIL and queue again the RUNNING trials whose lease ran out; return how many."""
    from optuna.exceptions import UpdateFinishedTrialError

    ended = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        until = trial.user_attrs.get(attrs.LEASE_UNTIL)
        if until is None or until > time.time():
            continue
        with contextlib.suppress(UpdateFinishedTrialError):
            study._storage.set_trial_user_attr(trial._trial_id, attrs.FAIL_REASON, "its worker stopped renewing its lease (it died)")
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            requeue(study, trial.number, max_retry=MAX_RETRY)
            ended += 1
            log.warning("trial %d: its worker's lease ran out; ended FAIL and queued again", trial.number)
    return ended


class BudgetSurplus(Exception):
    """A trial created past the budget behind the gRPC proxy: ended unrun, never counted."""


class _NoSurplusTraceback(logging.Filter):
    """Optuna logs a failed trial with its traceback; a surplus trial is expected: its message is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], BudgetSurplus):
            record.exc_info = record.exc_text = None
        return True


_NO_SURPLUS_TRACEBACK = _NoSurplusTraceback()


class Worker:
    """A study opened and its data loaded, ready to run trials until a budget is met.

    The worker owns the budget lock: it holds it while Optuna creates a trial and lets go as soon
    as the trial exists (other workers may count it then), before the objective runs.
    """

    def __init__(
        self,
        where: str | Location,
        study_name: str,
        pins: dict[str, Any],
        interrupts: _Interrupts | None = None,
        threads: int | None = None,
        index: int = 0,
        until: float | None = None,
        span: float | None = None,
    ) -> None:
        self.where = where = parse_location(where)
        self.until = until
        # The reserves are sized by the time the search had (a replacement worker started late
        # keeps its search's), else by the time left now.
        if span is None:
            span = max(0.0, until - time.time()) if until is not None else 0.0
        self.last_start = last_start(span)
        self.study = study = open_study(where, study_name)  # as a worker: a read-only file fails here
        self.interrupts = interrupts or _Interrupts()
        self.optimistic = where.lock == "optimistic"  # no lock reaches the workers: check each trial
        family = family_of(study)
        check_pins(family, pins)
        pins = {**kept_budget(study), **pins}  # the budget the study was created with, unless pinned
        task = task_of(family)
        epochs = int(pins.get("epochs", family.budget_defaults()["epochs"]))
        objectives = objectives_of(study)
        pruner = study.user_attrs.get(attrs.PRUNER, family.pruner) if len(objectives) == 1 else "none"
        study.pruner = make_pruner(pruner, epochs, family.min_epochs, family.at_chance)
        study.sampler = worker_sampler(study, index)
        backend = keras_backend() if task.trains else None
        if threads and task.trains:  # a task that trains nothing never imports TensorFlow
            set_threads(threads, index, backend)
        self.worker_id = _worker_id()
        self.gpu = os.environ.get("CUDA_VISIBLE_DEVICES") or None  # set per worker by the launcher, or by Ray
        self.node = os.environ.get(NODE_ENV)  # the Ray node, on a cluster
        for key, before in RECORDED.items():
            if key in family.budget_defaults() and key not in pins:
                # a clock study reads photos and builds its models as it did when it was created
                pins = {**pins, key: study.user_attrs.get(key, before)}
        scoring = study.user_attrs.get(attrs.SCORING, attrs.LAST_EPOCH_SCORING)
        self.objective = Objective(task, family, pins, versions(backend), scoring, objectives)
        self.reserve = min(DEADLINE_RESERVE, span / 10)
        self.objective.until = until - self.reserve if until is not None else None
        if until is not None:
            self.objective.room = self.room
        if task.trains:
            self.objective.data.get(family.full_config(family.reference, pins, seed=0))  # fail fast, and load once
        self.budget = 0
        self.surplus = False
        self.current: int | None = None  # the number of the trial running now
        self._lock = contextlib.ExitStack()

    def _guarded(self, trial: optuna.Trial) -> float:
        """The objective, behind the gRPC budget check and with signals raised at once."""
        self._lock.close()  # the trial exists: other workers may count it now
        trial.set_user_attr(attrs.WORKER, self.worker_id)  # the launcher's sweep finds a stopped worker's trials
        if self.gpu is not None:
            trial.set_user_attr(attrs.GPU, self.gpu)
        if self.node is not None:
            trial.set_user_attr(attrs.NODE, self.node)
        if self.optimistic and over_budget(self.study, trial.number, self.budget):
            self.surplus = True
            reason = f"surplus: the budget of {self.budget} finished trials was already taken by earlier trials"
            trial.set_user_attr(attrs.SURPLUS, True)
            trial.set_user_attr(attrs.FAIL_REASON, reason)
            raise BudgetSurplus(reason)
        self.interrupts.in_trial = True
        self.current = trial.number
        lease = None if self.where.heartbeats else Lease(self.study, trial, heartbeat_interval())
        try:
            self.interrupts.check()
            return self.objective(trial)
        finally:
            self.interrupts.in_trial = False
            if lease is not None:
                lease.end()

    def run(self, trials: int) -> int:
        """Run trials until the study has ``trials`` finished ones; return how many this ran."""
        study, name = self.study, self.study.study_name
        ran = failures = 0
        self.budget = trials
        while True:
            self.interrupts.check()
            self._lock = contextlib.ExitStack()
            self._lock.enter_context(budget_lock(self.where, name))
            try:
                self.interrupts.check()  # a signal that came while waiting for the lock: create nothing
                if not self.where.heartbeats:
                    expire_leases(study)  # a journal's dead workers' trials
                counts = state_counts(study)
                finished, pending = finished_count(counts), counts["RUNNING"] + counts["WAITING"]
                if finished >= trials:
                    log.info("study %s has %d finished trials (budget %d): worker done", name, finished, trials)
                    return ran
                if self.until is not None and time.time() > self.until - self.last_start:
                    log.info("the search's time is up (%d s left): worker done, no new trial", max(0, self.until - time.time()))
                    return ran
                if self.first_epoch_would_cross():
                    log.info(
                        "the search has %d s left, less than this worker's longest epoch (%d s) and the reserve to test "
                        "a trial (%d s): worker done, no new trial",
                        max(0, self.until - time.time()), self.objective.longest_epoch, self.until - self.objective.until,
                    )
                    return ran
                if counts["WAITING"] == 0 and finished + pending >= trials:
                    self._lock.close()
                    # Running trials hold the rest of the budget; one may still fail and free a slot.
                    optuna.storages.fail_stale_trials(study)  # a no-op without heartbeats
                    self._sleep(POLL_SECONDS)
                    continue
                self.surplus = False
                self.current = None
                try:
                    study.optimize(self._guarded, n_trials=1, catch=(Exception,), gc_after_trial=False)
                except KeyboardInterrupt:
                    if self.current is not None and self.objective.task.trains:
                        requeue(study, self.current)  # stopped, not failed: a later worker continues it
                    raise
            finally:
                self._lock.close()
            if self.surplus:
                continue
            ran += 1
            failures = failures + 1 if self.objective.last_failure else 0
            error = repeated_failure(study) if failures else None
            if error:
                raise RepeatedFailure(f"{REPEATED_FAILURES} trials in a row failed with the same error, so the search stopped: {error}")
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise UserError(f"{failures} trials in a row failed; the last: {self.objective.last_failure}")

    def room(
        self, number: int, started: float, setup: float, longest: float, tail: float, value: float = math.nan
    ) -> float:
        """Seconds before its training deadline that trial ``number``, running here since
        ``started`` (``time.time()``), leaves for the trials the budget still needs, when it is the
        running trial to yield (:func:`yielding_trial`, with ``value``, this epoch's, not yet
        reported) and they all fit: each needs a model built (``setup``, as this trial's), one
        epoch (``longest``) and a test (``finish``, as this worker's slowest so far, else the
        reserve and ``tail``). ``--trials 4 --timeout 470`` then runs 4 trials on a machine whose
        epochs leave the enqueued ones no time to spare, instead of ending at 2. A budget the
        deadline cannot hold (a thousand trials in an hour) leaves no room: its trials train on to
        the deadline."""
        until = self.objective.until
        trials = self.study.get_trials(deepcopy=False)
        minimize = self.study.directions[0] == optuna.study.StudyDirection.MINIMIZE
        later, worst = yielding_trial(trials, self.budget, minimize, (number, value))
        if worst != number or until is None:
            return 0.0
        finish = self.objective.finish or self.reserve + tail
        need = later * (setup + longest + finish)
        first_epoch_end = started + setup + longest + tail
        return need if first_epoch_end + need <= until else 0.0

    def first_epoch_would_cross(self) -> bool:
        """Whether a trial started now would, at the pace of the longest epoch this worker has run,
        finish its first epoch past the time its training must be over by. No epoch of a running
        trial crosses it, but a trial's first epoch has no pace to go by: in a 2-hour clock search a
        trial that started 185 s before the deadline, after this worker's epochs of about 190 s, was
        still in its first epoch when the launcher stopped its worker 30 s past the deadline, and
        the search ended stopped (a trial queued again) instead of at its time limit."""
        until = self.objective.until
        return until is not None and time.time() + self.objective.longest_epoch > until

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake for a signal at once: nothing is being written to the storage meanwhile."""
        self.interrupts.in_trial = True
        try:
            self.interrupts.check()
            time.sleep(seconds)
        finally:
            self.interrupts.in_trial = False


def run_worker(
    url: str | Location,
    study_name: str,
    trials: int,
    pins: dict[str, Any],
    threads: int | None = None,
    index: int = 0,
    until: float | None = None,
    span: float | None = None,
) -> int:
    """Run one worker until ``study_name`` has ``trials`` finished trials, or until ``until``
    (``time.time()`` seconds): then no trial starts, and a running one ends its training before an
    epoch that would cross it, scored by its best epoch. ``span``, the seconds the whole search
    had, sizes those reserves (default: the time left when the worker starts).

    SIGTERM ends the running trial as FAIL (Optuna records it) and stops the worker.
    """
    interrupts = _Interrupts()
    previous = {sig: signal.signal(sig, interrupts.handle) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)}
    optimize_log = logging.getLogger("optuna.study._optimize")
    optimize_log.addFilter(_NO_SURPLUS_TRACEBACK)
    try:
        interrupts.in_trial = True  # until the first trial, a signal stops loading at once
        try:
            worker = Worker(url, study_name, pins, interrupts, threads, index, until, span)
        finally:
            interrupts.in_trial = False
        return worker.run(trials)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        optimize_log.removeFilter(_NO_SURPLUS_TRACEBACK)


def check_worker(url: str | Location, study_name: str, pins: dict[str, Any], expect_data: str | None = None) -> str:
    """What every node of a cluster launch runs before any worker starts (``worker --check``):
    the code imports, the storage opens, the family and pins hold, and the data is there, the same
    data the launch saw (its fingerprint). Returns one line; a problem raises UserError."""
    study = open_study(url, study_name, heartbeat=False)
    family = family_of(study)
    check_pins(family, pins)
    task = task_of(family)
    if task.trains:
        backend = keras_backend()
        module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)
        if importlib.util.find_spec(module) is None:
            raise UserError(f"Keras' backend {backend} is not installed on {socket.gethostname()}")
    data = task.check_data(family, pins)
    if expect_data and data and data.split()[0] != expect_data.split()[0]:
        raise UserError(f"the data on {socket.gethostname()} is not the launch's: {data}, the launch saw {expect_data}")
    return f"worker check passed on {socket.gethostname()}: study {study_name} ({family.name}), data {data or 'none'}"


def watch_parent() -> None:
    """A worker started by a Ray actor (search.cluster) ends when that actor does: no worker runs
    on without its launcher. It ends as a lost node's would (SIGKILL): its trial is left for the
    launcher, or the heartbeat, to end and queue again."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(1.0)
        log.warning("the Ray actor that started this worker is gone: ending")
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
