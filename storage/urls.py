"""Storage URLs: which Optuna storage a URL names, and opening it with the service's settings.

Supported:
- ``sqlite:///path/to/file.db`` (the default: ``runs/clockwork.db`` under the working directory,
  or ``$CLOCKWORK_STORAGE``);
- ``postgresql+psycopg://user@host/db``, ``mysql+pymysql://user@host/db`` and other SQLAlchemy URLs;
- a path ending in ``.log``: Optuna's journal file storage, for one machine without a database.

Everything returned is a stock Optuna storage, so ``optuna`` and ``optuna-dashboard`` read it too.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path

import optuna

# Heartbeats and their retry callback have been "experimental" since Optuna 2.8; the service
# relies on them deliberately, so the warning would only be noise in every worker's log.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

ENV_VAR = "CLOCKWORK_STORAGE"
DEFAULT_PATH = Path("runs") / "clockwork.db"
HEARTBEAT_ENV = "CLOCKWORK_HEARTBEAT_SECONDS"
HEARTBEAT_INTERVAL = 20  # a worker's running trial says "alive" this often...
GRACE_PERIOD_FACTOR = 3  # ...and is declared dead after this many silent intervals
MAX_RETRY = 2


class StorageError(Exception):
    """A storage URL that is malformed, unsupported or unreachable."""


def default_url() -> str:
    """``$CLOCKWORK_STORAGE`` if set, else the SQLite file ``runs/clockwork.db``."""
    return os.environ.get(ENV_VAR) or f"sqlite:///{DEFAULT_PATH.resolve()}"


def kind_of(url: str) -> str:
    """One of ``sqlite``, ``rdb``, ``journal``; raise :class:`StorageError` for anything else."""
    if url.endswith(".log") and "://" not in url:
        return "journal"
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise StorageError(
            f"storage URL {url!r} is not understood; use sqlite:///FILE.db, "
            "postgresql+psycopg://USER@HOST/DB, mysql+pymysql://USER@HOST/DB or a FILE.log path"
        )
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StorageError(f"storage URL {url!r}: a SQLite URL is sqlite:///relative.db or sqlite:////absolute.db")
        return "sqlite"
    if scheme.split("+")[0] in ("postgresql", "mysql", "mariadb"):
        return "rdb"
    raise StorageError(f"storage URL {url!r}: unsupported scheme {scheme!r} (sqlite, postgresql, mysql, or a .log journal file)")


def sqlite_path(url: str) -> Path:
    return Path(url.partition(":///")[2])


def open_storage(url: str, *, heartbeat: bool = True, create: bool = True) -> optuna.storages.BaseStorage:
    """Open the storage ``url`` names, creating a SQLite file or journal if ``create``.

    Commands that only read (status, export, dashboard) pass ``create=False``, so a mistyped
    path is an error instead of a new empty database.

    Database storages get heartbeats: a worker that dies mid-trial leaves a trial that turns FAIL
    after three silent heartbeat intervals (``$CLOCKWORK_HEARTBEAT_SECONDS``, default 20) and is
    queued again, at most ``MAX_RETRY`` times.
    """
    kind = kind_of(url)
    if not create and kind in ("sqlite", "journal"):
        path = sqlite_path(url) if kind == "sqlite" else Path(url)
        if not path.is_file():
            raise StorageError(f"no storage at {path}: start a study there first (python -m search launch FAMILY)")
    if kind == "journal":
        path = Path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    engine_kwargs: dict = {"pool_pre_ping": True}
    if kind == "sqlite":
        path = sqlite_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _enable_wal(path)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open SQLite file {path}: {exc}") from exc
        # Many workers write one file: wait for the lock rather than fail at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    heartbeat_kwargs: dict = {}
    if heartbeat:
        interval = int(os.environ.get(HEARTBEAT_ENV) or HEARTBEAT_INTERVAL)
        heartbeat_kwargs = {
            "heartbeat_interval": interval,
            "grace_period": GRACE_PERIOD_FACTOR * interval,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRY
            ),
        }
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat_kwargs)
    except ImportError as exc:
        raise StorageError(f"storage URL {url!r} needs a database driver that is not installed: {exc}") from exc
    except Exception as exc:  # SQLAlchemy raises many kinds; all mean "cannot use this URL"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {url!r}: {first_line}") from exc


def _enable_wal(path: Path) -> None:
    """Write-ahead logging lets readers (status, dashboard) work while workers write."""
    if path.exists() and not os.access(path, os.W_OK):
        raise StorageError(f"SQLite file {path} is read-only")
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
