"""The common-sense error and the clock heads' encode / decode round trip."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.clocktime import MINUTES, common_sense_error, error_summary, minute_hand_error, split_minutes, to_minutes

ALL_TIMES = np.arange(MINUTES)


def test_common_sense_error_examples() -> None:
    assert common_sense_error(to_minutes(0, 5), to_minutes(11, 55)) == 10  # 0:05 vs 11:55
    assert common_sense_error(to_minutes(12, 0), to_minutes(0, 0)) == 0  # 12 reads as 0
    assert common_sense_error(to_minutes(3, 0), to_minutes(9, 0)) == 360


def test_common_sense_error_properties() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, MINUTES, 10_000), rng.uniform(0, MINUTES, 10_000)
    err = common_sense_error(a, b)
    np.testing.assert_allclose(err, common_sense_error(b, a))  # symmetric
    assert err.max() <= 360 and err.min() >= 0  # never above half a turn
    np.testing.assert_allclose(common_sense_error(a, a + MINUTES), 0, atol=1e-9)  # wraps at 12:00
    assert (common_sense_error(a, b)[a != b] > 0).all()  # zero only for equal times
    np.testing.assert_allclose(common_sense_error(a, b), common_sense_error(a + 5, b + 5), atol=1e-9)


def test_split_minutes_round_trip() -> None:
    hour, minute = split_minutes(ALL_TIMES)
    np.testing.assert_array_equal(to_minutes(hour, minute), ALL_TIMES)


def test_error_summary() -> None:
    summary = error_summary(np.array([0, 1, 4, 9, 100]))
    assert summary["mean"] == pytest.approx(22.8) and summary["median"] == 4
    assert summary["within_1"] == 0.4 and summary["within_5"] == 0.6 and summary["within_10"] == 0.8



def test_the_minute_hand_error_ignores_the_hour_and_a_guess_scores_15() -> None:
    # 3:10 read as 4:12 is an hour off but its long hand is 2 minutes off; 11:58 as 0:03, 5.
    true, read = to_minutes(np.array([3, 11]), np.array([10, 58])), to_minutes(np.array([4, 0]), np.array([12, 3]))
    np.testing.assert_allclose(minute_hand_error(true, read), [2, 5])
    rng = np.random.default_rng(0)
    guess = minute_hand_error(rng.integers(0, MINUTES, 100_000), rng.integers(0, MINUTES, 100_000))
    assert guess.max() <= 30 and guess.mean() == pytest.approx(15, abs=0.2)


keras = pytest.importorskip("keras")
from models.clock_heads import CLASS_COUNTS, MINUTE_HEADS, head_from_config, reconcile  # noqa: E402
from studies.clock import CLOCK_REFERENCE  # noqa: E402

# The reference's recipe shrunk to a network that builds and evaluates in a moment (24 px photos).
TINY_NETWORK = {**CLOCK_REFERENCE, "input_size": 24, "conv_blocks": 2, "filters": 4, "dense_units": 8}

HEAD_CONFIGS = (
    [{"head": "regression", "regression_loss": loss} for loss in ("mse", "circular")]
    + [{"head": "classification", "classes": n} for n in CLASS_COUNTS]
    + [{"head": "multi", "minute_head": m} for m in MINUTE_HEADS]
    + [{"head": "periodic", "pairs": p} for p in (1, 2)]
)
IDS = ["-".join(str(v) for v in c.values()) for c in HEAD_CONFIGS]


def _as_outputs(head, targets: dict) -> dict:
    """What a perfect network would output: class targets become one-hot probabilities."""
    outputs = {}
    for name, target in targets.items():
        if target.dtype.kind == "i":
            width = {"time_class": getattr(head, "classes", 0), "hour": 12, "minute": 60}[name]
            outputs[name] = np.eye(width, dtype=np.float32)[target]
        else:
            outputs[name] = target
    return outputs


@pytest.mark.parametrize("config", HEAD_CONFIGS, ids=IDS)
def test_decode_of_encode_is_within_resolution_for_all_720_times(config: dict) -> None:
    head = head_from_config(config)
    decoded = head.decode(_as_outputs(head, head.encode(ALL_TIMES)))
    assert decoded.shape == (MINUTES,)
    assert ((decoded >= 0) & (decoded < MINUTES)).all()
    assert common_sense_error(ALL_TIMES, decoded).max() <= head.resolution + 1e-6


def test_reconcile_at_the_hour_boundary() -> None:
    # The hour hand is nearly at 3 (2.98) and the minute hand says 59: that is 2:59, not 3:59.
    assert reconcile(np.array([2.98]), np.array([59.0]))[0] == to_minutes(2, 59)
    # Just past the hour: the hand a little past 3, minute 1 -> 3:01.
    assert reconcile(np.array([3.02]), np.array([1.0]))[0] == to_minutes(3, 1)
    # Across 12: hand at 11.99, minute 59 -> 11:59; hand at 0.01, minute 0 -> 12:00.
    assert reconcile(np.array([11.99, 0.01]), np.array([59.0, 0.0])).tolist() == [to_minutes(11, 59), 0]


def test_multi_head_reconciles_a_split_hour_vote() -> None:
    head = head_from_config({"head": "multi", "minute_head": "classification"})
    hour = np.zeros((1, 12), np.float32)
    hour[0, 2], hour[0, 3] = 0.45, 0.55  # the network cannot decide between 2 and 3...
    minute = np.eye(60, dtype=np.float32)[[58]]  # ...but the minute hand is at 58
    assert head.decode({"hour": hour, "minute": minute})[0] == to_minutes(2, 58)


def test_keras_metric_matches_the_numpy_error() -> None:
    from models.metrics import MeanCommonSenseError

    rng = np.random.default_rng(1)
    true, pred = rng.uniform(0, 12, (64, 1)), rng.uniform(0, 12, (64, 1))  # hours
    metric = MeanCommonSenseError(scale=60.0)
    metric.update_state(true.astype("float32"), pred.astype("float32"))
    expected = common_sense_error(true[:, 0] * 60, pred[:, 0] * 60).mean()
    assert float(metric.result()) == pytest.approx(expected, rel=1e-4)
    wrapped = MeanCommonSenseError()
    wrapped.update_state(np.array([[5.0]], "float32"), np.array([[715.0]], "float32"))  # 0:05 vs 11:55
    assert float(wrapped.result()) == pytest.approx(10.0)


def test_the_regression_head_averages_readings_on_the_dial() -> None:
    from models.clock_heads import RegressionHead

    readings = [{"hours": np.array([[11.9], [3.0]])}, {"hours": np.array([[0.1], [5.0]])}]
    averaged = RegressionHead().average(readings)["hours"]
    assert common_sense_error(averaged[0] * 60, 0) < 1e-6  # 11:54 and 0:06 average to 12:00, not 6:00
    assert averaged[1] == pytest.approx(4.0)


def test_the_multi_head_averages_a_regression_minute_on_its_circle() -> None:
    from models.clock_heads import MultiHead

    hour = np.eye(12)[[2, 2]]
    readings = [{"hour": hour, "minute": np.array([[0.98], [0.25]])}, {"hour": hour, "minute": np.array([[0.02], [0.35]])}]
    averaged = MultiHead("regression").average(readings)
    minute = averaged["minute"][0, 0]
    assert min(minute, 1 - minute) < 1e-6  # 0:59 and 0:01 average to the full hour, not 0:30
    assert averaged["minute"][1, 0] == pytest.approx(0.3)


@pytest.mark.parametrize("head,turns", [("periodic", 4), ("multi", 4), ("regression", 2), ("classification", 4)])
def test_a_photo_turned_by_a_quarter_reads_the_same_time_when_read_four_ways(head: str, turns: int) -> None:
    # Turning a photo does not change the time it shows; reading every photo at each quarter turn
    # (or half turn) and averaging makes the reading itself ignore the turn, whatever the weights.
    from models.clock import build_clock_model
    from models.clock_heads import head_from_config, read_clocks

    config = {**TINY_NETWORK, "head": head, "pairs": 2, "classes": 72}
    keras.utils.set_random_seed(0)
    clock_head = head_from_config(config)
    model = build_clock_model(config, clock_head)
    photos = np.random.default_rng(0).integers(0, 256, (6, 24, 24), dtype=np.uint8)
    turned = np.rot90(photos, 4 // turns, axes=(1, 2))
    if head != "classification":  # an untrained classifier may give every photo the same class
        once = read_clocks(model, clock_head, photos)
        assert not np.allclose(common_sense_error(once, read_clocks(model, clock_head, turned)), 0, atol=1e-3)
    four_ways = read_clocks(model, clock_head, photos, turns)
    np.testing.assert_allclose(common_sense_error(four_ways, read_clocks(model, clock_head, turned, turns)), 0, atol=1e-3)
    with pytest.raises(ValueError, match="one of 1, 2, 4, 8, 16"):
        read_clocks(model, clock_head, photos, 3)


def test_an_eighth_turn_turns_the_dial_the_way_quarter_turns_do() -> None:
    # A photo with one hand pointing at 12: an eighth turn points it half way to where a quarter
    # turn (np.rot90, the exact views) points it, and a quarter turn in eighths is the exact one.
    from models.clock_heads import turned

    photo = np.zeros((1, 33, 33), dtype=np.uint8)
    photo[0, 2:16, 16] = 255  # from the centre (16, 16) up to the top edge
    quarter = turned(photo, 2, 8)
    np.testing.assert_array_equal(quarter, np.rot90(photo, 1, axes=(1, 2)))
    assert quarter.dtype == np.uint8
    eighth = turned(photo, 1, 8)
    assert eighth.dtype == np.uint8
    rows, cols = np.nonzero(eighth[0] > 128)
    hand = np.array([rows.mean() - 16, cols.mean() - 16])  # rot90 takes "up" (-1, 0) to "left" (0, -1)
    assert hand[0] < -2 and hand[1] < -2 and abs(hand[0] - hand[1]) < 1.0  # up and left, on the diagonal


@pytest.mark.parametrize("head", ["periodic", "multi"])
def test_reading_at_eighth_turns_ignores_a_quarter_turn_of_the_photo(head: str) -> None:
    from models.clock import build_clock_model
    from models.clock_heads import head_from_config, read_clocks

    config = {**TINY_NETWORK, "head": head, "pairs": 2}
    keras.utils.set_random_seed(0)
    clock_head = head_from_config(config)
    model = build_clock_model(config, clock_head)
    photos = np.random.default_rng(1).integers(0, 256, (6, 24, 24), dtype=np.uint8)
    turned = np.rot90(photos, 1, axes=(1, 2))
    eight = read_clocks(model, clock_head, photos, 8)
    assert not np.allclose(common_sense_error(eight, read_clocks(model, clock_head, photos, 4)), 0, atol=1e-3)
    # The odd eighths resample: a pixel may round the other way, so equal within a fraction of a minute.
    np.testing.assert_allclose(common_sense_error(eight, read_clocks(model, clock_head, turned, 8)), 0, atol=0.1)


def test_a_trial_reading_eight_ways_checks_its_epochs_four_ways_and_reads_its_kept_weights_eight(tmp_path, monkeypatch) -> None:
    # Each epoch's check (what picks the best epoch) reads four ways; the weights kept are then
    # read eight ways, validation and test alike, and the trainer says what that adds to the time
    # after its last epoch (nothing at four ways, which the worker's reserve already covers).
    from datasets.synth import synthesize
    from search.data import prepare
    from search.tasks import clock_trainer
    from search.tasks.clock_trainer import ClockTrainer, summary_of

    synthesize(tmp_path / "clock", 200, seed=5, style="clean")
    turns: list[int] = []
    real = clock_trainer.read_clocks

    def counting(model, head, images, n=1):
        turns.append(n)
        return real(model, head, images, n)

    monkeypatch.setattr(clock_trainer, "read_clocks", counting)
    config = {**TINY_NETWORK, "input_size": 32, "family": "clock", "dataset": "clock", "epochs": 2, "val_size": 100,
              "train_limit": None, "data_dir": str(tmp_path / "clock"), "seed": 0, "read_turns": 8}
    trainer = ClockTrainer(config, prepare(config))
    trainer.fit()
    assert turns == [4, 4]
    epoch = trainer.record.best_epoch
    assert trainer.validation_summary(epoch)["val_mean"] == trainer.record.val_errors[epoch - 1]
    s = trainer.splits
    final = trainer.validation_summary(epoch, final=True)
    assert turns[-1] == 8
    assert final["val_mean"] == pytest.approx(summary_of(s.y_val, real(trainer.model, trainer.head, s.x_val, 8))["mean"])
    assert trainer.evaluate_test()["test_mean"] == pytest.approx(summary_of(s.y_test, trainer.test_minutes)["mean"])
    assert turns[-1] == 8
    tail = trainer.final_seconds()
    check = trainer._check.seconds
    assert check > 0 and tail == pytest.approx(check / 4 / len(s.x_val) * (8 * (len(s.x_val) + len(s.x_test)) - 4 * len(s.x_test)))
    trainer.config = {**config, "read_turns": 4}
    assert trainer.final_seconds() == 0.0


def _tiny_model(config: dict):
    """The head, the compiled tiny model, 8 random photos and their targets at 0:00, 1:30, ... 10:30."""
    from models.clock import build_clock_model

    keras.utils.set_random_seed(0)
    head = head_from_config(config)
    model = build_clock_model(config, head)
    photos = np.random.default_rng(0).integers(0, 256, (8, 24, 24), dtype=np.uint8)
    return head, model, photos, head.encode(np.arange(8) * 90)


@pytest.mark.parametrize("config,hour", [({"head": "periodic", "pairs": 2}, "hour_angle"), ({"head": "multi", "minute_head": "sincos"}, "hour")])
def test_hour_weight_weighs_the_hour_loss_beside_the_minutes(config: dict, hour: str) -> None:
    # A short hand read 15 degrees off costs an hour; a minute hand read 15 degrees off costs 2.5
    # minutes. hour_weight lets the loss say so: the total is weight x hour loss + minute loss.
    base = {**TINY_NETWORK, **config}
    losses = {}
    for weight in (1.0, 4.0):
        _, model, photos, targets = _tiny_model({**base, "hour_weight": weight})
        losses[weight] = model.evaluate(photos, targets, verbose=0, return_dict=True)
    for weight, out in losses.items():
        assert out["loss"] == pytest.approx(weight * out[f"{hour}_loss"] + out["minute_loss" if hour == "hour" else "minute_angle_loss"], rel=1e-4)
    assert losses[4.0][f"{hour}_loss"] == pytest.approx(losses[1.0][f"{hour}_loss"], rel=1e-5)  # same weights, same reading
    assert losses[4.0]["loss"] > losses[1.0]["loss"]


@pytest.mark.parametrize("config", [{"head": "regression"}, {"head": "classification", "classes": 12}, {"head": "periodic", "pairs": 1}])
def test_heads_with_one_output_ignore_the_hour_weight(config: dict) -> None:
    # Like pairs or classes, the key belongs to some heads: a pinned weight in a search whose head
    # is searched applies to the trials that have an hour and a minute output, and fails no other.
    assert head_from_config({**config, "hour_weight": 2.0}).loss_weights() is None


def test_a_model_trained_with_an_hour_weight_saves_and_loads_with_it(tmp_path) -> None:
    _, model, photos, targets = _tiny_model({**TINY_NETWORK, "head": "periodic", "pairs": 2, "hour_weight": 4.0})
    before = model.evaluate(photos, targets, verbose=0, return_dict=True)
    model.save(tmp_path / "model.keras")
    after = keras.models.load_model(tmp_path / "model.keras").evaluate(photos, targets, verbose=0, return_dict=True)
    assert after["loss"] == pytest.approx(before["loss"], rel=1e-5)
    assert after["loss"] == pytest.approx(4 * after["hour_angle_loss"] + after["minute_angle_loss"], rel=1e-4)


def test_the_clock_family_takes_an_hour_weight_pin_and_refuses_a_bad_one() -> None:
    from search.errors import UserError
    from search.pins import check_pins
    from studies.clock import CLOCK

    check_pins(CLOCK, {"hour_weight": 3.0})  # accepted beyond the searched space
    with pytest.raises(UserError, match="hour_weight"):
        check_pins(CLOCK, {"hour_weight": 0})


def test_the_hands_angle_is_what_two_hands_show_at_any_turn_of_the_dial() -> None:
    # 3:00: the minute hand at 12, the hour hand at 3, a quarter turn before it (0.75 of a turn
    # from the hour hand to the minute hand, clockwise); 6:00 half a turn; 12:00 and 0:00 none;
    # 1:05:27 (65 5/11 minutes) the hands overlap again.
    head = head_from_config({"head": "periodic", "pairs": 2, "gap_weight": 1.0})
    gap = head.encode(np.array([180, 360, 0, 720 / 11.0]))["hand_gap"]
    np.testing.assert_allclose(gap, [[-1, 0], [0, -1], [0, 1], [0, 1]], atol=1e-6)
    # What the minute and hour angles the head already outputs say, taken one from the other.
    minutes = np.arange(MINUTES)
    angles = head.encode(minutes)
    hour, minute = (np.arctan2(angles[k][:, 0], angles[k][:, 1]) for k in ("hour_angle", "minute_angle"))
    np.testing.assert_allclose(angles["hand_gap"], np.stack([np.sin(minute - hour), np.cos(minute - hour)], -1), atol=1e-5)


@pytest.mark.parametrize("config", HEAD_CONFIGS, ids=IDS)
def test_the_hands_angle_is_only_learned_from_without_gap_read(config: dict) -> None:
    # The extra output changes the loss, not the reading: any outputs decode as the head's own.
    plain, with_gap = head_from_config(config), head_from_config({**config, "gap_weight": 2.0})
    targets = with_gap.encode(ALL_TIMES)
    assert set(targets) == set(plain.encode(ALL_TIMES)) | {"hand_gap"}
    outputs = _as_outputs(plain, {k: v for k, v in targets.items() if k != "hand_gap"})
    scrambled = {**outputs, "hand_gap": np.random.default_rng(0).uniform(-1, 1, (MINUTES, 2))}
    np.testing.assert_array_equal(with_gap.decode(scrambled), plain.decode(outputs))
    assert with_gap.loss_weights()["hand_gap"] == 2.0
    assert head_from_config({**config, "gap_weight": 0}).loss_weights() == plain.loss_weights()


@pytest.mark.parametrize("config", HEAD_CONFIGS, ids=IDS)
def test_reading_the_hands_angle_keeps_every_true_reading(config: dict) -> None:
    # Perfect outputs read the same with the angle read at any weight; heads that read the time as
    # one number (no hour and minute hand apart) ignore gap_read.
    plain = head_from_config(config)
    outputs = _as_outputs(plain, plain.encode(ALL_TIMES))
    exact = head_from_config({**config, "gap_weight": 1.0}).encode(ALL_TIMES)["hand_gap"]
    for read in (0.5, 1.0, 4.0):
        head = head_from_config({**config, "gap_weight": 1.0, "gap_read": read})
        np.testing.assert_allclose(common_sense_error(head.decode({**outputs, "hand_gap": exact}), ALL_TIMES), 0, atol=plain.resolution)
        if plain.hands(outputs) is None:
            scrambled = {**outputs, "hand_gap": np.random.default_rng(0).uniform(-1, 1, (MINUTES, 2))}
            np.testing.assert_array_equal(head.decode(scrambled), plain.decode(outputs))


@pytest.mark.parametrize("config,hour", [({"head": "periodic", "pairs": 2}, "hour_angle"), ({"head": "multi", "minute_head": "sincos"}, "hour")])
def test_reading_the_hands_angle_mends_an_unsure_hour_hand(config: dict, hour: str) -> None:
    # The minute hand and the hands' angle read right, the hour output two hours off and unsure
    # (a short vector; a flat-ish 12-way split): read alone it costs 120 min, with the angle read
    # the hour hand is where the other two put it. A sure, wrong hour output outweighs the angle
    # at a small weight: the read is a weighted vote, not an override.
    times = ALL_TIMES
    head = head_from_config({**config, "gap_weight": 1.0, "gap_read": 1.0})
    true, wrong = head.encode(times), head.encode((times + 120) % MINUTES)
    if hour == "hour":
        unsure = 0.5 / 12 + 0.15 * np.eye(12)[wrong["hour"]]
    else:
        unsure = 0.15 * wrong["hour_angle"]
    outputs = {**_as_outputs(head.inner, {k: v for k, v in true.items() if k != "hand_gap"}), hour: unsure, "hand_gap": true["hand_gap"]}
    assert common_sense_error(head.inner.decode(outputs), times).mean() == pytest.approx(120)
    np.testing.assert_allclose(common_sense_error(head.decode(outputs), times), 0, atol=1e-3)
    sure = {**outputs, hour: np.eye(12)[wrong["hour"]] if hour == "hour" else wrong["hour_angle"]}
    slight = head_from_config({**config, "gap_weight": 1.0, "gap_read": 0.25})
    assert common_sense_error(slight.decode(sure), times).min() > 59.9  # an hour off or two, never right


def test_a_model_with_the_hands_angle_weighs_its_loss_reads_four_ways_and_saves(tmp_path) -> None:
    from models.clock_heads import read_clocks

    config = {**TINY_NETWORK, "head": "multi", "minute_head": "sincos", "hour_weight": 2.0, "gap_weight": 0.5}
    head, model, photos, targets = _tiny_model(config)
    out = model.evaluate(photos, targets, verbose=0, return_dict=True)
    assert out["loss"] == pytest.approx(2 * out["hour_loss"] + out["minute_loss"] + 0.5 * out["hand_gap_loss"], rel=1e-4)
    four_ways = read_clocks(model, head, photos, 4)
    np.testing.assert_allclose(common_sense_error(four_ways, read_clocks(model, head, np.rot90(photos, 1, axes=(1, 2)), 4)), 0, atol=1e-3)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.evaluate(photos, targets, verbose=0, return_dict=True)["loss"] == pytest.approx(out["loss"], rel=1e-5)
    np.testing.assert_allclose(read_clocks(loaded, head, photos, 4), four_ways, atol=1e-6)


def test_the_clock_family_searches_the_hands_angle_and_refuses_a_negative_weight() -> None:
    import optuna

    from search.errors import UserError
    from search.pins import check_pins
    from studies.clock import CLOCK, CLOCK_REFERENCE_PARAMS, CLOCK_TWO_HANDS_PARAMS

    trial = optuna.trial.FixedTrial({**CLOCK_TWO_HANDS_PARAMS, "gap_weight": 1.0})
    assert CLOCK.space(trial)["gap_weight"] == 1.0
    # The enqueued trials name it, so the sampler never draws it for them.
    assert CLOCK_REFERENCE_PARAMS["gap_weight"] == 0.0 and CLOCK_TWO_HANDS_PARAMS["gap_weight"] == 1.0
    check_pins(CLOCK, {"gap_weight": 0.5})
    with pytest.raises(UserError, match="gap_weight"):
        check_pins(CLOCK, {"gap_weight": -1})
