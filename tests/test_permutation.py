"""Task two: one recorded pixel permutation for every image, and the `permutation` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from conftest import cli, pins
from datasets.permute import permute_pixels, pixel_permutation
from search.data import DataCache, data_key
from search.tasks import get_task

prepare = get_task("classification").prepare
from search.errors import UserError
from search.permutation import Source, apply_pins, format_table, plan_runs, table_rows
from studies import get_family

SEED = 7
SPLITS = ("train", "val", "test")


def test_the_permutation_is_a_reproducible_shuffle_of_all_784_pixels() -> None:
    perm = pixel_permutation(SEED)
    assert sorted(perm.tolist()) == list(range(784))
    assert (perm != np.arange(784)).mean() > 0.99
    assert np.array_equal(perm, pixel_permutation(SEED))
    assert not np.array_equal(perm, pixel_permutation(SEED + 1))


def test_permute_pixels_moves_each_pixel_where_the_permutation_says() -> None:
    images = np.arange(2 * 784, dtype=np.int64).reshape(2, 28, 28)
    moved = permute_pixels(images, SEED)
    perm = pixel_permutation(SEED)
    assert moved.shape == images.shape
    assert np.array_equal(moved.reshape(2, -1), images.reshape(2, -1)[:, perm])
    # the same shuffle for every image, and undone by the inverse permutation
    assert np.array_equal(moved.reshape(2, -1)[:, np.argsort(perm)], images.reshape(2, -1))


def _config(dataset: str, data_dir: str | None, permute_seed: int | None) -> dict:
    return {"dataset": dataset, "data_dir": data_dir, "val_size": 500, "train_limit": 2000, "permute_seed": permute_seed}


def _split(splits, name: str) -> np.ndarray:
    return getattr(splits, f"x_{name}").reshape(len(getattr(splits, f"x_{name}")), -1)


def test_one_permutation_for_every_split_of_both_datasets(fashion: Path, mnist_10k: Path) -> None:
    perm = pixel_permutation(SEED)
    for dataset, data_dir in (("fashion", None), ("mnist", str(mnist_10k))):
        original = prepare(_config(dataset, data_dir, None))
        permuted = prepare(_config(dataset, data_dir, SEED))
        assert "pixels permuted (seed 7)" in permuted.source
        for name in SPLITS:
            a, b = _split(original, name), _split(permuted, name)
            assert len(a) == len(b) > 0
            assert np.array_equal(b, a[:, perm]), f"{dataset} {name} is not permuted by the recorded permutation"
            assert not np.array_equal(a, b)
        # labels and the validation carve-out are untouched: the same images, only shuffled pixels
        assert np.array_equal(original.y_train, permuted.y_train) and np.array_equal(original.y_test, permuted.y_test)


def test_permuted_and_original_data_are_cached_apart(fashion: Path) -> None:
    cache = DataCache(get_task("classification"))
    a, b = _config("fashion", None, None), _config("fashion", None, SEED)
    assert data_key(a) != data_key(b)
    assert not np.array_equal(cache.get(a).x_val, cache.get(b).x_val)
    assert cache.get(b) is cache.get(b)


def _sources() -> list[Source]:
    out = []
    for name in ("fashion-mlp", "fashion-cnn"):
        family = get_family(name)
        config = family.full_config(family.reference, {}, seed=0)
        out.append(Source(name, family.dataset, config["model"], config, None))
    return out


def test_pins_apply_to_every_config_or_to_the_networks_that_have_the_key() -> None:
    mlp, cnn = apply_pins(_sources(), {"epochs": 2, "stem_filters": 16})
    assert mlp.config["epochs"] == cnn.config["epochs"] == 2
    assert cnn.config["stem_filters"] == 16 and "stem_filters" not in mlp.config
    with pytest.raises(UserError, match="no network's config has this key"):
        apply_pins(_sources(), {"stem_filterz": 16})
    with pytest.raises(UserError, match="set by the permutation command"):
        apply_pins(_sources(), {"permute_seed": 3})


def test_plan_has_every_network_condition_and_seed() -> None:
    runs = plan_runs(_sources(), seeds=3, permute_seed=SEED)
    assert len(runs) == 2 * 2 * 3
    cells = {(r["network"], r["condition"]) for r in runs}
    assert cells == {("mlp", "original"), ("mlp", "permuted"), ("cnn", "original"), ("cnn", "permuted")}
    for r in runs:
        assert r["config"]["permute_seed"] == (SEED if r["condition"] == "permuted" else None)
    assert sorted({r["config"]["seed"] for r in runs}) == [0, 1, 2]


def test_table_gives_mean_and_standard_deviation_per_cell() -> None:
    trials = []
    for model, permute, accs in (("mlp", None, [0.8, 0.9]), ("mlp", SEED, [0.7, 0.9]), ("cnn", None, [0.95])):
        for acc in accs:
            trials.append(optuna.trial.create_trial(value=1 - acc, user_attrs={
                "config": {"dataset": "fashion", "model": model, "permute_seed": permute}, "test_accuracy": acc}))
    rows = table_rows(trials)
    assert [(r["network"], r["condition"], r["n"]) for r in rows] == [("mlp", "original", 2), ("mlp", "permuted", 2), ("cnn", "original", 1)]
    assert rows[0]["mean"] == pytest.approx(0.85) and rows[0]["std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert rows[2]["std"] is None
    text = format_table(rows)
    assert "| Fashion-MNIST | MLP | 0.8500 ± 0.0707 | 0.8000 ± 0.1414 | -0.0500 | 2/2 |" in text
    assert "| Fashion-MNIST | CNN | 0.9500 ± n/a | - | - | 1 |" in text


SMALL_CNN = ["stem_filters=8", "stem_kernel=3", "block_filters=8", "blocks=1", "convs_per_block=1", "dense_units=[16]"]
TINY = ["epochs=1", "train_limit=300", "val_size=200"]


def _best_fashion_mlp(url: str) -> int:
    """A fashion-mlp study with one completed (not trained) trial: its config is the one retrained."""
    family = get_family("fashion-mlp")
    study = optuna.create_study(study_name="fashion-mlp", storage=url)
    study.set_user_attr("family", "fashion-mlp")
    config = family.full_config({**family.reference, "hidden_units": [32]}, {}, seed=0)
    trial = study.ask()
    trial.set_user_attr("config", config)
    study.tell(trial, 0.2)
    return trial.number


def test_command_retrains_best_configs_and_says_what_it_skipped(storage: str, fashion: Path, tmp_path: Path) -> None:
    number = _best_fashion_mlp(storage)
    out = tmp_path / "perm.json"
    args = ["permutation", "--storage", storage, "--seeds", "2", "--permute-seed", str(SEED), "--out", str(out), *pins(*TINY, *SMALL_CNN)]
    # No MNIST anywhere: an empty Keras cache, and conftest keeps the run offline.
    result = cli(*args, env={"KERAS_HOME": str(tmp_path / "keras")})
    assert result.returncode == 0, result.stderr
    assert "skipped mnist" in result.stdout
    assert f"fashion-mlp trial #{number}" in result.stdout and "fashion-cnn reference network" in result.stdout
    assert "| Fashion-MNIST | MLP |" in result.stdout and "| Fashion-MNIST | CNN |" in result.stdout

    saved = json.loads(out.read_text())
    assert saved["permutation"] == pixel_permutation(SEED).tolist() and saved["permute_seed"] == SEED
    assert [(r["network"], r["condition"], r["n"]) for r in saved["rows"]] == [
        ("mlp", "original", 2), ("mlp", "permuted", 2), ("cnn", "original", 2), ("cnn", "permuted", 2)]
    assert out.with_suffix(".md").read_text().startswith("| dataset | network |")

    study = optuna.load_study(study_name="permutation", storage=storage)
    assert study.user_attrs["permutations"][str(SEED)] == pixel_permutation(SEED).tolist()
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 8
    for t in trials:
        attrs = t.user_attrs
        assert attrs["permuted"] == (attrs["config"]["permute_seed"] == SEED) == (t.params["condition"] == "permuted")
        assert attrs["seed"] == attrs["config"]["seed"] == t.params["seed"]
        assert 0.0 <= attrs["test_accuracy"] <= 1.0 and attrs["config"]["epochs"] == 1
    mlp = [t for t in trials if t.params["network"] == "mlp"]
    assert all(t.user_attrs["config"]["hidden_units"] == [32] for t in mlp)  # the study's best, not the reference

    again = cli(*args, env={"KERAS_HOME": str(tmp_path / "keras")})
    assert again.returncode == 0, again.stderr
    assert len(optuna.load_study(study_name="permutation", storage=storage).trials) == 8  # reused, not retrained


def test_command_rejects_a_key_no_network_has(storage: str) -> None:
    result = cli("permutation", "--storage", storage, *pins("unitz=3"))
    assert result.returncode == 2
    assert result.stderr.startswith("clockwork: error: --set unitz") and "Traceback" not in result.stderr


def test_a_run_queued_by_an_earlier_call_with_other_options_is_not_trained(storage: str) -> None:
    from search.permutation import RunObjective, open_permutation_study

    study = open_permutation_study(storage, SEED)
    config = {**_sources()[0].config, "epochs": 99, "seed": 0, "permute_seed": None}
    study.enqueue_trial({"dataset": "fashion", "network": "mlp", "condition": "original", "seed": 0}, user_attrs={"config": config})
    study.optimize(RunObjective(planned=set()), n_trials=1, catch=(Exception,))
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL and "earlier call" in trial.user_attrs["fail_reason"]
