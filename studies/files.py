"""Family files: a user's own study family in one Python file, launched by its path.

``launch FILE.py[:NAME]`` reads the dict ``NAME`` (default ``FAMILY``) of ``FILE.py``::

    FAMILY = {
        "summary": "a small residual CNN on Fashion-MNIST",   # one line
        "task": "classification",                           # or "clock" (the built-in clock model)
        "space": space,                                     # trial -> the model part of the config
        "build": build,                                     # (config, input_shape, n_classes) -> keras.Model
        "data": "fashion",                                  # mnist | fashion, or a loader: config -> arrays
        "reference": {"blocks": 2, ...},                    # trial parameters of the baseline (trial 0)
        "budget": {"epochs": 5},                            # budget keys (optional)
        "objective": "validation error (1 - accuracy)",     # in words (optional)
    }

``build`` may return a compiled model (with an ``accuracy`` metric) or an uncompiled one, which
Clockwork compiles with the config's ``optimizer`` and ``learning_rate`` (Adam at 1e-3 without
them). A loader returns ``(x_train, y_train, x_test, y_test)``: greyscale uint8 images N x H x W
and integer labels. The file needs nothing from Clockwork: plain functions and a dict.

A study records the file's absolute path and sha256; a worker, ``train`` or ``report`` that finds
the file changed refuses it with one line. Code is never stored in or run from the database: every
machine that runs a worker needs the file at the same path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studies._family import StudyFamily
from studies.clock import CLOCK

TASKS = ("classification", "clock")
DATASETS = ("mnist", "fashion")
REQUIRED = ("space", "reference")
_CACHE: dict[tuple[str, str, str], StudyFamily] = {}


class FamilyFileError(Exception):
    """A family file that cannot be used; the message names the file and what is wrong."""


def is_family_file(name: str) -> bool:
    return name.endswith(".py") or ".py:" in name


def split_spec(spec: str) -> tuple[Path, str]:
    path, _, name = spec.partition(".py:") if ".py:" in spec else (spec.removesuffix(".py"), "", "")
    return Path(path + ".py").expanduser().resolve(), name or "FAMILY"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_family_file(spec: str, expected_sha256: str | None = None) -> StudyFamily:
    """The family ``spec`` (``FILE.py[:NAME]``) names; with ``expected_sha256``, refuse a changed file."""
    path, name = split_spec(spec)
    where = f"{path}:{name}"
    if not path.is_file():
        raise FamilyFileError(f"family file {path} not found")
    sha = file_sha256(path)
    if expected_sha256 and sha != expected_sha256:
        raise FamilyFileError(
            f"family file {path} changed since the study was created (sha256 {expected_sha256[:12]}... then, "
            f"{sha[:12]}... now): restore that version, or launch a new study"
        )
    key = (str(path), name, sha)
    if key not in _CACHE:
        _CACHE[key] = _build_family(path, name, sha, where)
    return _CACHE[key]


def _build_family(path: Path, name: str, sha: str, where: str) -> StudyFamily:
    module_name = f"clockwork_family_{sha[:16]}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever the user's file raises, say it in one line
        sys.modules.pop(module_name, None)
        line = getattr(exc, "lineno", None)
        raise FamilyFileError(f"{path}{f':{line}' if line else ''}: does not load: {type(exc).__name__}: {exc}") from None
    parts = getattr(module, name, None)
    if not isinstance(parts, dict):
        found = "nothing" if parts is None else type(parts).__name__
        raise FamilyFileError(f"{where}: expected a dict named {name} with {', '.join(REQUIRED)}, ...; found {found}")
    missing = [k for k in REQUIRED if k not in parts]
    if missing:
        raise FamilyFileError(f"{where}: the family misses {', '.join(repr(k) for k in missing)}")
    unknown = sorted(set(parts) - {"summary", "task", "space", "build", "data", "reference", "budget", "objective"})
    if unknown:
        raise FamilyFileError(f"{where}: unknown part(s) {', '.join(map(repr, unknown))}")
    task = parts.get("task", "classification")
    if task not in TASKS:
        raise FamilyFileError(f"{where}: task {task!r}; expected one of {', '.join(TASKS)}")
    space, build, data = parts["space"], parts.get("build"), parts.get("data", "fashion" if task == "classification" else None)
    _callable(where, "space", space)
    if task == "classification":
        _callable(where, "build", build)
        if not (callable(data) or data in DATASETS):
            raise FamilyFileError(f"{where}: 'data' is {data!r}; expected {' or '.join(DATASETS)}, or a function config -> arrays")
    elif build is not None:
        raise FamilyFileError(f"{where}: a clock family searches the built-in clock model; leave out 'build'")
    reference = parts["reference"]
    if not isinstance(reference, dict):
        raise FamilyFileError(f"{where}: 'reference' must be a dict of trial parameters")
    budget = parts.get("budget", {})
    if not isinstance(budget, dict):
        raise FamilyFileError(f"{where}: 'budget' must be a dict of budget keys")
    reference_config = _reference_config(where, space, reference)
    return StudyFamily(
        name=where,
        summary=str(parts.get("summary", f"family file {path.name}")),
        dataset="clock" if task == "clock" else (data if isinstance(data, str) else "custom"),
        space=space,
        reference=reference_config,
        reference_params=reference,
        budget=dict(budget),
        pruner=CLOCK.pruner if task == "clock" else "median",
        task=task,
        objective=str(parts.get("objective", "validation error (1 - accuracy)" if task == "classification" else CLOCK.objective)),
        # as the built-in clock family (studies/clock.py says why)
        min_epochs=CLOCK.min_epochs if task == "clock" else 1,
        at_chance=CLOCK.at_chance if task == "clock" else None,
        builder=build,
        loader=data if callable(data) else None,
        source=where,
        sha256=sha,
    )


def _callable(where: str, part: str, value: Any) -> Callable:
    if not callable(value):
        raise FamilyFileError(f"{where}: {part!r} must be a function, not {type(value).__name__}")
    return value


def _reference_config(where: str, space: Callable, reference: dict[str, Any]) -> dict[str, Any]:
    """The config the space makes from the reference parameters: the space runs once here, so a
    space that raises or asks for a parameter the reference lacks fails at launch."""
    import optuna

    try:
        config = space(optuna.trial.FixedTrial(reference))
    except Exception as exc:  # noqa: BLE001 - the user's space: one line
        raise FamilyFileError(f"{where}: space(trial) with the reference parameters fails: {type(exc).__name__}: {exc}") from None
    if not isinstance(config, dict):
        raise FamilyFileError(f"{where}: space(trial) must return a dict (the model part of the config), not {type(config).__name__}")
    return config
