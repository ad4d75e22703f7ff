"""The objective every worker runs, and the permutation experiment reuses.

``Objective(trial)``: the trial's config (from the family's space, pins applied), recorded; then
the task runs it. Every failure is recorded as the trial's ``fail_reason`` and kept in
``last_failure``, so the worker can stop after too many in a row. A training task's trial goes
through :func:`train_trial`: fit with per-epoch pruning, then test, record and upload.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna

from search.data import DataCache
from search.pins import PinnedTrial
from search.study import restart_stuck_seed
from storage import attrs

if TYPE_CHECKING:
    from search.tasks import Task
    from search.training import Trainer
    from studies import StudyFamily

log = logging.getLogger(__name__)


class Objective:
    """``objective(trial) -> value`` over data loaded once for this worker.

    ``keep_best_model``: upload ``model.keras`` when a trial beats every earlier one.
    ``scoring``: a trial's value is its best epoch's validation error (``best-epoch``) or its last
    epoch's (``last-epoch``, studies created before best-epoch scoring).
    ``objectives``: ``["error"]``, or the error and ``params`` (the model's parameter count) or
    ``seconds`` (its training time): a multi-objective trial returns both, and is never pruned.
    """

    keep_best_model = True

    def __init__(
        self,
        task: Task,
        family: StudyFamily | None,
        pins: dict[str, Any],
        versions: dict[str, str],
        scoring: str = attrs.BEST_EPOCH_SCORING,
        objectives: list[str] | None = None,
    ) -> None:
        self.task = task
        self.scoring = scoring
        self.objectives = objectives or ["error"]
        self.family = family
        self.pins = pins
        self.versions = versions
        self.data = DataCache(task)
        self.last_failure: str | None = None
        self.until: float | None = None  # when a trial's training must be over (time.time()): no epoch crosses it
        self.longest_epoch = 0.0  # seconds of the longest epoch any trial of this objective ran
        # Seconds the slowest trial of this objective spent after its last epoch (tested, recorded).
        self.finish = 0.0
        # room(number, started, setup, longest, tail, value): seconds before ``until`` trial
        # ``number`` leaves to the trials its worker still has to run for the budget (Worker.room).
        self.room: Callable[[int, float, float, float, float, float], float] | None = None

    def configure(self, trial: optuna.Trial) -> dict[str, Any]:
        """The trial's whole config: the family's space asked through the pins."""
        family = self.family
        return family.full_config(family.space(PinnedTrial(trial, self.pins)), self.pins, seed=trial.number)

    @property
    def prunes(self) -> bool:
        return len(self.objectives) == 1

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        self.last_failure = None
        try:
            config = self.configure(trial)
            trial.set_user_attr(attrs.CONFIG, config)
            value = self.task.run(trial, config, self)
            if self.prunes:
                return value
            second = {"params": attrs.PARAM_COUNT, "seconds": attrs.TRAIN_SECONDS}[self.objectives[1]]
            return value, float(trial.user_attrs.get(second, 0.0))
        except optuna.TrialPruned:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            self.last_failure = f"{type(exc).__name__}: {exc}"
            trial.set_user_attr(attrs.FAIL_REASON, self.last_failure)
            if isinstance(exc, Exception):  # not a stop by signal: the trial's own error
                trial.set_user_attr(attrs.ERROR, self.last_failure)
            raise


def train_trial(task: Task, trial: optuna.Trial, config: dict[str, Any], objective: Objective) -> float:
    """Fit ``config`` with pruning on the validation error; test, record and upload; return its value."""
    from optuna_integration import KerasPruningCallback

    trial.set_user_attr(attrs.VERSIONS, objective.versions)
    from search.checkpoints import Checkpoint, folder_of

    best = objective.scoring == attrs.BEST_EPOCH_SCORING
    started = time.time()
    trainer = None
    checkpoint = Checkpoint(folder_of(trial.study, trial))
    try:
        trainer = task.trainer(config, objective.data.get(config))
        trial.set_user_attr(attrs.PARAM_COUNT, trainer.param_count)
        if checkpoint.exists and not checkpoint.matches(config):
            log.warning("trial %d: %s holds another config's checkpoint; starting from epoch 0", trial.number, checkpoint.folder)
            checkpoint.remove()
        if checkpoint.exists:  # a stopped trial queued again: continue after its last finished epoch
            done = checkpoint.restore(trainer)
            trial.set_user_attr(attrs.RESUMED_FROM_EPOCH, done)
            for step, value in enumerate(trainer.record.val_errors):  # the new trial's curve: every epoch once
                trial.report(value, step)
            log.info("trial %d: resumed after epoch %d of %s", trial.number, done, checkpoint.folder)
        log.info("trial %d: %s", trial.number, config)
        pruning = [KerasPruningCallback(trial, "val_error")] if objective.prunes else []  # Optuna's pruners judge one objective
        room = None
        if objective.room is not None:
            worker_room, number = objective.room, trial.number

            def room(longest: float, tail: float, value: float) -> float:
                return worker_room(number, started, trainer.time_limit.began - started, longest, tail, value)

        try:
            trainer.fit(pruning, restore_best=best, checkpoint=checkpoint, until=objective.until, room=room)
        finally:
            if trainer.time_limit is not None:  # the worker starts no trial whose first epoch would cross the deadline
                objective.longest_epoch = max(objective.longest_epoch, trainer.time_limit.longest)
    except optuna.TrialPruned:
        checkpoint.remove()
        _record(task, trial, trainer, best=best)
        _timed_finish(objective, trainer)
        if trainer is not None and trainer.record.val_errors:
            restart_stuck_seed(trial, objective.family, min(trainer.record.val_errors))
        raise
    except KeyboardInterrupt:  # stopped: the checkpoint stays for the queued copy
        if trainer is not None:
            _record(task, trial, trainer, best=best, test=False)
        raise
    except Exception:
        checkpoint.remove()  # the config's own failure: nothing will continue it
        if trainer is not None:
            _record(task, trial, trainer, best=best, test=False)
        raise
    checkpoint.remove()
    record = trainer.record
    value = record.val_errors[record.scored_epoch(best) - 1]
    _record(task, trial, trainer, best=best)
    if objective.keep_best_model:
        from search.artifacts import upload_model_if_best

        upload_model_if_best(trial, trainer.model, value)
    _timed_finish(objective, trainer)
    return value


def _timed_finish(objective: Objective, trainer: Trainer | None) -> None:
    """Keep the seconds the trial took after its last epoch, if longer than any before."""
    limit = trainer.time_limit if trainer is not None else None
    if limit is not None and limit.ended:
        objective.finish = max(objective.finish, time.time() - limit.ended)


def _record(task: Task, trial: optuna.Trial, trainer: Trainer, *, best: bool, test: bool = True) -> None:
    """What the trial ran, its validation numbers at the scored epoch, and (``test``) its test numbers."""
    record = trainer.record
    trial.set_user_attr(attrs.EPOCHS, record.epochs)
    limit = trainer.time_limit
    if limit is not None and limit.hit:
        ended_by = "later_trials" if limit.yielded else "deadline" if limit.deadline_hit else "trial_timeout"
        trial.set_user_attr(attrs.ENDED_BY, ended_by)
    trial.set_user_attr(attrs.TRAIN_SECONDS, round(record.seconds, 3))
    trial.set_user_attr(attrs.LEARNING_RATES, record.learning_rates)
    for key, value in trainer.recorded().items():
        trial.set_user_attr(key, value)
    epoch = None
    if record.val_errors:
        epoch = record.scored_epoch(best)
        trial.set_user_attr(attrs.VAL_ERROR, record.val_errors[epoch - 1])
        trial.set_user_attr(attrs.VAL_ERROR_LAST, record.val_errors[-1])
        trial.set_user_attr(attrs.BEST_EPOCH, record.best_epoch)
    for key, value in trainer.validation_summary(epoch, final=test and bool(record.epochs)).items():
        trial.set_user_attr(key, value)
    if test and record.epochs:
        for key, value in trainer.evaluate_test().items():
            trial.set_user_attr(key, value)
    task.upload_artifacts(trial, trainer, tested=test)  # learning curves; the task's own
    if test:
        _save_note(task, trial)


def _save_note(task: Task, trial: optuna.Trial) -> None:
    """The finished trial in words, as optuna-dashboard's note of the trial (a convenience: a
    failure to write it is logged, never fails the trial)."""
    try:
        from optuna_dashboard import save_note

        save_note(trial, task.note(trial.params, trial.user_attrs))
    except Exception as exc:  # noqa: BLE001 - the note is a convenience, the trial's numbers are not
        log.warning("trial %d: dashboard note not saved: %s", trial.number, exc)
