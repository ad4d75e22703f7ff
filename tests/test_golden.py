"""Golden tests: today's data splits and command output, pinned before the "task as an object"
refactor of search/ and storage/ (issue 11), which must change none of it.

Every expected value here was computed from the code at commit b11b7c1 (Review: clock_gpu's
two-hands variants share one TWO_HANDS dict...). A failing digest means that images moved between
train, validation and test (or changed): that is a change of behaviour, not a golden to refresh.
Since then the printed configs have gained three keys on purpose (issue 12): ``lr_schedule`` (the
reference networks' is ``constant``), the budget key ``trial_timeout`` (null) and the clock
reference's ``align`` (``none``: no alignment stage, as before); the clock reference itself
changed on purpose in issue 12 (the seed's recipe: 24 filters, light augmentation, no dropout,
a cosine decay of Adam 1e-3) and so did the clock budget (``trial_timeout`` 1500, then null
again once a search's deadline ended its trials scored); the summaries
show the best sampled trial beside the enqueued ones, a clock trial's share of test photos within
10 minutes, and where its sheet of test photos is.

- split digests: sha256 of each array of ``prepare(config)`` (dtype, shape and bytes), for MNIST
  (the 10,000-digit subset beside the project), Fashion-MNIST (Debian's package) and a tiny clock
  set rendered here, with ``train_limit`` and ``permute_seed`` too;
- the rendered clock files themselves, so a renderer change is told apart from a split change;
- what ``launch`` and ``status`` print for fixed small studies, compared line by line after
  normalising only what varies from run to run (see ``_normalise``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FASHION_DIR, MNIST_10K, ROOT, cli, pins

GOLDEN_COMMIT = "b11b7c1"  # where every expected value below was computed


def _prepare(config: dict) -> object:
    """The function under test, named in this one place: a rename changes this line only."""
    from search.data import prepare

    return prepare(config)


SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def _arrays(splits: object) -> dict[str, np.ndarray]:
    """The six arrays of what ``_prepare`` returns, by name."""
    return {name: getattr(splits, name) for name in SPLITS}


def _digest(array: np.ndarray) -> str:
    """sha256 over dtype, shape and bytes: a moved, changed, recast or reshaped image all show."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype.str} {a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _digests(splits: object) -> dict[str, str]:
    return {name: _digest(a) for name, a in _arrays(splits).items()}


def _check_digests(splits: object, expected: dict[str, str]) -> None:
    moved = {name: d for name, d in _digests(splits).items() if d != expected[name]}
    assert not moved, f"arrays differ from commit {GOLDEN_COMMIT} (images moved or changed): {sorted(moved)}"


# -- MNIST and Fashion-MNIST ---------------------------------------------------------------------
# val_size 5000: the classic families' default (studies/_family.py BUDGET_DEFAULTS).

MNIST_SPLITS = {
    # 10,000 digits: the .npz of x and y is split 8,571 train / 1,429 test, then 5,000 validation.
    "plain": (
        {},
        {
            "x_train": "7aba3bf7efe7558fcea6fd42180475d588a6f07427cfb6cc3a039918b0b1e3ff",
            "y_train": "eed870121da4458e9585629bec3523533ead12d9736fd4af5026900ba2296713",
            "x_val": "8b4643fa344db22d1c6641cb436265d667275123bb54563143a8f1fe902bd4c5",
            "y_val": "99265cf87462d55627c77dece26c2af6ea296c2bed0a4da7a55ca7cf967f18b7",
            "x_test": "ff3e852e863a60b6347a558fe81498be869aaf057d792c53bf9a4d3a79df5515",
            "y_test": "9b2c9fc5a6044d1ebfb05c1b905c612de9b8633b7e6c445ad74825652e249546",
        },
    ),
    "train_limit": (
        {"train_limit": 1000},
        {
            "x_train": "07f2250ba225f2876efd4e3db9f16ca366e3eb0af1c5b08161e42922c9281951",
            "y_train": "6ebabbaa2d33a0e6939c8a9afc83faf3bdda938f299aab882082a7d559e188f6",
            "x_val": "8b4643fa344db22d1c6641cb436265d667275123bb54563143a8f1fe902bd4c5",
            "y_val": "99265cf87462d55627c77dece26c2af6ea296c2bed0a4da7a55ca7cf967f18b7",
            "x_test": "ff3e852e863a60b6347a558fe81498be869aaf057d792c53bf9a4d3a79df5515",
            "y_test": "9b2c9fc5a6044d1ebfb05c1b905c612de9b8633b7e6c445ad74825652e249546",
        },
    ),
    "permuted": (
        {"permute_seed": 1234},
        {
            "x_train": "e2d860f36bdd961cb590c5127b7e6595c62d0d3ebb57850e79c4805a50ad8744",
            "y_train": "eed870121da4458e9585629bec3523533ead12d9736fd4af5026900ba2296713",
            "x_val": "289471b81926ff7b0199242f7fc41a49ee9ab8d131be34e4d4f35eaa8237cb54",
            "y_val": "99265cf87462d55627c77dece26c2af6ea296c2bed0a4da7a55ca7cf967f18b7",
            "x_test": "c545965e94d594962d6dba31e3fbe5de0b55b602c151a02f42cc162cfc576980",
            "y_test": "9b2c9fc5a6044d1ebfb05c1b905c612de9b8633b7e6c445ad74825652e249546",
        },
    ),
    "permuted_limit": (
        {"permute_seed": 7, "train_limit": 2000},
        {
            "x_train": "5ac6bf34529471cc538b3e69c43d9beef0c6b7b60bb735e694ae657cfb8e0f6d",
            "y_train": "7f2352ef4a3d83e3fd94162d741d62925f6ba1a5f71e9bd5073ec2c892b1a39d",
            "x_val": "aaa34e4d4b98b045c6cc6fe2a4971c11e2a2810b9ab9ab7551beb41f2ebaff1d",
            "y_val": "99265cf87462d55627c77dece26c2af6ea296c2bed0a4da7a55ca7cf967f18b7",
            "x_test": "201175668835a19be99da95227007415f4ff1133e206bb1fd164a14d63c6c39b",
            "y_test": "9b2c9fc5a6044d1ebfb05c1b905c612de9b8633b7e6c445ad74825652e249546",
        },
    ),
}

FASHION_SPLITS = {
    "plain": (
        {},
        {
            "x_train": "823f95422a81f994d268ff1c6539989f0e5aada2206022d42c2a49d1f8ca42f7",
            "y_train": "6ec6ed317f8cbaae13037237f531921b4b03135cfd7ea2d40c7fc40cbce80d51",
            "x_val": "2791d1a5414acb40f0ad45cd1604af55ec95057fe2c375cdf92a9b8dc6d8617e",
            "y_val": "a2ba2d48a84fd8e0c7034ebdd291a687f3da258910b30ea7f4826022ee0d4f6d",
            "x_test": "674de1779b0e532f657e7817ad33d15cc5c89eb2af7817e9ab6444b0605c832e",
            "y_test": "ae0afadfdcca7255b6c3143fb81841cba2fd58668dae7fd71cb83aa3c406b824",
        },
    ),
    "train_limit": (
        {"train_limit": 1000},
        {
            "x_train": "5f8529aba7fc3a753f271cecde6428a4cd0f3e17f0162266d62165b0c2e746bd",
            "y_train": "9bef97187b3b38feeb287ea1860ab057e5037ba67b0f6f9abd6c904af8e7d4de",
            "x_val": "2791d1a5414acb40f0ad45cd1604af55ec95057fe2c375cdf92a9b8dc6d8617e",
            "y_val": "a2ba2d48a84fd8e0c7034ebdd291a687f3da258910b30ea7f4826022ee0d4f6d",
            "x_test": "674de1779b0e532f657e7817ad33d15cc5c89eb2af7817e9ab6444b0605c832e",
            "y_test": "ae0afadfdcca7255b6c3143fb81841cba2fd58668dae7fd71cb83aa3c406b824",
        },
    ),
    "permuted": (
        {"permute_seed": 1234},
        {
            "x_train": "f190972a1661c94722c4f8ef1a4f3c23df376d5e4d6cbdbf901aa0df1589464c",
            "y_train": "6ec6ed317f8cbaae13037237f531921b4b03135cfd7ea2d40c7fc40cbce80d51",
            "x_val": "ce7edce98c58deb5942919b0f6eb1120b6a07f58aacb972681ff2351cafa0130",
            "y_val": "a2ba2d48a84fd8e0c7034ebdd291a687f3da258910b30ea7f4826022ee0d4f6d",
            "x_test": "9465f345485cd25e658278632165b2390384ae1c551247b88b620fe065dd5d6a",
            "y_test": "ae0afadfdcca7255b6c3143fb81841cba2fd58668dae7fd71cb83aa3c406b824",
        },
    ),
}

SIZES = {
    "mnist": {"plain": (3571, 5000, 1429), "train_limit": (1000, 5000, 1429), "permuted": (3571, 5000, 1429),
              "permuted_limit": (2000, 5000, 1429)},
    "fashion": {"plain": (55000, 5000, 10000), "train_limit": (1000, 5000, 10000), "permuted": (55000, 5000, 10000)},
}


def _check_image_splits(dataset: str, data_dir: Path, case: str, extra: dict, expected: dict[str, str]) -> None:
    splits = _prepare({"dataset": dataset, "data_dir": str(data_dir), "val_size": 5000, **extra})
    arrays = _arrays(splits)
    assert tuple(len(arrays[k]) for k in ("x_train", "x_val", "x_test")) == SIZES[dataset][case]
    assert splits.n_classes == 10
    permuted = f", pixels permuted (seed {extra['permute_seed']})" if "permute_seed" in extra else ""
    assert splits.source == f"{data_dir}{permuted}"
    _check_digests(splits, expected)


@pytest.mark.parametrize("case", list(MNIST_SPLITS))
def test_mnist_splits_are_unchanged(case: str, mnist_10k: Path) -> None:
    extra, expected = MNIST_SPLITS[case]
    _check_image_splits("mnist", mnist_10k, case, extra, expected)


@pytest.mark.parametrize("case", list(FASHION_SPLITS))
def test_fashion_splits_are_unchanged(case: str, fashion: Path) -> None:
    extra, expected = FASHION_SPLITS[case]
    _check_image_splits("fashion", fashion, case, extra, expected)


def test_fashion_found_without_data_dir_gives_the_same_splits(
    fashion: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default lookup (empty Keras cache, then Debian's package) yields the same arrays."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no Keras cache of the user's
    splits = _prepare({"dataset": "fashion", "data_dir": None, "val_size": 5000})
    assert splits.source == str(FASHION_DIR)
    _check_digests(splits, FASHION_SPLITS["plain"][1])


# -- the clock ---------------------------------------------------------------------------------------

CLOCK_N, CLOCK_SEED = 240, 3
# The rendered files (arrays, not file bytes, so an .npy header format change does not count).
CLOCK_FILES = {
    "images.npy": "600eaa2d01891141979c5f0d23e3737e6a8fd190eace7e3003a8d2bb97bcbe7d",
    "labels.npy": "aa8463cad1f3b48fc0ee8c6f37a50ab580210a0bc72ab02e0c6b9d7a6b09e1a8",
}
# (The numerals are drawn with Pillow's built-in font: the pinned Pillow version is part of this.)
CLOCK_SYNTH_JSON = {"renderer_version": 1, "n": CLOCK_N, "seed": CLOCK_SEED, "size": 150, "style_name": "photo"}
# sha256 of synth.json's "style", as sorted compact JSON
CLOCK_STYLE_DIGEST = "d9634258c22fd9a185aee7912f9074e841cc33f7d4ec92e23a969cf200a854b6"

# 240 photos: 48 test (20%), then 10% of the other 192 for validation: 173 / 19 / 48.
CLOCK_SPLITS = {
    "150px": (
        {"input_size": 150},
        {
            "x_train": "901d5c943aacc76dacb7d19ae93cad7582523cc4afc6cf2e584b5d103355249b",
            "y_train": "793afe975ec82289512986553e8cdc86bd827c1f1c027d70583789ee7db5c3af",
            "x_val": "1fae588b5df33a1802b4afee55b6168d1ccc54fb61417e94eae011eb1e1c60fe",
            "y_val": "010b921b79412b4238598dc6fde56393bceff7321eb07339671da933d41a0ca6",
            "x_test": "e99f59e6a88d26a32338d87047a6bd3cb13110df332f05c31c0bccfef763190e",
            "y_test": "afbda5d49c1bcbf7b4bcc5331ad62cad4974999702602d6746125aa67559e2d3",
        },
    ),
    "64px": (
        {"input_size": 64},
        {
            "x_train": "ffef20f863463e22b15a3951b9ce9f58367e672b403898137f4cc261855c324d",
            "y_train": "793afe975ec82289512986553e8cdc86bd827c1f1c027d70583789ee7db5c3af",
            "x_val": "6352f8604fbc38f20b8fe0fb1dbca4a94734ad06525f31f1412618d0e7fd164c",
            "y_val": "010b921b79412b4238598dc6fde56393bceff7321eb07339671da933d41a0ca6",
            "x_test": "1ad23cb419f73006bb3cc123106759beb61f5be53b6f31682ea3756e8d311b43",
            "y_test": "afbda5d49c1bcbf7b4bcc5331ad62cad4974999702602d6746125aa67559e2d3",
        },
    ),
    "32px": (
        {"input_size": 32},
        {
            "x_train": "ff271df842baec03a3064b1d495180986e105c750ea75a96bc7a33e3048327be",
            "y_train": "793afe975ec82289512986553e8cdc86bd827c1f1c027d70583789ee7db5c3af",
            "x_val": "7010300d37d752fe2b611917aeb88a41796102167627b239426e8672d4f39289",
            "y_val": "010b921b79412b4238598dc6fde56393bceff7321eb07339671da933d41a0ca6",
            "x_test": "8e93a10c3e505ffea47c81088b66139ac0b9da22070705a79fdea8d7552a133c",
            "y_test": "afbda5d49c1bcbf7b4bcc5331ad62cad4974999702602d6746125aa67559e2d3",
        },
    ),
    "32px_limit": (
        {"input_size": 32, "train_limit": 100},
        {
            "x_train": "1dac6fd85a476efba8ede2a5b9b32f1ae91b001a405a047d7fffb8534b0ee849",
            "y_train": "85787c8a33873fe571f57c8f9cc6604b04331f046d7a0350d283044734cd56b8",
            "x_val": "7010300d37d752fe2b611917aeb88a41796102167627b239426e8672d4f39289",
            "y_val": "010b921b79412b4238598dc6fde56393bceff7321eb07339671da933d41a0ca6",
            "x_test": "8e93a10c3e505ffea47c81088b66139ac0b9da22070705a79fdea8d7552a133c",
            "y_test": "afbda5d49c1bcbf7b4bcc5331ad62cad4974999702602d6746125aa67559e2d3",
        },
    ),
}


@pytest.fixture(scope="module")
def clock_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A tiny clock set rendered by the command users run (about a second), shared by this module."""
    out = tmp_path_factory.mktemp("golden-clock") / "clock"
    done = subprocess.run(
        [sys.executable, "-m", "datasets", "synth-clock", "--n", str(CLOCK_N), "--seed", str(CLOCK_SEED),
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def test_rendered_clock_files_are_unchanged(clock_set: tuple[Path, subprocess.CompletedProcess]) -> None:
    folder, done = clock_set
    assert re.sub(r" in \d+\.\d s:", " in <s> s:", done.stdout.replace(str(folder), "<clock>")) == (
        f"wrote {CLOCK_N} images (150 px, photo, seed {CLOCK_SEED}) to <clock> in <s> s: "
        "images.npy, labels.npy, sheet.png, synth.json\n"
    )
    images, labels = np.load(folder / "images.npy"), np.load(folder / "labels.npy")
    assert images.shape == (CLOCK_N, 150, 150) and labels.shape == (CLOCK_N, 2)
    changed = {name for name in CLOCK_FILES if _digest(np.load(folder / name)) != CLOCK_FILES[name]}
    assert not changed, f"the renderer draws different files than at commit {GOLDEN_COMMIT}: {sorted(changed)}"
    meta = json.loads((folder / "synth.json").read_text())
    assert {k: meta[k] for k in CLOCK_SYNTH_JSON} == CLOCK_SYNTH_JSON
    style = json.dumps(meta["style"], sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(style.encode()).hexdigest() == CLOCK_STYLE_DIGEST, meta["style"]


@pytest.mark.parametrize("case", list(CLOCK_SPLITS))
def test_clock_splits_are_unchanged(
    case: str, clock_set: tuple[Path, subprocess.CompletedProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = clock_set
    monkeypatch.chdir(tmp_path)  # the loader caches resized arrays under runs/cache/clock of the cwd
    extra, expected = CLOCK_SPLITS[case]
    splits = _prepare({"dataset": "clock", "data_dir": str(folder), "val_size": 0.1, **extra})
    arrays = _arrays(splits)
    limit = extra.get("train_limit", 173)
    assert tuple(len(arrays[k]) for k in ("x_train", "x_val", "x_test")) == (limit, 19, 48)
    assert splits.n_classes == 0 and splits.source == str(folder)
    size = extra["input_size"]
    assert arrays["x_train"].shape[1:] == (size, size)
    cached = sorted(p.name for p in (tmp_path / "runs" / "cache" / "clock").glob("*.npy")) if size != 150 else []
    assert len(cached) == (1 if size != 150 else 0), cached  # the native size is never resized
    _check_digests(splits, expected)


# -- launch and status ---------------------------------------------------------------------------
#
# What varies from run to run, and is all that ``_normalise`` touches:
# - the temporary directory (in storage URLs and data_dir) and the MNIST file's location;
# - times: log lines' clock times, Optuna's log timestamps;
# - tqdm's progress bar (stderr; it redraws with carriage returns, its rate and timings vary);
# - uuids: the name of the throwaway in-memory study with which ``--set`` keys are checked, and
#   artifact ids in the paths of uploaded files.
# The CPU thread count per worker is the machine's core count: it is computed, not normalised.
# GPUs are hidden (CUDA_VISIBLE_DEVICES empty) so the "launched" line is the same on GPU machines.
#
# Nondeterminism found: the smoke family's x is sampled by a TPESampler created without a seed
# (search/worker.py: ``make_sampler()``), so unpinned trials get a different x every run. The
# golden runs pin ``x`` (then every trial, trial 0 included, takes the pinned x); one unpinned
# run checks the lines with only its sampled tokens (x, value, best trial number) normalised.
# Training runs (the MLP and clock lines) are deterministic on one machine (seeded by trial
# number), but TensorFlow's oneDNN kernels may round differently on another CPU: their metric
# values are compared within TF_TOLERANCE, written ``~VALUE`` in the expected text.

THREADS = max(1, os.cpu_count() or 1)  # launcher: cpu_count // workers, with --workers 1
TF_TOLERANCE = 0.01  # relative, for the metrics of a trained network written ~VALUE below
_BAR = re.compile(r"^[\w.-]+: +\d+%\|")  # a tqdm redraw: "smoke:  50%|█████     | 2/4 [...]"
ENV = {"PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}


def _normalise(text: str, tmp: Path, names: dict[str, str] | None = None) -> list[str]:
    for path, name in {**(names or {}), str(tmp): "<tmp>", str(MNIST_10K): "<mnist-10k>"}.items():
        text = text.replace(path, name)
    lines = []
    for line in re.split(r"[\r\n]", text):
        if not line.strip() or _BAR.match(line):
            continue
        line = re.sub(r"^\d\d:\d\d:\d\d ", "<time> ", line)
        line = re.sub(r"^\[(\w) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]", r"[\1 <time>]", line)
        line = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", line)
        line = re.sub(r"^created by Clockwork (git [0-9a-f]{12}(-dirty)?|clockwork \S+);", "created by Clockwork <version>;", line)
        lines.append(line)
    return lines


def _expected(text: str) -> list[str]:
    return [line for line in text.strip("\n").splitlines() if line.strip()]


def _compare(actual: list[str], expected: list[str]) -> None:
    """Exact, line by line; ``~VALUE`` in an expected line matches a number within TF_TOLERANCE."""
    assert len(actual) == len(expected), "\n".join(["got:", *actual, "expected:", *expected])
    for got, want in zip(actual, expected):
        if "~" not in want:
            assert got == want
            continue
        parts = re.split(r"~(\d+(?:\.\d+)?)", want)
        pattern = "".join(re.escape(p) if i % 2 == 0 else r"(\d+(?:\.\d+)?)" for i, p in enumerate(parts))
        match = re.fullmatch(pattern, got)
        assert match, f"\ngot: {got}\nexpected: {want}"
        for value, golden in zip(match.groups(), parts[1::2]):
            assert float(value) == pytest.approx(float(golden), rel=TF_TOLERANCE), f"\ngot: {got}\nexpected: {want}"


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return cli(*args, cwd=tmp, env=ENV, timeout=300)


def _worker_log(tmp: Path, study: str) -> str:
    return (tmp / "runs" / "logs" / study / "worker-0.log").read_text()


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One storage, driven as a user would: launch, status, resume with more trials, status."""
    tmp = tmp_path_factory.mktemp("golden-launch")
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    runs: dict = {"tmp": tmp}
    runs["launch"] = _run(tmp, "launch", "smoke", "--workers", "1", "--trials", "4", "--storage", url, *pins("x=3"))
    runs["launch_log"] = _worker_log(tmp, "smoke")
    runs["status"] = _run(tmp, "status", "smoke", "--storage", url)
    runs["resume"] = _run(tmp, "launch", "smoke", "--workers", "1", "--trials", "6", "--storage", url, *pins("x=2.5"))
    runs["resume_log"] = _worker_log(tmp, "smoke")
    runs["status_resumed"] = _run(tmp, "status", "smoke", "--storage", url)
    return runs


@pytest.fixture(scope="module")
def more_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Another storage: an unpinned study, a study created with no workers, an unknown study."""
    tmp = tmp_path_factory.mktemp("golden-more")
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    runs: dict = {"tmp": tmp}
    runs["free"] = _run(tmp, "launch", "smoke", "--study-name", "smoke-free", "--workers", "1", "--trials", "4",
                        "--storage", url)
    runs["ready"] = _run(tmp, "launch", "smoke", "--study-name", "smoke-ready", "--workers", "0", "--trials", "3",
                         "--storage", url)
    runs["status_ready"] = _run(tmp, "status", "smoke-ready", "--storage", url)
    runs["status_unknown"] = _run(tmp, "status", "nope", "--storage", url)
    return runs


def _check(
    result: subprocess.CompletedProcess, tmp: Path, stdout: str, stderr: str = "", code: int = 0,
    names: dict[str, str] | None = None,
) -> None:
    """``result`` exited with ``code`` and printed ``stdout`` and ``stderr`` (normalised)."""
    assert result.returncode == code, result.stderr[-3000:]
    _compare(_normalise(result.stdout, tmp, names), _expected(stdout))
    _compare(_normalise(result.stderr, tmp, names), _expected(stderr))


SMOKE_CONFIG = (
    '{{"data_dir": null, "dataset": "none", "epochs": 10, "family": "smoke", "seed": {seed}, "sleep": 0.0, '
    '"train_limit": null, "trial_timeout": null, "val_size": 5000, "x": {x}}}'
)


def test_launch_prints_the_golden_summary(smoke_runs: dict) -> None:
    tmp = smoke_runs["tmp"]
    _check(
        smoke_runs["launch"], tmp,
        f"""
launched 1 workers ({THREADS} CPU thread(s) each); logs in runs/logs/smoke
study smoke: 4 complete
best trial #0: validation error 1.0000, not tested, None epochs, None parameters
best sampled trial #1: validation error 1.0000, not tested
config: {SMOKE_CONFIG.format(seed=0, x=3)}
open the dashboard: python -m search dashboard --storage 'sqlite:///<tmp>/db.sqlite'
""",
        """
<time> INFO search.study: created study smoke (family smoke, pruner none) with the reference network as trial 0
""",
    )


def test_status_prints_the_golden_summary(smoke_runs: dict) -> None:
    _check(
        smoke_runs["status"], smoke_runs["tmp"],
        f"""
study smoke: 4 complete
best trial #0: validation error 1.0000, not tested, None epochs, None parameters
best sampled trial #1: validation error 1.0000, not tested
config: {SMOKE_CONFIG.format(seed=0, x=3)}
created by Clockwork <version>; data none (the task reads no data)
disk: artifacts 0 B (0 files in <tmp>/artifacts)
worker logs: <tmp>/runs/logs/smoke (the last launch's, on the machine that launched it)
""",
    )


def test_resumed_launch_and_status_print_the_golden_summary(smoke_runs: dict) -> None:
    """Trial numbers continue; the reference line appears once the best is not trial 0."""
    summary = f"""
study smoke: 6 complete
best trial #4: validation error 0.2500, not tested, None epochs, None parameters
reference network (trial #0): validation error 1.0000
config: {SMOKE_CONFIG.format(seed=4, x=2.5)}
"""
    _check(
        smoke_runs["resume"], smoke_runs["tmp"],
        f"""
launched 1 workers ({THREADS} CPU thread(s) each); logs in runs/logs/smoke
{summary}
open the dashboard: python -m search dashboard --storage 'sqlite:///<tmp>/db.sqlite'
""",
    )
    # status adds what made the study and the disk it takes (issue 13)
    _check(smoke_runs["status_resumed"], smoke_runs["tmp"], summary + """created by Clockwork <version>; data none (the task reads no data)
disk: artifacts 0 B (0 files in <tmp>/artifacts)
worker logs: <tmp>/runs/logs/smoke (the last launch's, on the machine that launched it)
""")


def test_worker_logs_are_golden(smoke_runs: dict) -> None:
    """Optuna names the value after the study's metric name since studies record it (issue 13)."""
    tmp = smoke_runs["tmp"]
    trials = "\n".join(
        f"[I <time>] Trial {n} finished with value: {{'(x - 2)^2': 1.0}} and parameters: {{}}. Best is trial 0 with value: 1.0."
        for n in range(4)
    )
    _compare(_normalise(smoke_runs["launch_log"], tmp), _expected(f"""
[I <time>] A new study created in memory with name: no-name-<uuid>
{trials}
<time> INFO search.worker: study smoke has 4 finished trials (budget 4): worker done
<time> INFO search: worker ran 4 trial(s)
"""))
    _compare(_normalise(smoke_runs["resume_log"], tmp), _expected("""
[I <time>] A new study created in memory with name: no-name-<uuid>
[I <time>] Trial 4 finished with value: {'(x - 2)^2': 0.25} and parameters: {}. Best is trial 4 with value: 0.25.
[I <time>] Trial 5 finished with value: {'(x - 2)^2': 0.25} and parameters: {}. Best is trial 4 with value: 0.25.
<time> INFO search.worker: study smoke has 6 finished trials (budget 6): worker done
<time> INFO search: worker ran 2 trial(s)
"""))


def test_unpinned_launch_differs_only_in_sampled_tokens(more_runs: dict) -> None:
    """x is sampled without a seed: normalise x, the value and the best trial's number only."""
    result, tmp = more_runs["free"], more_runs["tmp"]
    assert result.returncode == 0, result.stderr[-3000:]
    lines = _normalise(result.stdout, tmp)
    best = re.fullmatch(r"best trial #(\d+): validation error (\d+\.\d{4}), not tested, None epochs, None parameters",
                        lines[2])
    config = re.fullmatch(r"config: (\{.*\})", lines[-2])
    assert best and config, lines
    number, value, x = int(best.group(1)), float(best.group(2)), json.loads(config.group(1))["x"]
    assert f"{(x - 2.0) ** 2:.4f}" == best.group(2) and json.loads(config.group(1))["seed"] == number
    assert value <= 4.0  # trial 0, the reference x = 0, scores 4
    reference = ["reference network (trial #0): validation error 4.0000"] if number != 0 else []
    if number == 0:  # the reference is the best: the best of the sampled trials is shown beside it
        sampled = re.fullmatch(r"best sampled trial #([1-3]): validation error (\d+\.\d{4}), not tested", lines[3])
        assert sampled and float(sampled.group(2)) >= value, lines
        reference = [lines[3]]
    _compare(lines, [
        f"launched 1 workers ({THREADS} CPU thread(s) each); logs in runs/logs/smoke-free",
        "study smoke-free: 4 complete",
        f"best trial #{number}: validation error {best.group(2)}, not tested, None epochs, None parameters",
        *reference,
        "config: " + SMOKE_CONFIG.format(seed=number, x=json.dumps(x)),
        "open the dashboard: python -m search dashboard --storage 'sqlite:///<tmp>/db.sqlite'",
    ])
    _compare(_normalise(result.stderr, tmp), [
        "<time> INFO search.study: created study smoke-free (family smoke, pruner none) with the reference network as "
        "trial 0",
    ])


def test_workers_zero_and_status_of_a_new_study_are_golden(more_runs: dict) -> None:
    tmp = more_runs["tmp"]
    _check(
        more_runs["ready"], tmp,
        """
study smoke-ready is ready in sqlite:///<tmp>/db.sqlite; start workers with: \
python -m search worker smoke-ready --storage 'sqlite:///<tmp>/db.sqlite' --trials 3
""",
        """
<time> INFO search.study: created study smoke-ready (family smoke, pruner none) with the reference network as trial 0
""",
    )
    _check(more_runs["status_ready"], tmp, """
study smoke-ready: 1 waiting
no completed trial yet
created by Clockwork <version>; data none (the task reads no data)
disk: artifacts 0 B (0 files in <tmp>/artifacts)
""")


def test_status_of_an_unknown_study_is_the_golden_error(more_runs: dict) -> None:
    _check(
        more_runs["status_unknown"], more_runs["tmp"], "",
        """
clockwork: error: no study named 'nope' in sqlite:///<tmp>/db.sqlite (stored studies: smoke-free, smoke-ready)
""",
        code=2,
    )


# A classification and a clock trial: the reference networks (trial 0), one epoch on tiny data.

MLP_PINS = ("epochs=1", "train_limit=1500", "val_size=500")


def test_classification_launch_is_golden(mnist_10k: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = _run(
        tmp_path, "launch", "mnist-mlp", "--workers", "1", "--trials", "1", "--storage", url,
        *pins(f"data_dir={mnist_10k}", *MLP_PINS),
    )
    _check(
        result, tmp_path,
        f"""
launched 1 workers ({THREADS} CPU thread(s) each); logs in runs/logs/mnist-mlp
study mnist-mlp: 1 complete
best trial #0: validation error ~0.5540, test accuracy ~0.4360, 1 epochs, 266610 parameters
config: {{"activation": "relu", "batch_norm": false, "batch_size": 32, "data_dir": "<mnist-10k>", "dataset": "mnist", \
"dropout": 0.0, "epochs": 1, "family": "mnist-mlp", "hidden_units": [300, 100], "initializer": "glorot_uniform", \
"learning_rate": 0.01, "lr_schedule": "constant", "model": "mlp", "optimizer": "sgd", "regularizer": "none", \
"seed": 0, "train_limit": 1500, "trial_timeout": null, "val_size": 500}}
open the dashboard: python -m search dashboard --storage 'sqlite:///<tmp>/db.sqlite'
""",
        """
<time> INFO datasets.mnist: <mnist-10k> holds x and y only: split 8571 train / 1429 test (seed 0)
<time> INFO search.study: created study mnist-mlp (family mnist-mlp, pruner median) with the reference network \
as trial 0
""",
    )


def test_clock_launch_is_golden(clock_set: tuple[Path, subprocess.CompletedProcess], tmp_path: Path) -> None:
    folder, _ = clock_set
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = _run(
        tmp_path, "launch", "clock", "--workers", "1", "--trials", "1", "--storage", url,
        # val_size 100: the 19 photos a tenth of this set gives are refused at the door (under 100 judge nothing).
        *pins(f"data_dir={folder}", "epochs=1", "input_size=32", "val_size=100"),
    )
    _check(
        result, tmp_path,
        f"""
launched 1 workers ({THREADS} CPU thread(s) each); logs in runs/logs/clock
study clock: 1 complete, 1 waiting
best trial #0: validation error ~181.80 min, test error ~177.47 min mean, ~165.46 median, ~2% within 10 min, 1 epochs, \
320006 parameters
config: {{"activation": "relu", "align": "none", "align_stage": 2, "augment": "light", "batch_norm": true, "batch_size": 16, "beta_1": 0.9, \
"conv_blocks": 4, "data_dir": "<clock>", "dataset": "clock", "dense_units": 128, "dropout": 0.0, "ema_momentum": 0.0, "epochs": 1, \
"family": "clock", "filters": 24, "first_stride": 1, "gap_read": 1.0, "gap_weight": 0.0, "global_pool": false, "head": "multi", \
"initializer": "he_normal", "input_size": 32, "kernel_size": 3, "learning_rate": 0.001, "lr_schedule": "cosine", \
"minute_head": "sincos", "model": "clock", "optimizer": "adam", "pooling": "max", "read_turns": 8, "regularizer": "none", \
"seed": 0, "train_limit": null, "trial_timeout": null, "val_size": 100, "warmup_epochs": 1}}
test photos of trial #0, predicted / true time: <tmp>/artifacts/<uuid> (predictions.png)
open the dashboard: python -m search dashboard --storage 'sqlite:///<tmp>/db.sqlite'
""",
        """
<time> INFO search.study: created study clock (family clock, pruner hyperband) with the reference network as trial 0 \
and 1 seed(s) after it
""",
        names={str(folder): "<clock>"},
    )
