"""One :class:`Task` per kind of work: classification, clock, smoke.

Adding a kind of task is one module here (a ``Task`` subclass, registered below) plus the study
families that name it. Nothing in this package imports Keras at import time.
"""

from __future__ import annotations

from typing import Any

from search.errors import UserError
from search.tasks._base import Task
from search.tasks.classification import ClassificationTask
from search.tasks.clock import ClockTask
from search.tasks.smoke import SmokeTask
from storage import attrs
from studies import FAMILIES, StudyFamily, get_family

TASKS: dict[str, Task] = {t.name: t for t in (ClassificationTask(), ClockTask(), SmokeTask())}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None


def task_of(family: StudyFamily) -> Task:
    return get_task(family.task)


def task_of_config(config: dict[str, Any]) -> Task:
    """The task of a trial config (an export entry, a `train` output): its family's, else that of
    the first family on the config's dataset (a bare data config, as tests and benchmarks write)."""
    if "family" in config:
        return task_of(get_family(config["family"], config.get("family_sha256")))
    for family in FAMILIES.values():
        if family.dataset == config.get("dataset"):
            return task_of(family)
    raise UserError(f"config names neither a family nor a known dataset: {config.get('dataset')!r}")


def task_of_study(study: Any) -> Task:
    """The task of a study: its family's; a study without one (the permutation experiment's)
    holds classification runs."""
    family = study.user_attrs.get(attrs.FAMILY)
    if not family:
        return TASKS[ClassificationTask.name]
    return task_of(get_family(family, study.user_attrs.get(attrs.FAMILY_SHA256)))


__all__ = ["TASKS", "Task", "get_task", "task_of", "task_of_config", "task_of_study"]
