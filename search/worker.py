"""One worker process: load the data once, then run trials until the study's budget is met.

The budget counts finished trials (COMPLETE + PRUNED) of the whole study, over every worker and
every launch. A worker starts a trial only under the storage's budget lock, after counting
finished plus running trials, so N workers never overshoot it; failed trials do not count, so a
crashed or diverged trial is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import signal
import socket
import time
from importlib import metadata
from typing import Any

import optuna

from search.errors import UserError
from search.study import family_of, finished_count, make_pruner, make_sampler, open_study, state_counts
from storage import budget_lock

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
MAX_CONSECUTIVE_FAILURES = 5


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist, key in (("tensorflow-cpu", "tensorflow"), ("tensorflow", "tensorflow"), ("keras", "keras"), ("optuna", "optuna")):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.setdefault(key, metadata.version(dist))
    return out


def set_threads(threads: int) -> None:
    """Give this worker ``threads`` CPU threads, so N workers share the cores instead of fighting."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # TensorFlow already ran in this process (a worker started from Python, not the CLI):
        # its thread pools are fixed now.
        log.warning("TensorFlow is already initialised in this process; keeping its thread count")


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def make_objective(family: Any, pins: dict[str, Any], versions: dict[str, str], worker: str) -> Any:
    """The objective for ``family``'s task, with its data loaded before the first trial."""
    if family.task == "smoke":
        from search.smoke import SmokeObjective  # no TensorFlow: for load and smoke tests

        return SmokeObjective(family, pins, worker)
    from search.data import DataCache
    from search.objective import Objective  # imports Keras: only workers pay for it

    data = DataCache()
    data.get(family.full_config(family.reference, pins, seed=0))  # fail fast, and load once
    return Objective(family, pins, data, versions, worker)


class Worker:
    """A study opened and its data loaded, ready to run trials until a budget is met."""

    def __init__(self, url: str, study_name: str, pins: dict[str, Any], threads: int | None = None) -> None:
        self.url = url
        self.study = open_study(url, study_name)
        family = family_of(self.study)
        epochs = int(pins.get("epochs", family.budget_defaults()["epochs"]))
        self.study.pruner = make_pruner(self.study.user_attrs.get("pruner", family.pruner), epochs)
        self.study.sampler = make_sampler()
        if threads:
            set_threads(threads)
        self.objective = make_objective(family, pins, versions(), _worker_id())

    def run(self, trials: int) -> int:
        """Run trials until the study has ``trials`` finished ones; return how many this ran."""
        study, name = self.study, self.study.study_name
        ran = failures = 0
        while True:
            lock = contextlib.ExitStack()
            lock.enter_context(budget_lock(self.url, name))
            try:
                counts = state_counts(study)
                finished, pending = finished_count(counts), counts["RUNNING"] + counts["WAITING"]
                if finished >= trials:
                    log.info("study %s has %d finished trials (budget %d): worker done", name, finished, trials)
                    return ran
                if counts["WAITING"] == 0 and finished + pending >= trials:
                    lock.close()
                    # Running trials hold the rest of the budget; one may still fail and free a slot.
                    optuna.storages.fail_stale_trials(study)  # a no-op without heartbeats
                    time.sleep(POLL_SECONDS)
                    continue
                self.objective.release_on_start = lock
                study.optimize(self.objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
            finally:
                lock.close()
            ran += 1
            failures = failures + 1 if self.objective.last_failure else 0
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise UserError(f"{failures} trials in a row failed; the last: {self.objective.last_failure}")


def run_worker(url: str, study_name: str, trials: int, pins: dict[str, Any], threads: int | None = None) -> int:
    """Run one worker until ``study_name`` has ``trials`` finished trials.

    SIGTERM ends the running trial as FAIL (Optuna records it) and stops the worker.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)
    return Worker(url, study_name, pins, threads).run(trials)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
