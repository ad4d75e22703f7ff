"""The clock backbone's alignment stage: a spatial transformer that learns, starts as the identity,
samples where its transform says, and survives a save and load inside a clock model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from models import ConfigError, check_config
from studies.clock import CLOCK_REFERENCE

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
from models.align import SpatialTransformer, warp  # noqa: E402
from models.clock import build_clock_model  # noqa: E402
from models.clock_heads import head_from_config  # noqa: E402

KINDS = ("affine", "perspective")


def _photos(n: int = 4, size: int = 40) -> np.ndarray:
    return np.random.default_rng(0).random((n, size, size, 1)).astype("float32")


@pytest.mark.parametrize("kind", KINDS)
def test_the_untrained_stage_passes_the_photo_through(kind: str) -> None:
    photos = _photos()
    out = keras.ops.convert_to_numpy(SpatialTransformer(kind)(photos))
    np.testing.assert_allclose(out, photos, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_the_reading_loss_reaches_the_transform(kind: str) -> None:
    """The sampler carries gradient to the transform; after one step, to the whole localisation net."""
    layer = SpatialTransformer(kind)
    photos = tf.constant(_photos())
    target = tf.constant(np.random.default_rng(1).random(photos.shape).astype("float32"))

    def gradients() -> dict[str, np.ndarray]:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((layer(photos) - target) ** 2)
        grads = tape.gradient(loss, layer.trainable_variables)
        assert all(g is not None for g in grads)
        return {v.path.split("/", 1)[1]: g.numpy() for v, g in zip(layer.trainable_variables, grads)}

    first = gradients()
    for name in ("loc_theta/kernel", "loc_theta/bias"):
        assert np.isfinite(first[name]).all() and np.abs(first[name]).max() > 0, name
    keras.optimizers.SGD(0.1).apply(list(first.values()), layer.trainable_variables)
    after = gradients()
    assert all(np.isfinite(g).all() for g in after.values())
    assert np.abs(after["loc_conv0/kernel"]).max() > 0  # the zero final kernel no longer blocks it


def test_a_quarter_turn_samples_the_rotated_pixels() -> None:
    photos = _photos(2, 9)
    # Each output pixel (x, y) reads the source at (-y, x): the photo turned a quarter anticlockwise.
    turn = np.tile(np.array([[0.0, -1.0, 0.0, 1.0, 0.0, 0.0]], "float32"), (2, 1))
    out = keras.ops.convert_to_numpy(warp(photos, turn))
    np.testing.assert_allclose(out[..., 0], np.rot90(photos[..., 0], 1, axes=(1, 2)), atol=1e-5)
    # The same turn as a homography with no perspective part samples the same pixels.
    homography = np.concatenate([turn, np.zeros((2, 2), "float32")], axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(warp(photos, homography)), out, atol=1e-5)


def test_a_half_pixel_shift_interpolates_between_neighbours() -> None:
    photos = _photos(1, 5)
    shift = np.array([[1.0, 0.0, 0.5 * 2 / 4, 0.0, 1.0, 0.0]], "float32")  # half a pixel to the right
    out = keras.ops.convert_to_numpy(warp(photos, shift))[0, :, :-1, 0]
    np.testing.assert_allclose(out, (photos[0, :, :-1, 0] + photos[0, :, 1:, 0]) / 2, atol=1e-5)


def test_a_gated_stage_passes_the_photo_through_until_its_gate_opens() -> None:
    photos = _photos()
    layer = SpatialTransformer("affine", gated=True)
    layer(photos)
    layer.theta.bias.assign(np.array([0.8, 0.2, 0.1, -0.2, 0.9, 0.0], "float32"))  # not the identity
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(photos)), photos, atol=1e-5)
    layer.gate.assign(1.0)
    assert np.abs(keras.ops.convert_to_numpy(layer(photos)) - photos).max() > 0.05


def test_a_slower_localisation_net_moves_its_features_that_much_less_per_adam_step() -> None:
    """Adam steps every weight by about the learning rate whatever its gradient, so scaling the
    output of the transform alone leaves the localisation net's convolutions as fast as the
    reader's: LOC_RATE slows the whole net (BENCHMARKS.md: at full speed it died or broke the reader)."""
    photos = tf.constant(_photos())
    target = tf.constant(np.random.default_rng(1).random(photos.shape).astype("float32"))

    def feature_change(loc_rate: float) -> float:
        keras.utils.set_random_seed(0)
        layer = SpatialTransformer("affine", rate=1.0, activation="leaky_relu", loc_rate=loc_rate)
        layer(photos)
        layer.theta.kernel.assign(np.full(layer.theta.kernel.shape, 0.01, "float32"))  # let gradient reach the net
        conv = layer.convs[0]
        before = loc_rate * conv(photos)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((layer(photos) - target) ** 2)
        grads = tape.gradient(loss, layer.trainable_variables)
        keras.optimizers.Adam(3e-3).apply(grads, layer.trainable_variables)
        return float(tf.reduce_mean(tf.abs(loc_rate * conv(photos) - before)))

    ratio = feature_change(0.1) / feature_change(1.0)
    assert 0.05 < ratio < 0.2, ratio


STAGES = {  # models.align defaults: the stage as the space searches it, and the slower gated one
    "default": {},
    "slow-gated": {"GATED": True, "ACTIVATION": "leaky_relu", "LOC_RATE": 0.1},
}


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_an_aligned_clock_model_saves_and_loads(kind: str, stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.align

    for name, value in STAGES[stage].items():
        monkeypatch.setattr(models.align, name, value)
    config = {**CLOCK_REFERENCE, "input_size": 32, "conv_blocks": 2, "filters": 8, "dense_units": 16, "align": kind}
    model = build_clock_model(check_config(config), head_from_config(config))
    photos = np.random.default_rng(2).integers(0, 256, (3, 32, 32)).astype("uint8")
    bias = model.get_layer("align").theta.bias  # a transform that is not the identity
    bias.assign(np.array([0.9, 0.1, 0.05, -0.1, 0.95, 0.0, 0.02, -0.03], "float32")[: bias.shape[0]])
    if model.get_layer("align").gated:
        model.get_layer("align").gate.assign(1.0)
    before = model.predict(photos, verbose=0)
    model.save(tmp_path / "model.keras")
    monkeypatch.undo()  # the saved layer's own settings load it, not the defaults of the loading process
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.get_layer("align"), SpatialTransformer)
    assert loaded.get_layer("align").kind == kind
    assert loaded.get_layer("align").gated == (stage == "slow-gated")
    assert loaded.get_layer("align").loc_rate == (0.1 if stage == "slow-gated" else 1.0)
    for a, b in zip(keras.tree.flatten(before), keras.tree.flatten(loaded.predict(photos, verbose=0))):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_predict_loads_an_aligned_model_in_a_fresh_process(tmp_path: Path) -> None:
    """``predict`` runs in a process that never built a model: it must still know the layer."""
    config = {**CLOCK_REFERENCE, "input_size": 32, "conv_blocks": 2, "filters": 8, "dense_units": 16, "align": "affine"}
    build_clock_model(config, head_from_config(config)).save(tmp_path / "model.keras")
    (tmp_path / "config.json").write_text(json.dumps({**config, "family": "clock", "dataset": "clock"}))
    code = (
        "from pathlib import Path; from search.predict import load_model_dir; "
        f"print(load_model_dir(Path({str(tmp_path)!r}))[0].get_layer('align').kind)"
    )
    root = Path(__file__).parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("affine")


def test_a_config_without_align_has_no_stage_and_a_wrong_one_is_named() -> None:
    config = {**CLOCK_REFERENCE, "input_size": 32, "conv_blocks": 2, "filters": 8, "dense_units": 16}
    config.pop("align", None)
    model = build_clock_model(check_config(config), head_from_config(config))
    assert not any(isinstance(layer, SpatialTransformer) for layer in model.layers)
    with pytest.raises(ConfigError, match="'align'"):
        check_config({**config, "align": "rotate"})


def _gated_trainer(clock_dir: Path, **pins: object):
    from search.tasks import get_task
    from studies.clock import CLOCK

    tiny = {"input_size": 32, "conv_blocks": 2, "filters": 8, "dense_units": 16, "batch_size": 32, "epochs": 2,
            "val_size": 100, "read_turns": 1, "align": "affine", "data_dir": str(clock_dir), **pins}
    config = CLOCK.full_config(CLOCK.reference, tiny, seed=0)
    assert config["align_stage"] == 2  # the family's stage: gated
    task = get_task(CLOCK.task)
    return task.trainer(config, task.prepare(config))


def _localisation_weights(trainer) -> dict[str, np.ndarray]:
    layer = trainer.model.get_layer("align")
    return {v.path.split("/", 1)[1]: np.array(v.numpy()) for v in layer.trainable_variables}


def test_the_gated_stage_opens_once_the_reader_leaves_chance_and_train_opens_it_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.align
    from datasets.synth import synthesize
    from storage import attrs
    from storage.export import retrain_config

    synthesize(tmp_path / "clock", 300, seed=3, style="clean")
    monkeypatch.chdir(tmp_path)  # the resize cache goes under runs/ of the cwd
    monkeypatch.setattr(models.align, "OPENS_BELOW", 0.0)  # no reader is that good: it stays shut
    shut = _gated_trainer(tmp_path / "clock")
    before = _localisation_weights(shut)
    shut.fit()
    assert float(shut.model.get_layer("align").gate.numpy()) == 0.0 and shut.recorded() == {}
    # skipped while shut, and so not trained either
    for name, weights in _localisation_weights(shut).items():
        np.testing.assert_array_equal(weights, before[name], err_msg=name)

    monkeypatch.setattr(models.align, "OPENS_BELOW", 1000.0)  # any reading counts as off chance
    trial = _gated_trainer(tmp_path / "clock")
    before = _localisation_weights(trial)
    trial.fit(restore_best=False)
    assert trial.align_opened == 1 and trial.recorded() == {"align_opened": 1}
    assert float(trial.model.get_layer("align").gate.numpy()) == 1.0
    # open for the second epoch: the reading loss reached the transform
    assert np.abs(_localisation_weights(trial)["loc_theta/kernel"] - before["loc_theta/kernel"]).max() > 0

    # export hands the epoch to train, which opens the stage there without any validation photos
    frozen = optuna.trial.create_trial(value=1.0, user_attrs={attrs.CONFIG: dict(trial.config), attrs.ALIGN_OPENED: 1})
    config = retrain_config(frozen, best_epoch=False)
    assert config["align_opened"] == 1
    monkeypatch.setattr(models.align, "OPENS_BELOW", 0.0)  # train does not judge: it replays
    retrained = _gated_trainer(tmp_path / "clock", align_opened=1)
    retrained.fit(with_validation=False)
    assert retrained.align_opened == 1 and float(retrained.model.get_layer("align").gate.numpy()) == 1.0
