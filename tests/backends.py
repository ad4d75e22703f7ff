"""Storages for integration tests: a fresh database per test on the local servers, a gRPC proxy.

Server addresses come from ``$CLOCKWORK_TEST_POSTGRES``, ``$CLOCKWORK_TEST_MYSQL`` and
``$CLOCKWORK_TEST_REDIS`` (defaults: the local servers, trust/empty-password auth). A test whose
server does not answer skips with the reason, or fails under ``CLOCKWORK_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
from conftest import ROOT, require
from optuna.trial import TrialState

POSTGRES = os.environ.get("CLOCKWORK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL = os.environ.get("CLOCKWORK_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS = os.environ.get("CLOCKWORK_TEST_REDIS", "redis://127.0.0.1:6379/0")
BACKENDS = ("sqlite", "journal", "redis", "postgresql", "mysql", "grpc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``, dropped afterwards."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    try:
        conn = engine.connect()
    except Exception as exc:  # no server, no driver
        require(False, f"no database server answers at {server_url}: {str(exc).strip().splitlines()[0]}")
    name = f"clockwork_test_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    url = sqlalchemy.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            force = " WITH (FORCE)" if engine.dialect.name == "postgresql" else ""
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        engine.dispose()


@contextlib.contextmanager
def fresh_redis(server_url: str = REDIS) -> Iterator[str]:
    """A Redis journal URL with a key prefix of its own; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(server_url)
    try:
        client.ping()
    except Exception as exc:
        require(False, f"no Redis server answers at {server_url}: {exc}")
    prefix = f"clockwork-test-{uuid.uuid4().hex[:12]}"
    try:
        yield f"{server_url}?prefix={prefix}"
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@contextlib.contextmanager
def grpc_proxy(database_url: str, log_path: Path) -> Iterator[str]:
    """``python -m search serve-storage`` in front of ``database_url``; yields ``grpc://...``."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "search", "serve-storage", "--storage", database_url, "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        proxy = optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=port)
        proxy.wait_server_ready(timeout=60)
        proxy.close()
        yield f"grpc://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def storage_for(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh storage of ``kind`` (one of :data:`BACKENDS`), cleaned up afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
    elif kind == "journal":
        yield str(tmp_path / "studies.log")
    elif kind == "redis":
        with fresh_redis() as url:
            yield url
    elif kind == "postgresql":
        with fresh_database(POSTGRES) as url:
            yield url
    elif kind == "mysql":
        with fresh_database(MYSQL) as url:
            yield url
    elif kind == "grpc":
        with fresh_database(POSTGRES) as url, grpc_proxy(url, tmp_path / "proxy.log") as proxy_url:
            yield proxy_url
    else:
        raise ValueError(kind)


def load(url: str, name: str = "smoke") -> optuna.Study:
    from storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat=False, create=False))


def check_exact(
    url: str, budget: int, name: str = "smoke", *, killed: tuple[int, ...] = ()
) -> list[optuna.trial.FrozenTrial]:
    """The study has exactly ``budget`` finished trials, unique gapless numbers, nothing left running.

    The only failed trials allowed are budget surpluses behind the gRPC proxy (never counted) and
    the ``killed`` ones.
    """
    trials = load(url, name).get_trials()
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(trials))), f"duplicate or missing trial numbers: {numbers}"
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == budget, states
    assert states[TrialState.RUNNING] == 0 and states[TrialState.WAITING] == 0, states
    failed = [t for t in trials if t.state == TrialState.FAIL and t.number not in killed]
    allowed = url.startswith("grpc://")
    assert all(allowed and t.user_attrs.get("budget_surplus") for t in failed), [
        t.user_attrs.get("fail_reason") for t in failed
    ]
    return trials


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
