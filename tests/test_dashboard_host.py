"""`dashboard` binds 127.0.0.1 unless --host says otherwise, and then warns who can read the study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from backends import free_port
from conftest import ROOT, cli

WARNING = "anyone who can reach this machine can read the studies"


def _serve(url: str, *host: str) -> tuple[list[str], list[dict]]:
    """Start the dashboard, read its output up to the address line, list the studies, stop it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "search", "dashboard", "--storage", url, "--port", str(port), *host],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        while not lines or "http://" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, f"dashboard ended early: {lines}"
            lines.append(line)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    return lines, json.load(response)["study_summaries"]
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def smoke_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli("launch", "smoke", "--workers", "0", "--storage", url).returncode == 0
    return url


def test_dashboard_defaults_to_localhost_without_warning(smoke_db: str) -> None:
    lines, studies = _serve(smoke_db)
    assert "http://127.0.0.1:" in lines[-1]
    assert not any(WARNING in line for line in lines)
    assert [s["study_name"] for s in studies] == ["smoke"]


def test_dashboard_on_all_interfaces_warns(smoke_db: str) -> None:
    lines, studies = _serve(smoke_db, "--host", "0.0.0.0")
    assert "http://0.0.0.0:" in lines[-1]
    assert any(WARNING in line and "0.0.0.0" in line for line in lines), lines
    assert [s["study_name"] for s in studies] == ["smoke"]
