"""Configs and pins: what a user types with --set or writes in an export file."""

from __future__ import annotations

import pytest

from models import ConfigError, check_config
from search.errors import UserError
from search.pins import check_pins, known_keys, parse_pins
from studies import FAMILIES, get_family
from studies._classic import CNN_REFERENCE, MLP_REFERENCE


def test_parse_pins_reads_json_values_and_plain_text() -> None:
    assert parse_pins(["epochs=2", "optimizer=adam", "hidden_units=[64, 32]", "batch_norm=true"]) == {
        "epochs": 2, "optimizer": "adam", "hidden_units": [64, 32], "batch_norm": True,
    }


@pytest.mark.parametrize("bad", ["epochs", "=3"])
def test_parse_pins_rejects_items_without_key_or_value(bad: str) -> None:
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_pins([bad])


def test_unknown_pin_names_the_key() -> None:
    with pytest.raises(UserError, match="--set optimiser: not a key of study family fashion-mlp"):
        check_pins(get_family("fashion-mlp"), {"optimiser": "adam"})


def test_known_keys_cover_conditional_dimensions() -> None:
    keys = known_keys(get_family("fashion-cnn"))
    assert {"momentum", "nesterov", "weight_decay", "rho", "reg_strength", "dense_units", "epochs", "train_limit"} <= keys


def test_reference_configs_pass_the_check() -> None:
    for config in (MLP_REFERENCE, CNN_REFERENCE):
        assert check_config(dict(config)) == config


@pytest.mark.parametrize(
    "change,message",
    [
        ({"learning_rate": None}, r"'learning_rate' = null: expected a number above 0"),
        ({"activation": "sigmoidal"}, r"'activation' = \"sigmoidal\": expected one of \"relu\""),
        ({"hidden_units": [300, "x"]}, r"'hidden_units' = \[300, \"x\"\]: expected a list of whole numbers"),
        ({"batch_size": 0}, r"'batch_size' = 0: expected a whole number from 1"),
        ({"batch_norm": "yes"}, r"'batch_norm' = \"yes\": expected true or false"),
        ({"optimizer": "momentum"}, "'momentum' is missing"),
        ({"dropout": 1.5}, r"'dropout' = 1.5: expected a number from 0 to 0.99"),
    ],
)
def test_bad_configs_name_the_key(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_config({**MLP_REFERENCE, **change})


def test_missing_key_is_named() -> None:
    config = dict(MLP_REFERENCE)
    del config["hidden_units"]
    with pytest.raises(ConfigError, match="'hidden_units' is missing"):
        check_config(config)


def test_every_family_samples_configs_that_pass_the_check() -> None:
    import optuna

    for family in FAMILIES.values():
        if family.task == "smoke":  # a trivial objective: no model to build
            continue
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        for _ in range(30):
            trial = study.ask()
            check_config(family.full_config(family.space(trial), {}, seed=0))
            study.tell(trial, 0.0)


def test_reference_params_rebuild_the_reference_config() -> None:
    import optuna

    for family in FAMILIES.values():
        trial = optuna.trial.FixedTrial(family.reference_params)
        assert family.space(trial) == family.reference
