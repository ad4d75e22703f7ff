"""Storage mistakes a user can make: one `clockwork: error:` line, exit code 2, no traceback."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from backends import POSTGRES, fresh_database, grpc_proxy
from conftest import ROOT, cli


def _fails_cleanly(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("clockwork: error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def smoke_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    result = cli(
        "launch",
        "smoke",
        "--workers",
        "1",
        "--trials",
        "3",
        "--storage",
        url,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return url


@pytest.mark.parametrize(
    "url,fragment",
    [
        ("grpc://127.0.0.1", "grpc://HOST:PORT"),
        ("grpc://127.0.0.1:port", "grpc://HOST:PORT"),
        ("grpc://:13000", "grpc://HOST:PORT"),
        ("mongodb://127.0.0.1/x", "unsupported scheme 'mongodb'"),
        ("redis:/127.0.0.1", "is not understood"),
        ("runs/clockwork.sqlite", "is not understood"),
    ],
)
def test_malformed_storage_url(url: str, fragment: str) -> None:
    _fails_cleanly(cli("status", "smoke", "--storage", url), fragment)
    _fails_cleanly(cli("worker", "smoke", "--trials", "1", "--storage", url), fragment)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/none",
        "mysql+pymysql://root@127.0.0.1:1/none",
        "grpc://127.0.0.1:1",
        "redis://127.0.0.1:1/0",
    ],
)
def test_unreachable_storage_is_retried_then_reported(url: str) -> None:
    result = cli("launch", "smoke", "--workers", "0", "--storage", url, env={"CLOCKWORK_STORAGE": ""})
    _fails_cleanly(result, "cannot open storage", "after 3 tries")


def test_unknown_study_on_a_database(tmp_path: Path) -> None:
    with fresh_database(POSTGRES) as url:
        assert cli("launch", "smoke", "--workers", "0", "--storage", url).returncode == 0
        _fails_cleanly(cli("worker", "nope", "--trials", "1", "--storage", url), "no study named 'nope'", "smoke")
        with grpc_proxy(url, tmp_path / "proxy.log") as proxy:
            _fails_cleanly(cli("status", "nope", "--storage", proxy), "no study named 'nope'", "smoke")


def test_export_without_finished_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli("launch", "smoke", "--workers", "0", "--storage", url).returncode == 0
    _fails_cleanly(cli("export", "smoke", "--out", str(tmp_path / "best.json"), "--storage", url), "no completed trial")
    assert not (tmp_path / "best.json").exists()


def test_read_only_sqlite_is_readable_but_not_launchable(smoke_db: str, tmp_path: Path) -> None:
    path = Path(smoke_db.removeprefix("sqlite:///"))
    before = path.read_bytes()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 444: root could still write, but must not
    try:
        status = cli("status", "smoke", "--storage", smoke_db)
        assert status.returncode == 0, status.stderr
        assert "study smoke: 3 complete" in status.stdout
        exported = cli("export", "smoke", "--out", str(tmp_path / "best.json"), "--storage", smoke_db)
        assert exported.returncode == 0, exported.stderr
        _fails_cleanly(cli("launch", "smoke", "--workers", "1", "--trials", "5", "--storage", smoke_db), "read-only")
        _fails_cleanly(cli("worker", "smoke", "--trials", "5", "--storage", smoke_db), "read-only")
        assert path.read_bytes() == before
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        path.chmod(0o644)
    assert os.access(path, os.W_OK)
