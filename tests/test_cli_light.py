"""Commands that do not train stay fast: they never import TensorFlow (about 6 s here)."""

from __future__ import annotations

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
