"""Family files: a user's own space, model and data in one Python file, launched by its path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import optuna
import pytest

from conftest import ROOT, cli
from search.cli import main

# Two classes a small MLP tells apart in one epoch: dark and bright 12 x 12 squares, with noise.
GOOD = '''
import numpy as np
import keras


def space(trial):
    return {"units": trial.suggest_int("units", 8, 32), "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True),
            "batch_size": 32}


def build(config, input_shape, n_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Dense(config["units"], activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))


def data(config):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1400)
    x = (y[:, None, None] * 160 + rng.integers(0, 90, (1400, 12, 12))).astype(np.uint8)
    return x[:1000], y[:1000], x[1000:], y[1000:]


FAMILY = {"summary": "dark or bright", "space": space, "build": build, "data": data,
          "reference": {"units": 16, "learning_rate": 0.005}, "budget": {"epochs": 2, "val_size": 200}}
'''


def _write(folder: Path, text: str, name: str = "mine.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_family_file_searches_exports_trains_and_predicts(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    launched = cli("launch", str(path), "--workers", "2", "--trials", "3", "--storage", url)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "study mine: 3 complete" in launched.stdout
    study = optuna.load_study(study_name="mine", storage=url)
    assert study.user_attrs["family"] == f"{path}:FAMILY" and len(study.user_attrs["family_sha256"]) == 64
    assert study.trials[0].params == {"units": 16, "learning_rate": 0.005}  # the reference is trial 0
    assert study.best_value < 0.2  # dark from bright: learnt

    export = tmp_path / "best.json"
    assert cli("export", "mine", "--storage", url, "--out", str(export)).returncode == 0
    trained = cli("train", str(export), "--out", str(tmp_path / "model"))
    assert trained.returncode == 0, trained.stderr
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["test_accuracy"] > 0.8

    import numpy as np

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 50)
    np.savez(tmp_path / "new.npz", x=(y[:, None, None] * 160 + rng.integers(0, 90, (50, 12, 12))).astype(np.uint8), y=y)
    predicted = cli("predict", str(tmp_path / "model"), str(tmp_path / "new.npz"), "--out", str(tmp_path / "preds.csv"))
    assert predicted.returncode == 0, predicted.stderr
    assert "accuracy over 50 images" in predicted.stdout
    header, first = (tmp_path / "preds.csv").read_text().splitlines()[:2]
    assert header == "image,class,probability,true_class" and 0.5 <= float(first.split(",")[2]) <= 1.0


BROKEN = [
    ("FAMILY = {", "mine.py:1: does not load: SyntaxError"),
    ("x = 1", "mine.py:FAMILY: expected a dict named FAMILY"),
    (GOOD.replace('"reference": {"units": 16, "learning_rate": 0.005}, ', ""), "the family misses 'reference'"),
    (GOOD + "\nFAMILY['task'] = 'regression'\n", "task 'regression'; expected one of classification, clock"),
    (GOOD + "\nFAMILY['data'] = 'cifar'\n", "'data' is 'cifar'"),
    (GOOD + "\nFAMILY['build'] = 3\n", "'build' must be a function"),
    (GOOD + "\nFAMILY['colour'] = 'red'\n", "unknown part(s) 'colour'"),
    (GOOD + "\nFAMILY['reference'] = {'units': 16}\n", "space(trial) with the reference parameters fails"),
    (GOOD + "\ndef data(config):\n    raise OSError('no disk')\nFAMILY['data'] = data\n", "data(config) fails: OSError: no disk"),
    (GOOD + "\ndef data(config):\n    return 5\nFAMILY['data'] = data\n", "expected (x_train, y_train, x_test, y_test)"),
    (GOOD.replace("keras.layers.Dense(n_classes,", "keras.layers.Dense(3,"), "a classifier of these images must go from (None, 12, 12) to (None, 2)"),
    (GOOD.replace("x = keras.layers.Dense(config", "x = keras.layers.Dense(config['nope'] + config"), "build(config, (12, 12), 2) fails: KeyError"),
]


@pytest.mark.parametrize("text,fragment", BROKEN, ids=[f for _, f in BROKEN])
def test_a_broken_family_file_is_one_line_before_anything_is_stored(capsys, tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    db = tmp_path / "db.sqlite"
    assert main(["launch", str(path), "--workers", "0", "--storage", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("clockwork: error: ") and str(tmp_path) in err[0], err
    assert fragment in err[0], err[0]
    assert not db.exists()


def test_a_changed_family_file_is_refused_by_workers_train_and_a_resumed_launch(capsys, tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["launch", str(path), "--workers", "0", "--storage", url]) == 0
    config = optuna.load_study(study_name="mine", storage=url).trials[0]  # the enqueued reference: no config yet
    path.write_text(path.read_text() + "\n# edited\n")
    capsys.readouterr()

    assert main(["worker", "mine", "--trials", "1", "--storage", url]) == 2
    assert "changed since the study was created" in capsys.readouterr().err
    assert main(["launch", str(path), "--workers", "0", "--storage", url]) == 2
    assert "was created from another version of" in capsys.readouterr().err
    stale = {"family": f"{path}:FAMILY", "family_sha256": "0" * 64, "dataset": "custom", "units": 8,
             "learning_rate": 0.01, "batch_size": 32, "epochs": 1, "val_size": 200, "seed": 0}
    (tmp_path / "stale.json").write_text(json.dumps(stale))
    assert main(["train", str(tmp_path / "stale.json"), "--out", str(tmp_path / "o")]) == 2
    assert "changed since the study was created" in capsys.readouterr().err
    assert config.state == optuna.trial.TrialState.WAITING and not (tmp_path / "o").exists()


def test_the_example_family_runs_from_the_checkout(tmp_path: Path, fashion: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    done = cli("launch", "examples/resnet_fashion.py", "--workers", "2", "--trials", "2", "--storage", url,
               "--set", "epochs=1", "--set", "train_limit=1000", "--set", "val_size=500")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "study resnet_fashion: 2 complete" in done.stdout
    assert optuna.load_study(study_name="resnet_fashion", storage=url).user_attrs["family"] == f"{ROOT / 'examples' / 'resnet_fashion.py'}:FAMILY"


def test_a_clock_task_file_prunes_as_the_built_in_clock_family(tmp_path: Path) -> None:
    # its trials sit at chance for their first epochs too: the same min_epochs and at-chance rule
    from studies import CLOCK, load_family_file

    clock_file = (
        "from studies.clock import CLOCK_REFERENCE_PARAMS, clock_space\n"
        "FAMILY = {'task': 'clock', 'space': clock_space, 'reference': dict(CLOCK_REFERENCE_PARAMS)}\n"
    )
    family = load_family_file(str(_write(tmp_path, clock_file)))
    assert (family.pruner, family.min_epochs, family.at_chance) == (CLOCK.pruner, CLOCK.min_epochs, CLOCK.at_chance)
    assert family.at_chance is not None
    plain = load_family_file(str(_write(tmp_path, GOOD, "plain.py")))
    assert (plain.pruner, plain.min_epochs, plain.at_chance) == ("median", 1, None)
