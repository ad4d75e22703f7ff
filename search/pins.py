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


def sample_space(family: Any, samples: int = 64) -> tuple[set[str], dict[str, Any]]:
    """The config keys ``family``'s space returns and the distribution of every parameter it asks.

    Define-by-run spaces have no static list of their dimensions, so sample the space in memory
    (no training, milliseconds) and collect what it asks for and what it returns.
    """
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    keys: set[str] = set()
    distributions: dict[str, Any] = {}
    for _ in range(samples):
        trial = study.ask()
        keys |= set(family.space(trial))
        distributions.update(trial.distributions)
        study.tell(trial, 0.0)
    return keys, distributions


def known_keys(family: Any, samples: int = 64) -> set[str]:
    """Every key ``--set`` may name for ``family``: params and config keys over many samples."""
    keys, distributions = sample_space(family, samples)
    keys |= set(distributions) | set(family.budget_defaults()) | {"seed"}
    return keys | set(family.reference) | set(family.reference_params) | set(family.accepted)


def searched_text(distribution: Any, spec: Any = None) -> str:
    """An Optuna distribution in a few characters: ``16|32|64``, ``0.0001..0.1 log``, ``1..4``;
    ``every choice`` when it offers all that the key's ``spec`` accepts."""
    from optuna.distributions import CategoricalDistribution

    if isinstance(distribution, CategoricalDistribution):
        if spec is not None and spec.kind == "choice" and set(distribution.choices) == set(spec.choices):
            return "every choice"
        return "|".join(json.dumps(c) for c in distribution.choices)
    text = f"{distribution.low:g}..{distribution.high:g}"
    return text + (" log" if distribution.log else "")


def check_pins(family: Any, pins: dict[str, Any]) -> None:
    """Every pin names a key of ``family`` and holds a value its schema accepts (models._config).

    Only values are checked: keys a pin makes necessary (``optimizer=momentum`` needs ``momentum``)
    are the space's to ask for.
    """
    from models import ConfigError, key_spec

    known = known_keys(family)
    unknown = sorted(set(pins) - known)
    if unknown:
        raise UserError(
            f"--set {unknown[0]}: not a key of study family {family.name}; known keys: {', '.join(sorted(known))}"
        )
    model = family.reference.get("model")
    for key, value in pins.items():
        spec = key_spec(key, model)
        if family.source and (spec is None or spec.group not in ("budget", "identity")):
            continue  # a family file's own keys: its space says what they take
        try:
            if spec is None:
                raise ConfigError(f"{key} has no schema entry", key, "a key Clockwork knows")
            spec.check(value)
        except ConfigError as exc:
            raise UserError(f"--set {key}={json.dumps(value)}: {exc.detail}") from None
