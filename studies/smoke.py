"""The ``smoke`` family: a trivial objective for load tests, benchmarks and trying a new storage.

``x ~ U(-10, 10)``, value ``(x - 2)^2``; ``--set sleep=SECONDS`` makes each trial take that long.
Nothing on its path imports TensorFlow, so a smoke worker starts in about a second and measures
the service (storage, budget lock, workers), not the training.
"""

from __future__ import annotations

from typing import Any

from studies._family import StudyFamily


def smoke_space(trial: Any) -> dict[str, Any]:
    return {"x": trial.suggest_float("x", -10.0, 10.0)}


SMOKE = StudyFamily(
    name="smoke",
    summary="trivial objective (x - 2)^2 for load tests and storage benchmarks; no TensorFlow",
    dataset="none",
    space=smoke_space,
    reference={"x": 0.0},
    reference_params={"x": 0.0},
    budget={"sleep": 0.0},
    pruner="none",
    task="smoke",
    objective="(x - 2)^2",
)
