"""Commands that do not train stay fast: they never import TensorFlow (about 6 s here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import cli


def _imports_tensorflow(*args: str) -> bool:
    result = cli(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    return "tensorflow" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["studies"], ["launch", "--help"]])
def test_help_and_listing_do_not_import_tensorflow(args: list[str]) -> None:
    assert not _imports_tensorflow(*args)


def test_status_and_export_do_not_import_tensorflow(storage: str, tmp_path: Path, fashion: Path) -> None:
    assert cli("launch", "fashion-mlp", "--workers", "0", "--storage", storage).returncode == 0
    assert not _imports_tensorflow("status", "fashion-mlp", "--storage", storage)
    assert not _imports_tensorflow("export", "fashion-mlp", "--out", str(tmp_path / "x.json"), "--storage", storage)


def test_studies_lists_every_family() -> None:
    result = cli("studies")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"mnist-mlp", "mnist-cnn", "fashion-mlp", "fashion-cnn", "clock"} <= set(names)


def test_a_launch_logged_to_a_file_writes_one_progress_line_per_finished_trial(tmp_path) -> None:
    """Off a terminal (``make demo > log``) the bar is drawn when a trial finishes, not every poll."""
    from conftest import ROOT, cli, pins

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = cli("launch", "smoke", "--workers", "1", "--trials", "2", "--storage", url, *pins("sleep=4"),
                 cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    bars = [line for line in re.split(r"[\r\n]", result.stderr) if re.match(r"^smoke: +\d+%\|", line)]
    # The empty bar, then at most one line per finished trial, and tqdm's closing redraw; the
    # launcher polls every 2 s, so a bar redrawn per poll would write 5 or more lines here.
    assert 2 <= len(bars) <= 2 + 2, bars
    assert bars[-1].startswith("smoke: 100%|") and "2/2" in bars[-1]
