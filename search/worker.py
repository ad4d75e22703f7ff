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
from search.pins import PinnedTrial
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

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_worker(url: str, study_name: str, trials: int, pins: dict[str, Any], threads: int | None = None) -> int:
    """Run trials of ``study_name`` until it has ``trials`` finished ones; return how many this ran.

    SIGTERM ends the running trial as FAIL (Optuna records it) and stops the worker.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)
    study = open_study(url, study_name)
    family = family_of(study)
    defaults = family.budget_defaults()
    epochs = int(pins.get("epochs", defaults["epochs"]))
    study.pruner = make_pruner(study.user_attrs.get("pruner", family.pruner), epochs)
    study.sampler = make_sampler()

    if threads:
        set_threads(threads)
    from search.data import data_key, prepare  # imports numpy-only code; data once per worker
    from search.objective import Objective

    probe = family.full_config(family.reference, pins, seed=0)
    splits = prepare(probe)
    objective = Objective(family, pins, splits, data_key(probe), versions(), _worker_id())

    ran = failures = 0
    while True:
        lock = contextlib.ExitStack()
        lock.enter_context(budget_lock(url, study_name))
        try:
            counts = state_counts(study)
            finished, pending = finished_count(counts), counts["RUNNING"] + counts["WAITING"]
            if finished >= trials:
                log.info("study %s has %d finished trials (budget %d): worker done", study_name, finished, trials)
                return ran
            if counts["WAITING"] == 0 and finished + pending >= trials:
                lock.close()
                # The budget is taken by running trials; one of them may still fail and free a slot.
                with contextlib.suppress(Exception):
                    optuna.storages.fail_stale_trials(study)
                time.sleep(POLL_SECONDS)
                continue
            objective.release_on_start = lock
            study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
        finally:
            lock.close()
        ran += 1
        failures = failures + 1 if objective.last_failure else 0
        if failures >= MAX_CONSECUTIVE_FAILURES:
            raise UserError(f"{failures} trials in a row failed; the last: {objective.last_failure}")


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
