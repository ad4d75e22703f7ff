"""A lock that makes "start a trial only while the budget allows" atomic across workers.

Optuna's ``MaxTrialsCallback`` checks the count after a trial ends, so N workers overshoot a
budget by up to N. Workers instead take this lock, count finished plus running trials, and create
the next trial before letting go. The lock lives where the study lives: a file lock next to a
SQLite or journal file (all workers on one machine), an advisory lock inside PostgreSQL or MySQL
(workers on many machines).
"""

from __future__ import annotations

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from pathlib import Path

from storage.urls import kind_of, sqlite_path


@contextlib.contextmanager
def budget_lock(url: str, study_name: str) -> Iterator[None]:
    kind = kind_of(url)
    if kind in ("sqlite", "journal"):
        target = sqlite_path(url) if kind == "sqlite" else Path(url)
        lock_path = target.with_name(target.name + ".budget.lock")
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    yield from _database_lock(url, study_name)


def _database_lock(url: str, study_name: str) -> Iterator[None]:
    import sqlalchemy

    key = zlib.crc32(f"clockwork:{study_name}".encode())
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                release = "SELECT pg_advisory_unlock(:k)"
            else:
                conn.execute(sqlalchemy.text("SELECT GET_LOCK(:k, 600)"), {"k": str(key)})
                release = "SELECT RELEASE_LOCK(:k)"
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text(release), {"k": key if engine.dialect.name == "postgresql" else str(key)})
    finally:
        engine.dispose()
