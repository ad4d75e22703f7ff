"""Trial artifacts: what a user opens in optuna-dashboard beside a trial's numbers.

Every finished trial gets ``learning-curves.png`` (loss and validation error per epoch); clock
trials that were tested also get ``predictions.npz`` (true and predicted minutes of every test
photo, plus the photos of a sample and of the 16 worst predictions) and ``predictions.png`` (a
contact sheet); a trial that completes better than every earlier one gets ``model.keras``.

Where they live: one :class:`optuna.artifacts.FileSystemArtifactStore` per storage, by default
the folder ``artifacts`` beside a SQLite or journal file (``runs/artifacts`` for the default
storage), else ``runs/artifacts`` under the working directory; ``$CLOCKWORK_ARTIFACT_DIR``
overrides it everywhere. A study records its folder as the user attribute ``artifact_dir`` when it
is created, so workers started anywhere upload to the folder the dashboard serves.

Nothing here imports Keras: trainers are used through their attributes (``clock``, ``model``,
``splits``, ``predict_minutes``).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact
from optuna.trial import TrialState

log = logging.getLogger(__name__)

ENV_VAR = "CLOCKWORK_ARTIFACT_DIR"
STUDY_ATTR = "artifact_dir"
DEFAULT_DIR = Path("runs") / "artifacts"
CURVES = "learning-curves.png"
PREDICTIONS = "predictions.npz"
CONTACT_SHEET = "predictions.png"
MODEL = "model.keras"
SHEET_SIZE = 16  # photos in the sample grid and in the worst-predictions grid


def default_artifact_dir(url: str) -> Path:
    """``$CLOCKWORK_ARTIFACT_DIR``, else ``artifacts`` beside a SQLite/journal file, else ``runs/artifacts``."""
    from storage.urls import kind_of, sqlite_path

    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    kind = kind_of(url)
    if kind == "sqlite":
        return (sqlite_path(url).parent / "artifacts").resolve()
    if kind == "journal":
        return (Path(url).parent / "artifacts").resolve()
    return DEFAULT_DIR.resolve()


def study_artifact_dir(study: optuna.Study, url: str | None = None) -> Path:
    """The folder ``study``'s trials upload to: the environment, else the study's record, else the default.

    A study made before artifacts existed has no record: the default for ``url`` when known.
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    recorded = study.user_attrs.get(STUDY_ATTR)
    if recorded:
        return Path(recorded)
    return default_artifact_dir(url) if url else DEFAULT_DIR.resolve()


def open_store(folder: str | os.PathLike) -> FileSystemArtifactStore:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def find_artifact(trial: optuna.trial.FrozenTrial, storage: Any, filename: str) -> str | None:
    """The id of an artifact of ``trial`` called ``filename`` (the service uploads each name once), or None."""
    ids = [m.artifact_id for m in get_all_artifact_meta(trial, storage=storage) if m.filename == filename]
    return ids[-1] if ids else None


def read_artifact(store: FileSystemArtifactStore, artifact_id: str) -> bytes:
    with store.open_reader(artifact_id) as f:
        return f.read()


# Figures (matplotlib, drawn off-screen; imported only when a trial uploads).

def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves_png(losses: list[float], val_errors: list[float], error_label: str) -> bytes:
    """Loss and validation error against the epoch, side by side."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    epochs = range(1, len(losses) + 1)
    left.plot(epochs, losses, marker="o")
    left.set(title="training loss", xlabel="epoch")
    right.plot(range(1, len(val_errors) + 1), val_errors, marker="o", color="tab:red")
    right.set(title=error_label, xlabel="epoch")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def clock_label(minutes: float) -> str:
    m = int(round(float(minutes))) % 720
    return f"{m // 60 or 12}:{m % 60:02d}"


def contact_sheet_png(images: np.ndarray, true: np.ndarray, pred: np.ndarray, title: str, columns: int = 4) -> bytes:
    """Photos in a grid, each titled ``predicted / true``; errors over 30 minutes in red."""
    from models.timekeeping import common_sense_error

    plt = _pyplot()
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2 * columns, 2.2 * rows + 0.4), dpi=80, squeeze=False)
    errors = common_sense_error(np.asarray(true), np.asarray(pred))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255 if images[i].max() > 1 else 1)
            colour = "red" if errors[i] > 30 else "black"
            ax.set_title(f"{clock_label(pred[i])} / {clock_label(true[i])}", fontsize=9, color=colour)
    fig.suptitle(f"{title} (predicted / true)", fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def predictions_npz(images: np.ndarray, true: np.ndarray, pred: np.ndarray) -> bytes:
    """Every test prediction, and the photos of a sample and of the worst :data:`SHEET_SIZE`."""
    from models.timekeeping import common_sense_error

    true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    errors = common_sense_error(true, pred)
    sample = np.arange(min(SHEET_SIZE, len(true)))
    worst = np.argsort(-errors, kind="stable")[:SHEET_SIZE]
    out = io.BytesIO()
    np.savez_compressed(
        out, y_true=true, y_pred=pred, error=errors,
        sample_index=sample, sample_images=_as_uint8(images[sample]),
        worst_index=worst, worst_images=_as_uint8(images[worst]),
    )
    return out.getvalue()


def _as_uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    if images.dtype != np.uint8:
        scale = 255.0 if float(images.max(initial=0)) <= 1.0 else 1.0
        images = np.clip(np.rint(images * scale), 0, 255).astype(np.uint8)
    return images


# Uploads from a running trial.

def _upload_bytes(store: FileSystemArtifactStore, trial: optuna.Trial, name: str, data: bytes, mimetype: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial, mimetype=mimetype)


def trial_store(trial: optuna.Trial) -> FileSystemArtifactStore:
    return open_store(study_artifact_dir(trial.study))


def upload_trial_artifacts(trial: optuna.Trial, trainer: Any, *, tested: bool) -> None:
    """Learning curves for every trial that ran an epoch; predictions for tested clock trials.

    An upload that fails (a full disk, an unwritable folder) is logged, never fails the trial.
    """
    clock = trainer.clock
    if not clock.epochs:
        return
    try:
        store = trial_store(trial)
        clock_model = hasattr(trainer, "predict_minutes")
        label = "validation error (minutes)" if clock_model else "validation error"
        _upload_bytes(store, trial, CURVES, learning_curves_png(clock.losses, clock.val_errors, label), "image/png")
        if clock_model and tested:
            s = trainer.splits
            # The test predictions evaluate_test just made: no second pass over the test photos.
            pred = trainer.test_minutes if trainer.test_minutes is not None else trainer.predict_minutes(s.x_test)
            _upload_bytes(store, trial, PREDICTIONS, predictions_npz(s.x_test, s.y_test, pred), "application/octet-stream")
            n = min(SHEET_SIZE, len(pred))
            sheet = contact_sheet_png(_as_uint8(s.x_test[:n]), s.y_test[:n], pred[:n], f"trial {trial.number}: test photos")
            _upload_bytes(store, trial, CONTACT_SHEET, sheet, "image/png")
    except Exception as exc:  # noqa: BLE001 - artifacts are a convenience, the trial's numbers are not
        log.warning("trial %d: artifacts not uploaded: %s", trial.number, exc)


def upload_model_if_best(trial: optuna.Trial, trainer: Any, value: float) -> bool:
    """Upload ``model.keras`` when ``value`` beats every completed trial of the study so far."""
    study = trial.study
    done = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if study.direction == optuna.study.StudyDirection.MAXIMIZE:
        best = not done or value > max(done)
    else:
        best = not done or value < min(done)
    if not best:
        return False
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL
            trainer.model.save(path)
            upload_artifact(artifact_store=trial_store(trial), file_path=str(path), study_or_trial=trial, mimetype="application/octet-stream")
    except Exception as exc:  # noqa: BLE001
        log.warning("trial %d: model not uploaded: %s", trial.number, exc)
        return False
    return True
