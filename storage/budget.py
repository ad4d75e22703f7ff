"""Making "start a trial only while the budget allows" hold across workers.

Optuna's ``MaxTrialsCallback`` checks the count after a trial ends, so N workers overshoot a
budget by up to N. Workers instead take :func:`budget_lock`, count finished plus running trials,
and create the next trial before letting go. The lock lives where the study lives: a file lock
next to a SQLite or journal file (all workers on one machine), an advisory lock inside PostgreSQL
or MySQL, a Redis lock beside a Redis journal (workers on many machines).

Behind the gRPC proxy (``grpc://``) workers reach neither a file nor the database, and the proxy's
protocol has no lock. There the check is optimistic instead, see :func:`over_budget`: every worker
creates its trial without a lock, then the trial proceeds only if it is within the budget when
counted in trial-number order.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import zlib
from collections.abc import Iterator

import optuna
from optuna.trial import TrialState

from storage.urls import Location, redis_parts

REDIS_LOCK_SECONDS = 60  # a Redis lock of a worker that died expires after this long


@contextlib.contextmanager
def budget_lock(where: Location, study_name: str) -> Iterator[None]:
    """Hold the study's budget lock (a no-op for ``grpc://``, which uses :func:`over_budget`)."""
    if where.lock == "file":
        lock_path = where.file.with_name(where.file.name + ".budget.lock")
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, however the block ends
            yield
    elif where.lock == "database":
        with _database_lock(where.url, study_name):
            yield
    elif where.lock == "redis":
        with _redis_lock(where.url, study_name):
            yield
    else:
        yield


def over_budget(study: optuna.Study, number: int, budget: int) -> bool:
    """Whether the just-created trial ``number`` must end unrun to keep the study within ``budget``.

    The trial may proceed only if ``finished + waiting + running trials with a smaller number``
    is below the budget. Why this never overshoots: Optuna numbers trials in the order their
    creation commits (the study row is locked while a trial is created), so when trial ``n``
    checks, every trial with a smaller number already exists and is seen as finished, waiting or
    running unless it failed. Suppose B + 1 trials finished; the one among them with the largest
    number saw the other B (none of them had failed, since FAIL is final) and so did not proceed:
    contradiction. Why it does not stall: the running trial with the smallest number sees no
    smaller running trial, so it proceeds whenever ``finished + waiting`` leaves room. A trial
    that loses this race is a *surplus* trial: it ends FAIL, with the user attribute
    ``budget_surplus`` set and ``fail_reason`` saying so; failed trials never count, so nothing
    is lost, and the worker goes back to waiting for a free slot.
    """
    finished = waiting = running_before = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            finished += 1
        elif trial.state == TrialState.WAITING:
            waiting += 1
        elif trial.state == TrialState.RUNNING and trial.number < number:
            running_before += 1
    return finished + waiting + running_before >= budget


@functools.cache
def _engine(url: str):  # one small pool per process: a lock per trial should not cost a new connection
    import sqlalchemy

    return sqlalchemy.create_engine(url, pool_size=1, max_overflow=2, pool_pre_ping=True)


@contextlib.contextmanager
def _database_lock(url: str, study_name: str) -> Iterator[None]:
    import sqlalchemy

    key = zlib.crc32(f"clockwork:{study_name}".encode())
    engine = _engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            release, arg = "SELECT pg_advisory_unlock(:k)", key
        else:
            # GET_LOCK returns 0 when its wait times out: ask again rather than go on unlocked.
            while (got := conn.execute(sqlalchemy.text("SELECT GET_LOCK(:k, 60)"), {"k": str(key)}).scalar()) != 1:
                if got is None:
                    raise RuntimeError("MySQL GET_LOCK failed")
            release, arg = "SELECT RELEASE_LOCK(:k)", str(key)
        try:
            yield
        finally:
            try:
                conn.execute(sqlalchemy.text(release), {"k": arg})
                conn.commit()
            except Exception:
                conn.invalidate()  # closing the session drops its locks on the server
                raise


@contextlib.contextmanager
def _redis_lock(url: str, study_name: str) -> Iterator[None]:
    import redis

    redis_url, prefix = redis_parts(url)
    client = redis.Redis.from_url(redis_url)
    lock = client.lock(f"{prefix}:clockwork:budget:{study_name}", timeout=REDIS_LOCK_SECONDS, sleep=0.01)
    try:
        lock.acquire(blocking=True)
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError):  # expired: another worker has it now
                lock.release()
    finally:
        client.close()
