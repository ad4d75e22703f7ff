"""What a study family is: a dataset, a define-by-run space, a reference network and a budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Keys that say how much to train and on what, not what to train. Every config has them;
# ``--set`` pins them like any other key.
BUDGET_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "train_limit": None,  # use at most this many training images (None: all)
    "val_size": 5000,  # validation images carved from the training set
    "data_dir": None,  # None: the Keras cache, then Debian's package (see datasets.mnist)
    "trial_timeout": None,  # seconds: a trial still training then ends after its epoch, scored by its best
}


@dataclass(frozen=True)
class StudyFamily:
    """A searchable experiment.

    ``space(trial)`` asks the trial for hyperparameters (define-by-run) and returns the model
    part of the config. ``reference`` is the textbook network as the same model config: it is
    enqueued as trial 0 of every new study so the baseline is always measured; ``seeds`` are
    further known-good starting points (parameters as ``reference_params``), enqueued after it.
    ``min_epochs`` is the first epoch at which a pruner may judge a trial: for a task whose
    curves stay flat at chance for the first epochs, earlier judgements would be coin flips.
    ``at_chance`` = (epochs, ceiling): a trial whose best value is still at or above ``ceiling``
    after that many epochs is pruned even when no other trial has reached its epoch (see
    ``search.study.make_pruner``). ``accepted`` names config keys outside the space that ``--set``
    may still pin (the clock's ``hour_weight``).
    """

    name: str
    summary: str
    dataset: str
    space: Callable[[Any], dict[str, Any]]
    reference: dict[str, Any]
    reference_params: dict[str, Any]
    budget: dict[str, Any] = field(default_factory=dict)
    pruner: str = "median"
    task: str = "classification"  # its kind of work, a name in search.tasks.TASKS
    objective: str = "validation error (1 - accuracy)"
    seeds: tuple[dict[str, Any], ...] = ()
    min_epochs: int = 1
    at_chance: tuple[int, float] | None = None
    # Config keys the family accepts beyond its space and budget: pinnable with --set, never searched.
    accepted: tuple[str, ...] = ()
    # A family file's (studies.files): its model builder and data loader, where it is, its sha256.
    builder: Callable[..., Any] | None = None
    loader: Callable[[dict[str, Any]], Any] | None = None
    source: str | None = None
    sha256: str | None = None

    @property
    def study_name(self) -> str:
        """The default name of its study: the family's, or a family file's stem (``resnet_fashion``)."""
        if self.source is None:
            return self.name
        path, _, name = self.source.rpartition(":")
        stem = path.rsplit("/", 1)[-1].removesuffix(".py")
        return stem if name == "FAMILY" else f"{stem}-{name}"

    def budget_defaults(self) -> dict[str, Any]:
        return {**BUDGET_DEFAULTS, **self.budget}

    def full_config(self, model_config: dict[str, Any], pins: dict[str, Any], seed: int) -> dict[str, Any]:
        """The whole trial config: family, data, model part, budget, seed; pins win."""
        config = {"family": self.name, "dataset": self.dataset, **model_config}
        config.update(self.budget_defaults())
        config["seed"] = seed
        if self.sha256:  # train refuses a family file that changed since
            config["family_sha256"] = self.sha256
        config.update(pins)
        return config
