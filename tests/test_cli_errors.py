"""Errors a user can cause: one clear line on stderr, exit code 2, no traceback, studies untouched."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from conftest import cli, pins


def _fails_cleanly(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("clockwork: error: ")
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def stored(storage: str, fashion: Path) -> str:
    """A storage holding one created study (trial 0 enqueued, nothing finished)."""
    result = cli("launch", "fashion-mlp", "--workers", "0", "--storage", storage)
    assert result.returncode == 0, result.stderr
    return storage


def _snapshot(url: str) -> list:
    return [
        (s.study_name, s.user_attrs, [(t.number, t.state.name, t.params) for t in optuna.load_study(study_name=s.study_name, storage=url).trials])
        for s in optuna.get_all_study_summaries(url)
    ]


def test_unknown_study_family(stored: str) -> None:
    before = _snapshot(stored)
    _fails_cleanly(cli("launch", "fashion-mpl", "--storage", stored), "unknown study family 'fashion-mpl'", "fashion-mlp")
    assert _snapshot(stored) == before


def test_unknown_study_name(stored: str) -> None:
    _fails_cleanly(cli("status", "nope", "--storage", stored), "no study named 'nope'", "fashion-mlp")
    _fails_cleanly(cli("worker", "nope", "--trials", "1", "--storage", stored), "no study named 'nope'")


def test_reading_a_missing_storage_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    _fails_cleanly(cli("status", "fashion-mlp", "--storage", f"sqlite:///{path}"), "no storage at")
    _fails_cleanly(cli("export", "fashion-mlp", "--out", str(tmp_path / "x.json"), "--storage", f"sqlite:///{path}"), "no storage at")
    assert not path.exists()


@pytest.mark.parametrize("url", ["bad://x", "sqlite:/relative.db", "nonsense", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
def test_bad_storage_url(url: str) -> None:
    _fails_cleanly(cli("status", "fashion-mlp", "--storage", url), url)


def test_missing_data_leaves_no_study(storage: str, tmp_path: Path) -> None:
    result = cli("launch", "fashion-mlp", "--storage", storage, *pins(f"data_dir={tmp_path / 'none'}"))
    _fails_cleanly(result, "does not exist")
    assert not Path(storage.removeprefix("sqlite:///")).exists() or not optuna.get_all_study_names(storage)


def test_unknown_set_key(stored: str) -> None:
    before = _snapshot(stored)
    _fails_cleanly(cli("launch", "fashion-mlp", "--storage", stored, *pins("epoch=2")), "--set epoch: not a key")
    assert _snapshot(stored) == before


def test_export_without_finished_trials(stored: str, tmp_path: Path) -> None:
    before = _snapshot(stored)
    out = tmp_path / "best.json"
    _fails_cleanly(cli("export", "fashion-mlp", "--out", str(out), "--storage", stored), "no completed trial")
    assert not out.exists()
    assert _snapshot(stored) == before


def _export_with(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"trials": [{"config": config}]}))
    return path


GOOD = {
    "family": "fashion-mlp", "dataset": "fashion", "model": "mlp", "hidden_units": [32],
    "initializer": "glorot_uniform", "activation": "relu", "optimizer": "sgd", "learning_rate": 0.01,
    "regularizer": "none", "dropout": 0.0, "batch_norm": False, "batch_size": 32, "epochs": 1,
    "train_limit": 100, "val_size": 100, "data_dir": None, "seed": 0,
}


@pytest.mark.parametrize(
    "change,fragment",
    [
        ({"hidden_units": None}, "config key 'hidden_units' = null: expected a list of whole numbers"),
        ({"learning_rate": "fast"}, "config key 'learning_rate' = \"fast\": expected a number above 0"),
        ({"activation": "relu6"}, "config key 'activation' = \"relu6\": expected one of"),
        ({"epochs": "3"}, "config key 'epochs' = \"3\": expected a whole number from 1"),
        ({"family": "fashion-rnn"}, "unknown study family 'fashion-rnn'"),
    ],
)
def test_train_names_the_bad_key(tmp_path: Path, change: dict, fragment: str) -> None:
    _fails_cleanly(cli("train", str(_export_with(tmp_path, {**GOOD, **change})), "--out", str(tmp_path / "o")), fragment)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("key", ["batch_size", "optimizer", "dataset", "epochs"])
def test_train_names_a_missing_key(tmp_path: Path, key: str) -> None:
    config = dict(GOOD)
    del config[key]
    _fails_cleanly(cli("train", str(_export_with(tmp_path, config)), "--out", str(tmp_path / "o")), f"'{key}' is missing")


def test_train_with_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "best.json"
    path.write_text('{"trials": [')
    _fails_cleanly(cli("train", str(path), "--out", str(tmp_path / "o")), "not valid JSON")
    _fails_cleanly(cli("train", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")), "no such file")
    path.write_text('{"something": 1}')
    _fails_cleanly(cli("train", str(path), "--out", str(tmp_path / "o")), "expected an export file")
