"""``--set KEY=VALUE``: pin any config key for a run, a search dimension or a budget key.

A pinned search dimension is not suggested at all (the trial's config still records it), so
conditional dimensions follow it: ``--set optimizer=adam`` searches ``beta_1`` but never
``momentum``. Pins of derived keys (``hidden_units``) overwrite the built config.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import optuna

from search.errors import UserError


def parse_pins(items: Iterable[str]) -> dict[str, Any]:
    """``["epochs=2", "optimizer=adam"]`` -> ``{"epochs": 2, "optimizer": "adam"}``.

    Values are read as JSON where they parse (numbers, true/false/null, lists), else as text.
    """
    pins: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            pins[key] = json.loads(raw)
        except json.JSONDecodeError:
            pins[key] = raw
    return pins


class PinnedTrial:
    """An ``optuna.Trial`` whose pinned parameters are answered without being suggested."""

    def __init__(self, trial: optuna.Trial, pins: dict[str, Any]) -> None:
        self._trial = trial
        self._pins = pins

    @property
    def number(self) -> int:
        return self._trial.number

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        if name in self._pins:
            return self._pins[name]
        return self._trial.suggest_categorical(name, choices)

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        if name in self._pins:
            return self._pins[name]
        return self._trial.suggest_float(name, low, high, log=log)

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        if name in self._pins:
            return self._pins[name]
        return self._trial.suggest_int(name, low, high, log=log)


def known_keys(family: Any, samples: int = 64) -> set[str]:
    """Every key ``--set`` may name for ``family``: params and config keys over many samples.

    Define-by-run spaces have no static list of their dimensions, so sample the space in memory
    (no training, milliseconds) and collect what it asks for and what it returns.
    """
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    keys: set[str] = set(family.budget_defaults()) | {"seed"}
    for _ in range(samples):
        trial = study.ask()
        keys |= set(family.space(trial))
        keys |= set(trial.params)
        study.tell(trial, 0.0)
    keys |= set(family.reference) | set(family.reference_params)
    return keys


def check_pins(family: Any, pins: dict[str, Any]) -> None:
    unknown = sorted(set(pins) - known_keys(family))
    if unknown:
        raise UserError(
            f"--set {unknown[0]}: not a key of study family {family.name}; "
            f"known keys: {', '.join(sorted(known_keys(family)))}"
        )
