"""The CLI end to end under each Keras backend it supports on a CPU: TensorFlow (the default) and
JAX (requirements-jax.txt). PyTorch is for GPU machines (README); it runs here only if installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import optuna
import pytest

from conftest import ROOT, TINY, cli, pins, require

BACKENDS = ("tensorflow", "jax", "torch")
TINY_CLOCK = ["input_size=32", "conv_blocks=2", "filters=8", "dense_units=16", "batch_size=32", "epochs=1", "val_size=100"]


def _backend(name: str) -> dict[str, str]:
    if name == "torch":  # several GB of CUDA wheels: not a CI requirement
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed (requirements-torch.txt is for GPU machines)")
    else:
        require(importlib.util.find_spec(name) is not None, f"{name} is not installed (pip install -r requirements-{name[:3]}.txt)")
    return {"KERAS_BACKEND": name}


@pytest.fixture(scope="module")
def clock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets.synth import synthesize

    out = tmp_path_factory.mktemp("clock")
    synthesize(out, 300, seed=3, style="clean")
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fashion_mlp_search_runs_and_records_its_backend(backend: str, fashion: Path, tmp_path: Path) -> None:
    # From a folder of its own, so that the worker log read below is this launch's (tests may run
    # in parallel, and other launches of fashion-mlp write runs/logs/fashion-mlp of their cwd).
    env = {**_backend(backend), "PYTHONPATH": str(ROOT)}
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    done = cli("launch", "fashion-mlp", "--workers", "2", "--trials", "2", "--storage", url, *pins(*TINY),
               cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    trials = optuna.load_study(study_name="fashion-mlp", storage=url).trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials) and len(trials) == 2
    assert {t.user_attrs["versions"]["keras_backend"] for t in trials} == {backend}
    assert backend in trials[0].user_attrs["versions"] or backend == "tensorflow"
    if backend != "tensorflow":  # another backend never loads TensorFlow (its start-up costs seconds)
        log = (tmp_path / "runs" / "logs" / "fashion-mlp" / "worker-0.log").read_text()
        assert "oneDNN" not in log and "tensorflow" not in log.lower()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clock_search_runs_and_its_model_is_read_under_every_backend(backend: str, clock_dir: Path, tmp_path: Path) -> None:
    env = _backend(backend)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # with the seed's alignment stage, gated: shut, it is a branch each backend compiles its own way
    done = cli("launch", "clock", "--workers", "1", "--trials", "1", "--storage", url,
               *pins(*TINY_CLOCK, "align=affine", f"data_dir={clock_dir}"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "study clock: 1 complete" in done.stdout
    export = tmp_path / "best.json"
    assert cli("export", "clock", "--storage", url, "--out", str(export)).returncode == 0
    trained = cli("train", str(export), "--out", str(tmp_path / "model"), env=env)
    assert trained.returncode == 0, trained.stderr
    # a model trained under this backend is read by predict under the default one, and the reverse
    for reader in ("tensorflow", backend):
        out = tmp_path / f"preds-{reader}.csv"
        read = cli("predict", str(tmp_path / "model"), str(clock_dir), "--out", str(out), env={"KERAS_BACKEND": reader})
        assert read.returncode == 0, read.stderr
        assert "common-sense error over 300 images" in read.stdout
    # The same times under both; the error column (2 decimals) may differ by one rounding step,
    # since two backends' float arithmetic (the bilinear eighth turns) differs in the last bits.
    ours = [line.split(",") for line in (tmp_path / "preds-tensorflow.csv").read_text().splitlines()]
    theirs = [line.split(",") for line in (tmp_path / f"preds-{backend}.csv").read_text().splitlines()]
    assert ours[0] == theirs[0] and ours[0][-1] == "error_minutes" and len(ours) == len(theirs)
    for a, b in zip(ours[1:], theirs[1:]):
        assert a[:-1] == b[:-1]
        assert abs(float(a[-1]) - float(b[-1])) <= 0.0101, (a, b)
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["epochs"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clock_trial_that_keeps_a_moving_average_of_its_weights_trains_on_under_every_backend(
    backend: str, clock_dir: Path, tmp_path: Path
) -> None:
    # The family's seed keeps one (ema_momentum 0.999). On JAX, reading the average once aliased it
    # with the weights, whose buffers the next read donated: the second epoch failed.
    env = _backend(backend)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    tiny = [p for p in TINY_CLOCK if not p.startswith("epochs=")]
    done = cli("launch", "clock", "--workers", "1", "--trials", "1", "--storage", url,
               *pins(*tiny, "epochs=3", "ema_momentum=0.9", f"data_dir={clock_dir}"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    trial = optuna.load_study(study_name="clock", storage=url).trials[0]  # the reference, pinned
    assert trial.state == optuna.trial.TrialState.COMPLETE, done.stdout + done.stderr
    assert sorted(trial.intermediate_values) == [0, 1, 2]
