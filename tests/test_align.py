"""The clock backbone's alignment stage: a spatial transformer that learns, starts as the identity,
samples where its transform says, and survives a save and load inside a clock model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
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


@pytest.mark.parametrize("kind", KINDS)
def test_an_aligned_clock_model_saves_and_loads(kind: str, tmp_path: Path) -> None:
    config = {**CLOCK_REFERENCE, "input_size": 32, "conv_blocks": 2, "filters": 8, "dense_units": 16, "align": kind}
    model = build_clock_model(check_config(config), head_from_config(config))
    photos = np.random.default_rng(2).integers(0, 256, (3, 32, 32)).astype("uint8")
    bias = model.get_layer("align").theta.bias  # a transform that is not the identity
    bias.assign(np.array([0.9, 0.1, 0.05, -0.1, 0.95, 0.0, 0.02, -0.03], "float32")[: bias.shape[0]])
    before = model.predict(photos, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.get_layer("align"), SpatialTransformer)
    assert loaded.get_layer("align").kind == kind
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
