"""Checked at the door: a bad value is one line and exit code 2, and the storage is unchanged.

Run in-process through the CLI's ``main(argv)``: these cost milliseconds each, not a subprocess.
Each test starts from a storage that already holds one study with one trial, and checks that a
rejected command added no study and no trial (and ``train`` wrote no output folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from models import KEYS, Key
from search.cli import main
from search.pins import known_keys
from studies import get_family

# The catalogue: what a new user typed, and the fragment of the one line they get back.
CATALOGUE = [
    (["fashion-mlp", "--trials", "1", "--set", "epochs=-1"], "--set epochs=-1: expected a whole number from 1"),
    (["fashion-mlp", "--trials", "1", "--set", "epochs=abc"], '--set epochs="abc": expected a whole number'),
    (["fashion-mlp", "--trials", "1", "--set", "batch_size=0"], "--set batch_size=0: expected a whole number from 1"),
    (["fashion-mlp", "--trials", "1", "--set", "dropout=1.5"], "--set dropout=1.5: expected a number from 0 to 0.99"),
    (["clock", "--trials", "1", "--set", "input_size=7"], "the clock model needs at least 8 px"),
    (["fashion-mlp", "--trials", "1", "--set", "val_size=2.0"], "a validation set under 100 images judges nothing"),
    (["fashion-mlp", "--workers", "0", "--set", "learning_rate=0"], "--set learning_rate=0: expected a number above 0"),
    (["fashion-mlp", "--trials", "0"], "--trials at least 1"),
    (["fashion-mlp", "--workers", "-1"], "--workers must be 0 or more"),
    (["fashion-mlp", "--timeout", "-5"], "--timeout -5: expected a positive number"),
    (["fashion-mlp", "--sampler-seed", "-1"], "--sampler-seed -1: expected a whole number"),
    (["fashion-mlp", "--trial-timeout", "0"], "--trial-timeout must be a positive number"),
    (["fashion-mlp", "--set", "optimiser=adam"], "--set optimiser: not a key of study family fashion-mlp"),
    (["fashion-mlp", "--warm-start", "no-such-study"], "--warm-start no-such-study: not an export file"),
]


@pytest.fixture
def storage(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = optuna.create_study(study_name="existing", storage=url)
    study.tell(study.ask(), 1.0)
    return url


def _snapshot(url: str) -> dict[str, int]:
    return {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(url)}


def _rejected(capsys: pytest.CaptureFixture, argv: list[str], url: str, fragment: str) -> None:
    before = _snapshot(url)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("clockwork: error: "), err
    assert fragment in err[0]
    assert _snapshot(url) == before  # no new study, no new trial


@pytest.mark.parametrize("args,fragment", CATALOGUE, ids=[" ".join(a) for a, _ in CATALOGUE])
def test_the_catalogue_is_one_line_and_nothing_stored(capsys, storage: str, args: list[str], fragment: str) -> None:
    _rejected(capsys, ["launch", *args, "--storage", storage], storage, fragment)


def _bad_value(spec: Key) -> Any:
    """One value ``spec`` refuses: outside its range where it has one, else of the wrong type."""
    if spec.kind in ("int", "float") and spec.low is not None:
        return spec.low - 1
    if spec.kind in ("int", "float") and spec.above is not None:
        return spec.above
    if spec.kind in ("int", "float"):
        return "abc"
    return {"choice": "no-such-choice", "bool": "yes", "text": 5, "ints": ["x"], "floats": ["x"], "size": 2,
            "augment": "rotate+sideways"}[spec.kind]


# Every key of the schema with one bad value, through --set on a family that has it ...
_FAMILY_OF_MODEL = {"mlp": "fashion-mlp", "cnn": "fashion-cnn", "clock": "clock", "": "smoke"}
_PINNED = []
for _spec in KEYS:
    for _model in _spec.models or ("mlp", "cnn", "clock", ""):
        _family = _FAMILY_OF_MODEL[_model]
        if _spec.name in known_keys(get_family(_family)):
            _PINNED.append((_family, _spec))
            break


@pytest.mark.parametrize("family,spec", _PINNED, ids=[f"{f}:{s.name}" for f, s in _PINNED])
def test_every_key_refuses_a_bad_pin(capsys, storage: str, family: str, spec: Key) -> None:
    bad = _bad_value(spec)
    fragment = f"--set {spec.name}={json.dumps(bad)}: expected {spec.allowed()}"
    _rejected(capsys, ["launch", family, "--set", f"{spec.name}={json.dumps(bad)}", "--storage", storage], storage, fragment)


# ... and the keys no family pins (recorded or identity keys) in a config file for `train`.
GOOD = {
    "family": "fashion-mlp", "dataset": "fashion", "model": "mlp", "hidden_units": [32],
    "initializer": "glorot_uniform", "activation": "relu", "optimizer": "sgd", "learning_rate": 0.01,
    "regularizer": "none", "dropout": 0.0, "batch_norm": False, "batch_size": 32, "epochs": 1,
    "train_limit": 100, "val_size": 100, "data_dir": None, "seed": 0,
}
_IN_FILES = [s for s in KEYS if s.name not in {spec.name for _, spec in _PINNED} and (not s.models or "mlp" in s.models)]
_IN_FILES = [s for s in _IN_FILES if s.group != "search parameter" and s.name != "family"]


def test_the_pinned_and_filed_keys_cover_the_schema() -> None:
    """Every key is tried; of units_N and dense_N (one spec each, N up to what n_layers accepts)
    those a family's space asks for."""
    covered = {s.name for _, s in _PINNED} | {s.name for s in _IN_FILES} | {"family"}
    numbered = {s.name for s in KEYS if s.name.startswith(("units_", "dense_"))}
    assert covered | numbered == {s.name for s in KEYS}
    assert {"units_0", "units_3", "dense_0", "dense_1"} <= covered


@pytest.mark.parametrize("spec", _IN_FILES, ids=[s.name for s in _IN_FILES])
def test_train_refuses_a_bad_value_in_its_file(capsys, storage: str, tmp_path: Path, spec: Key) -> None:
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"trials": [{"config": {**GOOD, spec.name: _bad_value(spec)}}]}))
    out = tmp_path / "out"
    _rejected(capsys, ["train", str(path), "--out", str(out)], storage, f"config key '{spec.name}' = ")
    assert not out.exists()


def test_train_refuses_a_key_it_does_not_know(capsys, storage: str, tmp_path: Path) -> None:
    path = tmp_path / "best.json"
    path.write_text(json.dumps({**GOOD, "epoch": 3}))
    _rejected(capsys, ["train", str(path), "--out", str(tmp_path / "out")], storage, "config key 'epoch' is not a key")


def test_a_good_config_passes_the_door(capsys, storage: str) -> None:
    assert main(["launch", "smoke", "--workers", "0", "--set", "x=1.5", "--storage", storage]) == 0
    assert "smoke" in _snapshot(storage)


def test_every_key_a_family_knows_is_in_the_schema() -> None:
    """A key added to a space without its schema entry would be refused by --set and train."""
    from models import key_spec
    from studies import FAMILIES

    for family in FAMILIES.values():
        model = family.reference.get("model")
        missing = sorted(k for k in known_keys(family) if key_spec(k, model) is None)
        assert missing == [], f"{family.name}: {missing}"
