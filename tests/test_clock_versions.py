"""Clock studies created by an earlier Clockwork: they keep reading photos as they did and
training for the budget they had, and one whose search space has changed under it is refused
with one line instead of failing every trial."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from conftest import cli, pins

TINY_CLOCK = ["input_size=32", "conv_blocks=2", "filters=8", "dense_units=16", "epochs=1", "val_size=100"]


@pytest.fixture(scope="module")
def clock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets.synth import synthesize

    out = tmp_path_factory.mktemp("clock")
    synthesize(out, 400, seed=5, style="clean")
    return out


def _config(url: str, number: int) -> dict:
    return optuna.load_study(study_name="clock", storage=url).trials[number].user_attrs["config"]


def test_a_clock_study_made_before_read_turns_align_stage_and_gap_read_keeps_reading_as_it_did(
    clock_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "db.sqlite"
    url = f"sqlite:///{db}"
    sets = pins(*TINY_CLOCK, f"data_dir={clock_dir}")
    assert cli("launch", "clock", "--workers", "0", "--storage", url, *sets).returncode == 0
    with sqlite3.connect(db) as con:  # what a study created before read_turns looks like
        con.execute("DELETE FROM study_user_attributes WHERE key IN ('read_turns', 'align_stage', 'gap_read')")
    run = cli("launch", "clock", "--workers", "1", "--trials", "1", "--storage", url, *sets)
    assert run.returncode == 0, run.stderr
    assert _config(url, 0)["read_turns"] == 1
    assert _config(url, 0)["align_stage"] == 1  # its align trials build the stage they always did
    assert _config(url, 0)["gap_read"] == 0  # and its trials learning from the hands' angle never read it

    new = f"sqlite:///{tmp_path / 'new.sqlite'}"
    assert cli("launch", "clock", "--workers", "1", "--trials", "1", "--storage", new, *sets).returncode == 0
    assert _config(new, 0)["read_turns"] == 8  # the family's reading, for a study made now
    assert _config(new, 0)["align_stage"] == 2
    assert _config(new, 0)["gap_read"] == 1


def test_a_study_whose_choices_changed_is_refused_with_one_line(clock_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    sets = pins(*TINY_CLOCK, f"data_dir={clock_dir}")
    assert cli("launch", "clock", "--workers", "0", "--storage", url, *sets).returncode == 0
    study = optuna.load_study(study_name="clock", storage=url)
    study.add_trial(optuna.trial.create_trial(  # a trial sampled from the filters the space offered before
        params={"filters": 32}, distributions={"filters": CategoricalDistribution((16, 32, 64))}, value=100.0,
    ))
    run = cli("launch", "clock", "--workers", "1", "--trials", "3", "--storage", url, *sets)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "clockwork: error: study 'clock' was created with another clock search space (filters: 16, 32, 64 then, "
        "16, 24, 32, 64 now): launch with a new --study-name, or resume it with the Clockwork that created it"
    )
    assert len(optuna.load_study(study_name="clock", storage=url).trials) == 3  # nothing ran, nothing was added


def test_a_study_keeps_the_budget_it_was_created_with_when_the_family_changes() -> None:
    # The clock family's budget went from 30 epochs to 60 or 25 minutes: a study created before
    # keeps training its trials as long as its first ones trained, unless a launch pins otherwise.
    from search.study import kept_budget
    from storage import attrs

    old = optuna.create_study()
    assert kept_budget(old) == {}  # nothing to go by: the family's budget
    old.add_trial(optuna.trial.create_trial(value=30.0, user_attrs={attrs.CONFIG: {"epochs": 30, "seed": 0}}))
    assert kept_budget(old) == {"epochs": 30, "trial_timeout": None}

    new = optuna.create_study()
    new.set_user_attr(attrs.BUDGET, {"epochs": 60, "trial_timeout": 1500})
    new.add_trial(optuna.trial.create_trial(value=30.0, user_attrs={attrs.CONFIG: {"epochs": 14, "seed": 0}}))
    assert kept_budget(new) == {"epochs": 60, "trial_timeout": 1500}  # a pinned trial's budget is not the study's
