"""Storage URLs: which Optuna storage a URL names, and opening it with the service's settings.

Supported:
- ``sqlite:///path/to/file.db`` (the default: ``runs/clockwork.db`` under the working directory,
  or ``$CLOCKWORK_STORAGE``);
- ``postgresql+psycopg://user@host/db``, ``mysql+pymysql://user@host/db`` and other SQLAlchemy
  URLs: workers on many machines share one database;
- ``grpc://host:port``: Optuna's gRPC storage proxy (``python -m search serve-storage``) in front of
  a database, so hundreds of workers share one connection pool;
- a path ending in ``.log``: Optuna's journal file, for one machine without a database;
- ``redis://host:port/db``: Optuna's journal in Redis (``?prefix=NAME`` keeps several users apart
  on one Redis server).

Everything returned is a stock Optuna storage, so ``optuna`` and ``optuna-dashboard`` read it too.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import optuna

log = logging.getLogger(__name__)

ENV_VAR = "CLOCKWORK_STORAGE"
DEFAULT_PATH = Path("runs") / "clockwork.db"
HEARTBEAT_ENV = "CLOCKWORK_HEARTBEAT_SECONDS"
HEARTBEAT_INTERVAL = 20  # a worker's running trial says "alive" this often...
GRACE_PERIOD_FACTOR = 3  # ...and is declared dead after this many silent intervals
MAX_RETRY = 2
CONNECT_TRIES = 3  # a server that does not answer is asked again after 0.5 s, then 1 s...
CONNECT_BACKOFF = 0.5

KINDS = ("sqlite", "rdb", "grpc", "journal", "redis")
_EXAMPLES = (
    "use sqlite:///FILE.db, postgresql+psycopg://USER@HOST/DB, mysql+pymysql://USER@HOST/DB, "
    "grpc://HOST:PORT, redis://HOST:PORT/DB or a FILE.log path"
)

T = TypeVar("T")


class StorageError(Exception):
    """A storage URL that is malformed, unsupported or unreachable."""


def default_url() -> str:
    """``$CLOCKWORK_STORAGE`` if set, else the SQLite file ``runs/clockwork.db``."""
    return os.environ.get(ENV_VAR) or f"sqlite:///{DEFAULT_PATH.resolve()}"


@dataclass(frozen=True)
class Location:
    """A storage URL parsed once: what kind of storage it names and what that kind can do.

    ``kind`` is one of :data:`KINDS`; ``file`` is the SQLite or journal file (None for servers).
    """

    url: str
    kind: str
    file: Path | None = None

    @property
    def heartbeats(self) -> bool:
        """Whether a dead worker's trial is found by Optuna's heartbeats (journals have none)."""
        return self.kind in ("sqlite", "rdb", "grpc")

    @property
    def lock(self) -> str:
        """How workers share the trial budget: a ``file`` lock beside the file, a ``database``
        advisory lock, a ``redis`` lock, or ``optimistic`` (the gRPC proxy, see storage.budget)."""
        return {"sqlite": "file", "journal": "file", "rdb": "database", "redis": "redis"}.get(self.kind, "optimistic")

    @property
    def is_database(self) -> bool:
        """A SQLAlchemy database (SQLite, PostgreSQL, MySQL): what the gRPC proxy can serve."""
        return self.kind in ("sqlite", "rdb")

    def __str__(self) -> str:
        return self.url


def parse_location(url: str | Location) -> Location:
    """The :class:`Location` of ``url``; raise :class:`StorageError` for anything not supported."""
    if isinstance(url, Location):
        return url
    if url.endswith(".log") and "://" not in url:
        return Location(url, "journal", Path(url))
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise StorageError(f"storage URL {url!r} is not understood; {_EXAMPLES}")
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StorageError(f"storage URL {url!r}: a SQLite URL is sqlite:///relative.db or sqlite:////absolute.db")
        return Location(url, "sqlite", Path(url.partition(":///")[2]))
    if scheme.split("+")[0] in ("postgresql", "mysql", "mariadb"):
        return Location(url, "rdb")
    if scheme == "grpc":
        grpc_address(url)
        return Location(url, "grpc")
    if scheme in ("redis", "rediss"):
        return Location(url, "redis")
    raise StorageError(
        f"storage URL {url!r}: unsupported scheme {scheme!r} (sqlite, postgresql, mysql, grpc, redis, or a .log journal file)"
    )


def grpc_address(url: str) -> tuple[str, int]:
    """``grpc://host:port`` -> ``(host, port)``; the port is required, the path must be empty."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise StorageError(
            f"storage URL {url!r}: a gRPC proxy URL is grpc://HOST:PORT (see python -m search serve-storage)"
        )
    return parts.hostname, port


def redis_parts(url: str) -> tuple[str, str]:
    """``redis://host:port/db?prefix=p`` -> (URL for redis-py without the prefix, prefix)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    prefix = "".join(v for k, v in query if k == "prefix")
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "prefix"])
    return urllib.parse.urlunsplit(parts._replace(query=rest)), prefix


def is_read_only(path: Path) -> bool:
    """A file nobody may write, by its permission bits: root, who may write anyway, respects it too."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    return not (mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(path, os.W_OK)


def with_retries(what: str, connect: Callable[[], T], tries: int = CONNECT_TRIES) -> T:
    """``connect()``, asked again with back-off while it raises; then one clear :class:`StorageError`.

    A database that is restarting or a proxy that is still starting answers a second later; a
    wrong host never does, and the user gets the first line of the last error, not a traceback.
    """
    delay = CONNECT_BACKOFF
    for attempt in range(1, tries + 1):
        try:
            return connect()
        except StorageError:
            raise
        except ImportError as exc:
            raise StorageError(f"storage {what} needs a driver that is not installed: {exc}") from exc
        except Exception as exc:  # SQLAlchemy, gRPC and Redis raise many kinds; all mean "cannot use this URL"
            text = str(exc).strip()
            first_line = text.splitlines()[0] if text else type(exc).__name__
            if attempt == tries:
                raise StorageError(f"cannot open storage {what} after {tries} tries: {first_line}") from exc
            log.debug("storage %s: %s; trying again in %.1f s", what, first_line, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def open_storage(url: str | Location, *, heartbeat: bool = True, create: bool = True) -> optuna.storages.BaseStorage:
    """Open the storage ``url`` names, creating a SQLite file or journal if ``create``.

    Commands that only read (status, export, dashboard) pass ``create=False``, so a mistyped
    path is an error instead of a new empty database; with ``heartbeat=False`` too (they never run
    trials) a read-only SQLite file is opened read-only instead of refused.

    Database storages (SQLite, PostgreSQL, MySQL, and through the gRPC proxy) get heartbeats: a
    worker that dies mid-trial leaves a trial that turns FAIL after three silent heartbeat intervals
    (``$CLOCKWORK_HEARTBEAT_SECONDS``, default 20) and is queued again, at most ``MAX_RETRY`` times.
    Servers that do not answer are asked :data:`CONNECT_TRIES` times with back-off.
    """
    where = parse_location(url)
    url, kind = where.url, where.kind
    # Heartbeats, their retry callback, the journal and the gRPC proxy are "experimental" in
    # Optuna; the service relies on them deliberately, so the warning would only be noise.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if not create and where.file is not None and not where.file.is_file():
        raise StorageError(f"no storage at {where.file}: start a study there first (python -m search launch FAMILY)")
    if kind == "journal":
        return _open_journal_file(where.file, create)
    if kind == "redis":
        return _open_redis(url)
    heartbeat_kwargs = _heartbeat_kwargs() if heartbeat else {}
    if kind == "grpc":
        return _open_grpc(url, heartbeat_kwargs)
    engine_kwargs: dict = {"pool_pre_ping": True}
    if kind == "sqlite":
        path = where.file
        if is_read_only(path):
            if create or heartbeat:  # workers (heartbeats) and launch (create) write
                raise StorageError(
                    f"SQLite file {path} is read-only: workers cannot record trials there (status and export still read it)"
                )
            url = f"sqlite:///file:{path}?mode=ro&uri=true"
            heartbeat_kwargs = {}
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _enable_wal(path)
            except (OSError, sqlite3.Error) as exc:
                raise StorageError(f"cannot open SQLite file {path}: {exc}") from exc
        # Many workers write one file: wait for the lock rather than fail at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    return with_retries(
        repr(url), lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat_kwargs)
    )


def heartbeat_interval() -> int:
    """Seconds between a running trial's heartbeats (and a journal trial's lease renewals)."""
    return int(os.environ.get(HEARTBEAT_ENV) or HEARTBEAT_INTERVAL)


def _heartbeat_kwargs() -> dict:
    interval = heartbeat_interval()
    return {
        "heartbeat_interval": interval,
        "grace_period": GRACE_PERIOD_FACTOR * interval,
        "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
    }


def _open_journal_file(path: Path, create: bool) -> optuna.storages.BaseStorage:
    if create and is_read_only(path):
        raise StorageError(f"journal file {path} is read-only: workers cannot record trials there")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
    except OSError as exc:  # JournalFileBackend opens the file for appending, even to read it
        raise StorageError(f"cannot open journal file {path}: {exc}") from exc
    return optuna.storages.JournalStorage(backend)


def _open_redis(url: str) -> optuna.storages.BaseStorage:
    redis_url, prefix = redis_parts(url)

    def connect() -> optuna.storages.BaseStorage:
        backend = optuna.storages.journal.JournalRedisBackend(redis_url, prefix=prefix)
        backend._redis.ping()  # JournalRedisBackend connects lazily: fail here, not mid-trial
        return optuna.storages.JournalStorage(backend)

    return with_retries(repr(url), connect)


def _open_grpc(url: str, heartbeat_kwargs: dict) -> optuna.storages.BaseStorage:
    from storage.grpc import HeartbeatGrpcStorageProxy

    host, port = grpc_address(url)

    def connect() -> optuna.storages.BaseStorage:
        proxy = HeartbeatGrpcStorageProxy(host=host, port=port, **heartbeat_kwargs)
        try:
            proxy.wait_server_ready(timeout=1)
        except Exception:
            proxy.close()
            raise ConnectionError(f"no gRPC storage proxy answers at {host}:{port}") from None
        return proxy

    return with_retries(repr(url), connect)


def _enable_wal(path: Path) -> None:
    """Write-ahead logging lets readers (status, dashboard) work while workers write."""
    with sqlite3.connect(path, timeout=60) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
