"""Augmentation of clock photos: what the transforms do, and that only training photos get them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.augment import PRESETS, TRANSFORMS, augment_batch, transforms_of, warp_batch
from models import ConfigError, check_config
from models._config import AUGMENT_TRANSFORMS, AUGMENTATIONS
from studies.clock import CLOCK_REFERENCE

GEOMETRIC = ("rotate", "shift", "scale", "perspective")


def _photos(n: int = 6, size: int = 12) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size)).astype(np.uint8)


def test_the_vocabulary_is_the_one_configs_are_checked_against() -> None:
    assert TRANSFORMS == AUGMENT_TRANSFORMS and set(PRESETS) == set(AUGMENTATIONS)
    assert transforms_of("none") == () and transforms_of("strong") == TRANSFORMS
    assert transforms_of("rotate+noise") == ("rotate", "noise")
    with pytest.raises(ValueError, match="mirror"):
        transforms_of("rotate+mirror")


def test_a_config_names_a_preset_or_joined_transforms() -> None:
    config = {**CLOCK_REFERENCE}
    for value in ("light", "strong", "rotate", "shift+scale+noise"):
        check_config({**config, "augment": value})
    for value in ("mirror", "rotate+", 3):
        with pytest.raises(ConfigError, match="'augment'"):
            check_config({**config, "augment": value})


def test_the_identity_warp_and_a_quarter_turn_sample_the_expected_pixels() -> None:
    photos = _photos()
    identity = np.tile(np.eye(3), (len(photos), 1, 1))
    np.testing.assert_allclose(warp_batch(photos, identity), photos, atol=1e-3)
    turn = np.tile(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), (len(photos), 1, 1))
    np.testing.assert_allclose(warp_batch(photos, turn), np.rot90(photos, 1, axes=(1, 2)), atol=1e-3)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_each_transform_keeps_photos_in_range_and_changes_them(transform: str) -> None:
    photos = _photos()
    out = augment_batch(photos, (transform,), np.random.default_rng(1))
    assert out.shape == photos.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    assert np.abs(out - photos).mean() > 0.5


def test_geometric_transforms_keep_a_plain_photo_plain() -> None:
    """Nothing is invented: a uniform photo stays uniform however it is turned, shifted or skewed."""
    photos = np.full((8, 10, 10), 77, np.uint8)
    np.testing.assert_allclose(augment_batch(photos, GEOMETRIC, np.random.default_rng(2)), 77, atol=1e-3)


def test_photometric_transforms_do_not_move_the_dial() -> None:
    photos = _photos()
    out = augment_batch(photos, ("brightness",), np.random.default_rng(3))
    shift = (out - photos.astype(np.float32)).reshape(len(photos), -1)
    unclipped = (photos.reshape(len(photos), -1) > 30) & (photos.reshape(len(photos), -1) < 225)
    for row, keep in zip(shift, unclipped):
        assert np.ptp(row[keep]) < 1e-3  # one offset per photo


keras = pytest.importorskip("keras")
from search.training import AugmentedBatches  # noqa: E402


def test_batches_cover_every_photo_once_per_epoch_with_its_own_target() -> None:
    labels = np.arange(50)
    photos = np.repeat(labels.astype(np.uint8), 8 * 8).reshape(50, 8, 8)  # each photo shows its label
    batches = AugmentedBatches(photos, {"t": labels.astype(np.float32)}, 16, GEOMETRIC, seed=0)
    for _ in range(2):
        seen = []
        assert len(batches) == 4
        for i in range(len(batches)):
            x, y = batches[i]
            np.testing.assert_allclose(x[:, 0, 0], y["t"], atol=1e-3)  # photo and target still paired
            seen.extend(y["t"].astype(int))
        assert sorted(seen) == list(range(50))
        batches.on_epoch_end()


@pytest.fixture(scope="module")
def clock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets.synth import synthesize

    out = tmp_path_factory.mktemp("clock")
    synthesize(out, 200, seed=5, style="clean")
    return out


@pytest.mark.parametrize("with_validation", [True, False], ids=["trial", "train"])
def test_only_training_photos_are_augmented(clock_dir: Path, with_validation: bool, monkeypatch) -> None:
    """A trial and ``train`` augment the photos they fit on, never those they validate or test on."""
    import search.training
    from search.data import prepare
    from search.tasks.clock_trainer import ClockTrainer

    augmented: list[int] = []
    real = search.training.augment_batch

    def counting(images, transforms, rng):
        augmented.append(len(images))
        return real(images, transforms, rng)

    monkeypatch.setattr(search.training, "augment_batch", counting)
    config = {**CLOCK_REFERENCE, "input_size": 32, "conv_blocks": 2, "filters": 8, "dense_units": 16,
              "batch_size": 32, "augment": "strong", "family": "clock", "dataset": "clock", "epochs": 2,
              "val_size": 100, "train_limit": None, "data_dir": str(clock_dir), "seed": 0}
    trainer = ClockTrainer(config, prepare(config))
    assert not [layer for layer in trainer.model.layers if "random" in layer.name.lower()]  # none in the model
    trainer.fit(with_validation=with_validation)
    s = trainer.splits
    fitted = len(s.x_train) + (0 if with_validation else len(s.x_val))
    spec_batches = sum(augmented) - 2 * fitted  # Keras draws a few batches first to learn their shapes
    assert 0 <= spec_batches <= 2 * config["batch_size"], augmented
    if with_validation:
        assert len(trainer.record.val_errors) == 2
    before = len(augmented)
    trainer.evaluate_test()
    assert len(augmented) == before


def test_a_turn_is_an_exact_quarter_turn_of_each_photo() -> None:
    # A quarter turn maps the pixel grid onto itself: each photo comes back as one of its four
    # turns, every pixel kept, none blurred by interpolation.
    photos = np.random.default_rng(1).integers(0, 256, (64, 40, 40)).astype(np.uint8)
    out = augment_batch(photos, ("turn",), np.random.default_rng(0))
    turns = [next(k for k in range(4) if np.allclose(o, np.rot90(p, k), atol=1e-3)) for o, p in zip(out, photos)]
    assert set(turns) == {0, 1, 2, 3}
