"""Best-epoch scoring, learning-rate schedules and the per-trial time limit.

A trial's value is its best validation error over the epochs it ran (pruning still sees every
epoch); its test numbers and model are the best epoch's; export records that epoch and the
learning rates up to it, and ``train`` replays them. A study created before this scoring keeps
scoring by the last epoch when resumed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from conftest import TINY, cli, pins
from datasets import Splits
from search.training import ClassifierTrainer, cosine_rate

MLP = {
    "model": "mlp", "hidden_units": [32], "initializer": "glorot_uniform", "activation": "relu",
    "optimizer": "sgd", "learning_rate": 0.05, "regularizer": "none", "dropout": 0.0, "batch_norm": False,
    "batch_size": 32, "seed": 0,
}


def _noisy_splits(n: int = 600) -> Splits:
    """Two separable blobs plus label noise in validation: validation accuracy wanders by epoch."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3 * n)
    x = (rng.normal(size=(3 * n, 4, 4)) + y[:, None, None] * 0.6).astype("float32")
    return Splits(x[:n], y[:n], x[n : 2 * n], y[n : 2 * n], x[2 * n :], y[2 * n :], n_classes=2, source="blobs")


def test_cosine_rate_warms_up_then_decays_towards_zero() -> None:
    rates = [cosine_rate(0.1, e, 10, warmup=2) for e in range(10)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(rates[2:], rates[3:]))
    assert 0 < rates[-1] < 0.01
    assert cosine_rate(0.1, 0, 10) == 0.1


def test_a_cosine_trial_that_its_time_limit_ends_has_annealed() -> None:
    # Every epoch takes a little over 0.5 s and the limit is 3 s: about 6 of the 100 epochs run,
    # and the schedule spans those.
    import time

    import keras

    class Slow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.5)

    trainer = ClassifierTrainer({**MLP, "epochs": 100, "lr_schedule": "cosine", "trial_timeout": 3.0}, _noisy_splits(200))
    trainer.fit([Slow()])
    rates = trainer.record.learning_rates
    assert trainer.time_limit.hit and 3 <= len(rates) <= 8
    # Its last epoch ran at the rate a cosine over the epochs that ran ends at (over one more, if
    # the last epoch ran slower than the others); counted in epochs alone (100) it would have run
    # at 0.05 * 0.999.
    n = len(rates)
    assert rates[-1] <= cosine_rate(MLP["learning_rate"], n - 1, n + 1) * (1 + 1e-4)


def test_a_resumed_cosine_trial_keeps_the_pace_it_had() -> None:
    # Resumed at epoch 40 with epochs of 30 s behind it and 1500 s ahead: the schedule spans 40 +
    # 50 epochs from the first resumed epoch on, not the trial's 100 (which would raise the rate).
    from search.training import Cosine

    schedule = Cosine(0.1, 100, seconds=1500.0, pace=30.0)
    assert schedule.length(40) == 90
    assert Cosine(0.1, 100, seconds=1500.0).length(40) == 100  # no pace known yet: the epochs


def test_retraining_runs_every_epoch_whatever_the_trials_time_limit() -> None:
    # `train` replays the epochs the trial ran to its best: a time limit that ended the trial in
    # the search must not cut the retrained model short.
    trainer = ClassifierTrainer({**MLP, "epochs": 4, "trial_timeout": 0.001}, _noisy_splits(200))
    trainer.fit(with_validation=False, replay=[0.05, 0.04, 0.03, 0.02])
    assert trainer.record.epochs == 4 and trainer.time_limit is None


@pytest.mark.parametrize("schedule", ["constant", "cosine", "plateau"])
def test_the_trainer_records_every_epochs_rate_and_restores_the_best_epoch(schedule: str) -> None:
    splits = _noisy_splits()
    trainer = ClassifierTrainer({**MLP, "epochs": 8, "lr_schedule": schedule}, splits)
    trainer.fit()
    record = trainer.record
    assert len(record.learning_rates) == len(record.val_errors) == 8
    if schedule == "constant":
        assert record.learning_rates == [pytest.approx(0.05)] * 8
    if schedule == "cosine":
        assert record.learning_rates == sorted(record.learning_rates, reverse=True)
        assert record.learning_rates[-1] < 0.01
    # The weights the trainer holds now are the best epoch's: their validation error is the minimum.
    _, accuracy = trainer.model.evaluate(splits.x_val, splits.y_val, verbose=0)
    assert 1 - accuracy == pytest.approx(min(record.val_errors), abs=1e-6)
    assert record.best_epoch == int(np.argmin(record.val_errors)) + 1


@pytest.mark.parametrize("schedule", ["constant", "plateau"])
def test_a_warm_up_ramps_the_rate_before_any_schedule(schedule: str) -> None:
    trainer = ClassifierTrainer({**MLP, "epochs": 4, "lr_schedule": schedule, "warmup_epochs": 2}, _noisy_splits())
    trainer.fit()
    rates = trainer.record.learning_rates
    assert rates[:3] == [pytest.approx(0.05 / 3), pytest.approx(0.1 / 3), pytest.approx(0.05)]
    if schedule == "constant":
        assert rates[3] == pytest.approx(0.05)


def test_a_replayed_schedule_sets_the_recorded_rates() -> None:
    trainer = ClassifierTrainer({**MLP, "epochs": 3, "lr_schedule": "plateau"}, _noisy_splits())
    trainer.fit(with_validation=False, replay=[0.04, 0.02, 0.01])
    assert trainer.record.learning_rates == [pytest.approx(0.04), pytest.approx(0.02), pytest.approx(0.01)]


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def test_a_trial_is_scored_by_its_best_epoch_and_train_replays_it(storage: str, fashion: Path, tmp_path: Path) -> None:
    budget = pins("epochs=4", "train_limit=1500", "val_size=500", "lr_schedule=cosine", "warmup_epochs=0", "learning_rate=0.3", "optimizer=sgd")
    result = cli("launch", "fashion-mlp", "--workers", "1", "--trials", "2", "--storage", storage, *budget)
    assert result.returncode == 0, result.stderr[-2000:]
    study = _study(storage, "fashion-mlp")
    assert study.user_attrs["scoring"] == "best-epoch"
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        curve = [trial.intermediate_values[k] for k in sorted(trial.intermediate_values)]
        attrs = trial.user_attrs
        assert len(curve) == attrs["epochs"] == len(attrs["learning_rates"]) == 4
        assert trial.value == pytest.approx(min(curve)) == pytest.approx(attrs["val_error"])
        assert attrs["val_error_last"] == pytest.approx(curve[-1])
        assert curve[attrs["best_epoch"] - 1] == pytest.approx(min(curve))
        assert attrs["learning_rates"][0] == pytest.approx(0.3) and attrs["learning_rates"][-1] < 0.3

    out = tmp_path / "best.json"
    assert cli("export", "fashion-mlp", "--out", str(out), "--storage", storage).returncode == 0
    entry = json.loads(out.read_text())["trials"][0]
    best = study.trials[entry["trial"]].user_attrs
    assert entry["config"]["best_epoch"] == best["best_epoch"]
    assert entry["config"]["learning_rates"] == best["learning_rates"][: best["best_epoch"]]
    result = cli("train", str(out), "--out", str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["epochs"] == best["best_epoch"]


def test_a_study_made_before_best_epoch_scoring_keeps_last_epoch_scoring(storage: str, fashion: Path) -> None:
    assert cli("launch", "fashion-mlp", "--workers", "0", "--storage", storage).returncode == 0
    study = _study(storage, "fashion-mlp")
    # Earlier versions wrote no "scoring" attribute; Optuna cannot delete one, and None reads the same.
    study.set_user_attr("scoring", None)
    result = cli("launch", "fashion-mlp", "--workers", "1", "--trials", "1", "--storage", storage,
                 *pins(*TINY[1:], "epochs=3", "learning_rate=0.3", "optimizer=sgd"))
    assert result.returncode == 0, result.stderr[-2000:]
    trial = _study(storage, "fashion-mlp").trials[0]
    curve = [trial.intermediate_values[k] for k in sorted(trial.intermediate_values)]
    assert trial.value == pytest.approx(curve[-1])


def test_a_trial_past_its_time_limit_ends_scored_by_its_best_epoch(storage: str, fashion: Path) -> None:
    result = cli("launch", "fashion-mlp", "--workers", "1", "--trials", "1", "--trial-timeout", "0.001",
                 "--storage", storage, *pins(*TINY[1:], "epochs=5"))
    assert result.returncode == 0, result.stderr[-2000:]
    trial = _study(storage, "fashion-mlp").trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.user_attrs["epochs"] == 1 and trial.user_attrs["config"]["trial_timeout"] == 0.001
    assert math.isfinite(trial.value)


def test_no_epoch_crosses_the_search_deadline_and_the_schedule_anneals_before_it() -> None:
    # Epochs of a little over 1 s (the sleep counts: an epoch runs from the end of the one before)
    # and 5 s to the deadline: the trial ends before the epoch that would cross it (about 4
    # epochs), where the time limit alone ends after the one that does.
    import time

    import keras

    class Slow(keras.callbacks.Callback):
        """Sleeps after each epoch, and notes when each epoch ended (as the time limit saw it: it
        runs just before this)."""

        def __init__(self):
            super().__init__()
            self.ends: list[float] = []

        def on_train_begin(self, logs=None):
            self.ends.append(time.time())

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.time())
            time.sleep(1.0)

    trainer = ClassifierTrainer({**MLP, "epochs": 100, "lr_schedule": "cosine"}, _noisy_splits(200))
    until = time.time() + 5.0
    slow = Slow()
    trainer.fit([slow], until=until)
    rates = trainer.record.learning_rates
    assert trainer.time_limit.deadline_hit and 1 <= len(rates) <= 5  # epochs of over 1 s in 5 s
    # The rule, checked against the epochs as they ran (a loaded machine makes them uneven, so the
    # wall clock alone cannot say): after each epoch the trial went on only while the slowest epoch
    # so far still fitted before the deadline, and it stopped once it did not.
    lengths = [b - a for a, b in zip(slow.ends, slow.ends[1:])]
    slack = 0.05  # the time limit looks at the clock a moment before Slow does
    for i, end in enumerate(slow.ends[1:-1]):
        assert end + max(lengths[: i + 1]) <= until + slack, f"epoch {i + 2} started with too little time left"
    assert slow.ends[-1] + max(lengths) > until - slack
    n = len(rates)
    assert rates[-1] <= cosine_rate(MLP["learning_rate"], n - 1, n + 1) * (1 + 1e-4)


def test_a_trainer_that_reads_after_its_last_epoch_ends_it_in_time_to_read() -> None:
    # A clock trainer that reads its kept weights more ways than each epoch's check says how long
    # that will take (its tail): the deadline rule makes room for it as for the next epoch.
    import time

    from search.training import TimeLimit

    class Model:
        stop_training = False

    for tail, stops in ((None, False), (lambda: 0.0, False), (lambda: 700.0, True)):
        limit = TimeLimit(0.0, until=time.time() + 600, tail=tail)
        limit.set_model(Model())
        limit.on_train_begin()
        limit.on_epoch_end(0)
        assert limit.deadline_hit is stops and limit.model.stop_training is stops


def test_a_trial_asked_to_make_room_for_later_trials_ends_its_training_for_them() -> None:
    # The room its worker asks for counts against the deadline like the next epoch: a trial asked
    # for 700 s of the 600 left stops now, says so, and its cosine schedule spans only the epochs
    # that leave that room (10 of 30 s in 315 s, against 20 with none asked for).
    import time

    from search.training import Cosine, TimeLimit

    class Model:
        stop_training = False

    for room, stops in ((None, False), (lambda longest, tail, value: 0.0, False), (lambda longest, tail, value: 700.0, True)):
        limit = TimeLimit(0.0, until=time.time() + 600, room=room)
        limit.set_model(Model())
        limit.on_train_begin()
        limit.on_epoch_end(0)
        assert limit.yielded is stops and limit.deadline_hit is stops and limit.model.stop_training is stops
    asked: list[float] = []  # what the worker ranks the trial by: this epoch's validation error
    limit = TimeLimit(0.0, until=time.time() + 600, room=lambda longest, tail, value: asked.append(value) or 0.0)
    limit.set_model(Model())
    limit.on_train_begin()
    limit.on_epoch_end(0, {"val_error": 175.5})
    assert asked == [175.5]
    for room, epochs in ((None, 20), (lambda: 300.0, 10)):
        schedule = Cosine(0.1, 100, pace=30.0, until=time.time() + 615, room=room)
        schedule.on_train_begin()
        assert schedule.length(0) == epochs


def test_the_running_trial_of_worst_value_so_far_is_the_one_to_make_room() -> None:
    from search.worker import yielding_trial

    study = optuna.create_study()
    study.tell(study.ask(), 50.0)
    seed, reference = study.ask(), study.ask()
    for epoch, (s, r) in enumerate(((175.5, 182.4), (88.4, 179.3))):
        seed.report(s, epoch)
        reference.report(r, epoch)
    # 5 trials asked for, 1 finished, 2 running: 2 still to start, and the reference at chance makes room
    assert yielding_trial(study.get_trials(), 5) == (2, reference.number)
    assert yielding_trial(study.get_trials(), 5, minimize=False) == (2, seed.number)
    fresh = study.ask()  # yet to report a value: the one to make room
    assert yielding_trial(study.get_trials(), 5) == (1, fresh.number)
    # unless it is the one asking, at the end of its first epoch, before its pruning callback
    # reports that epoch: its value then is the one it passes (a slow evening's seed, at 175.5
    # beside the reference's 182.4, once gave up its time for want of it)
    assert yielding_trial(study.get_trials(), 5, own=(fresh.number, 170.0)) == (1, reference.number)
    assert yielding_trial(study.get_trials(), 4) == (0, None)


def test_a_worker_makes_room_for_the_budget_only_when_it_fits_before_the_deadline(tmp_path: Path) -> None:
    # Each later trial needs its model built, one epoch and its test (the reserve until this
    # worker has timed one): 2 x (2 + 10 + 30) s of a 10-minute search for the budget of 4; the
    # better trial makes none; a budget of 1000 cannot fit, so no trial gives up its time for it.
    import time

    from search.study import create_study
    from search.worker import Worker
    from studies import get_family

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    create_study(url, "smoke", get_family("smoke"), "none")
    worker = Worker(url, "smoke", {}, until=time.time() + 600.0, span=600.0)
    study = optuna.load_study(study_name="smoke", storage=url)  # the trials the worker reads, made by hand
    while study.get_trials(states=(optuna.trial.TrialState.WAITING,)):  # the enqueued reference
        study.tell(study.ask(), 0.5)
    better, worse = study.ask(), study.ask()
    better.report(0.2, 0)
    worse.report(0.4, 0)
    worker.budget = 1 + 2 + 2  # the finished reference, the two running, and two more
    now = time.time()
    assert worker.room(worse.number, now, setup=2.0, longest=10.0, tail=0.0) == pytest.approx(2 * (2 + 10 + 30))
    assert worker.room(better.number, now, setup=2.0, longest=10.0, tail=0.0) == 0.0
    worker.objective.finish = 5.0  # timed: a trial here took 5 s after its last epoch
    assert worker.room(worse.number, now, setup=2.0, longest=10.0, tail=0.0) == pytest.approx(2 * (2 + 10 + 5))
    worker.budget = 1000
    assert worker.room(worse.number, now, setup=2.0, longest=10.0, tail=0.0) == 0.0


def test_a_worker_started_late_keeps_its_searchs_reserves(tmp_path: Path) -> None:
    # A Ray replacement starts with 100 s of a 30-minute search left: it still starts no trial in
    # the last 60 s and ends training 30 s early, as the first workers do, where sizing them by
    # its own 100 s would leave 10 s for a trial's test and artifacts.
    import time

    from search.launcher import worker_command
    from search.study import create_study
    from search.worker import Worker
    from studies import get_family

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    create_study(url, "smoke", get_family("smoke"), "none")
    until = time.time() + 100.0
    late = Worker(url, "smoke", {}, until=until, span=1800.0)
    assert late.last_start == 60.0 and late.objective.until == pytest.approx(until - 30.0)
    alone = Worker(url, "smoke", {}, until=until)  # a worker started by hand: the time it has left
    assert alone.last_start == pytest.approx(10.0, abs=0.5) and alone.objective.until == pytest.approx(until - 10.0, abs=0.5)
    command = worker_command(url, "smoke", 3, 1, [], 2, until, 1800.0)
    assert command[command.index("--span") + 1] == "1800"


def test_the_launcher_places_a_replacement_only_where_a_worker_would_start_a_trial() -> None:
    # The launcher's check before it replaces a lost Ray worker uses the same last-start reserve
    # as the workers themselves: a minute of a 30-minute search, 3 s of a 30-second one.
    from search.launcher import too_late_to_start

    until = 10_000.0
    assert not too_late_to_start(None, None, now=until)  # no deadline: never too late
    assert not too_late_to_start(until, 1800.0, now=until - 61) and too_late_to_start(until, 1800.0, now=until - 59)
    assert not too_late_to_start(until, 30.0, now=until - 4) and too_late_to_start(until, 30.0, now=until - 2)
    assert too_late_to_start(until, None, now=until - 59)  # a span nobody gave: a minute


def test_a_worker_starts_no_trial_whose_first_epoch_would_cross_the_deadline(storage: str, fashion: Path) -> None:
    # A worker measures its epochs; once less time is left before training must be over than its
    # longest epoch took, it starts no trial, where one would still be in its first epoch when the
    # launcher stops the worker, and the search would end stopped, a trial queued again.
    import time

    from search.study import create_study
    from search.worker import Worker
    from studies import get_family

    create_study(storage, "fashion-mlp", get_family("fashion-mlp"), "none")
    budget = {"epochs": 2, "train_limit": 1500, "val_size": 500}
    until = time.time() + 1800.0
    worker = Worker(storage, "fashion-mlp", budget, until=until, span=1800.0)
    assert worker.objective.longest_epoch == 0.0 and not worker.first_epoch_would_cross()
    assert worker.run(1) == 1
    measured = worker.objective.longest_epoch
    assert measured > 0.0  # the trial's epochs, measured

    # The same worker with 30 s of training time left (training ends 30 s before the deadline).
    worker.until = time.time() + 60.0
    worker.last_start = 0.0  # only the new rule: the minute's reserve would stop it too
    worker.objective.until = worker.until - 30.0
    worker.objective.longest_epoch = 45.0
    assert worker.first_epoch_would_cross()
    assert worker.run(2) == 0
    assert len(_study(storage, "fashion-mlp").trials) == 1  # no trial started
    worker.objective.longest_epoch = 10.0  # an epoch that fits: the worker goes on
    assert not worker.first_epoch_would_cross()
    assert worker.run(2) == 1
