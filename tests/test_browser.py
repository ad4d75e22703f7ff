"""In a real browser (Debian's headless Chromium): the report renders, the dashboard lists trials.

Chromium is driven from its command line: ``--dump-dom`` gives the document after its scripts
ran, ``--screenshot`` what it looks like, and ``--enable-logging=stderr`` prints every console
message, so a JavaScript error shows up as an ``Uncaught`` console line. A control page that
throws proves the error check can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from PIL import Image

from conftest import ROOT, TINY, cli, pins, require

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
)
JS_ERROR = re.compile(r"CONSOLE.*(Uncaught|Error)|Uncaught \w*Error")


@pytest.fixture
def chromium() -> str:
    require(CHROMIUM is not None, "Chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def browse(browser: str, url: str, profile: Path, *extra: str, budget_ms: int = 15_000) -> subprocess.CompletedProcess:
    """Load ``url`` in a fresh profile, let its scripts run for ``budget_ms`` of virtual time."""
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *extra, url],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )


def js_errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if JS_ERROR.search(line)]


def test_the_error_check_sees_a_javascript_error(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    result = browse(chromium, page.as_uri(), tmp_path / "profile", "--dump-dom", budget_ms=1000)
    assert "<p>x</p>" in result.stdout, result.stderr[-2000:]
    assert js_errors(result), result.stderr[-2000:]


def test_report_renders_its_figures_without_javascript_errors(chromium: str, storage: str, tmp_path: Path) -> None:
    from search.report import write_report
    from test_report import permutation_study, search_study

    artifacts = tmp_path / "artifacts"
    search_study(storage, "fashion-mlp", [0.15, 0.12, 0.2, 0.14])
    search_study(storage, "fashion-cnn", [], fail_only=True)
    search_study(storage, "clock", [30.0, 12.0, 45.0], artifacts=artifacts)
    permutation_study(storage)
    out = tmp_path / "report.html"
    summary = write_report(optuna.storages.RDBStorage(storage), out, artifacts, storage)
    figures = int(re.search(r"(\d+) figures", summary).group(1))
    assert figures >= 10

    dom = browse(chromium, out.as_uri(), tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not js_errors(dom), js_errors(dom)
    # plotly.js turns every figure's div into a plot with SVG layers: each one rendered.
    assert dom.stdout.count('class="plotly-graph-div js-plotly-plot"') == figures
    assert dom.stdout.count('class="main-svg"') >= 2 * figures

    shot = tmp_path / "report.png"
    result = browse(chromium, out.as_uri(), tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, "the screenshot is (nearly) blank"
    # plotly's first trace colour (#636efa) is on screen: a figure, not just text
    assert any(abs(r - 0x63) < 12 and abs(g - 0x6E) < 12 and abs(b - 0xFA) < 12 for _, (r, g, b) in colours)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_lists_the_trials_of_a_service_study(chromium: str, storage: str, fashion: Path, tmp_path: Path) -> None:
    result = cli("launch", "fashion-mlp", "--workers", "1", "--trials", "2", "--storage", storage, *pins(*TINY))
    assert result.returncode == 0, result.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "search", "dashboard", "--storage", storage, "--port", str(port)],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}/" in proc.stdout.readline()
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        page = f"http://127.0.0.1:{port}/dashboard/studies/1/trials"
        dom = browse(chromium, page, tmp_path / "profile", "--dump-dom", "--window-size=1400,1000")
        assert not js_errors(dom), js_errors(dom)
        assert "fashion-mlp" in dom.stdout, dom.stdout[-3000:]
        for number in (0, 1):
            assert f"Trial {number}" in dom.stdout
        # the worker's uploads are listed with the trial
        assert "learning-curves.png" in dom.stdout
    finally:
        proc.terminate()
        proc.wait(30)
