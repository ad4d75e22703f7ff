"""Trial artifacts: what a user opens in optuna-dashboard beside a trial's numbers.

Every finished trial gets ``learning-curves.png`` (loss and validation error per epoch); a trial
that completes better than every earlier one gets ``model.keras``. A task adds its own (the
clock task: ``predictions.npz`` with true and predicted minutes of every test photo plus the
photos of a sample and of the 16 worst predictions, and ``predictions.png``, a contact sheet);
this module gives it the pieces.

Where they live: one :class:`optuna.artifacts.FileSystemArtifactStore` per storage, by default
the folder ``artifacts`` beside a SQLite or journal file (``runs/artifacts`` for the default
storage), else ``runs/artifacts`` under the working directory; ``$CLOCKWORK_ARTIFACT_DIR``
overrides it everywhere. A study records its folder as the user attribute ``artifact_dir`` when it
is created, so workers started anywhere upload to the folder the dashboard serves.

Nothing here imports Keras: a model is saved through its own ``save``.
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

from datasets.clocktime import clock_label, common_sense_error
from datasets.sheet import as_uint8, contact_sheet, png_bytes
from storage import Location, attrs, parse_location

log = logging.getLogger(__name__)

ENV_VAR = "CLOCKWORK_ARTIFACT_DIR"
STUDY_ATTR = attrs.ARTIFACT_DIR
DEFAULT_DIR = Path("runs") / "artifacts"
CURVES = "learning-curves.png"
PREDICTIONS = "predictions.npz"
CONTACT_SHEET = "predictions.png"
MODEL = "model.keras"
SHEET_SIZE = 16  # photos in the sample grid and in the worst-predictions grid


def default_artifact_dir(where: str | Location) -> Path:
    """``$CLOCKWORK_ARTIFACT_DIR``, else ``artifacts`` beside a SQLite/journal file, else ``runs/artifacts``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    where = parse_location(where)
    if where.file is not None:
        return (where.file.parent / "artifacts").resolve()
    return DEFAULT_DIR.resolve()


def study_artifact_dir(study: optuna.Study, url: str | Location | None = None) -> Path:
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


def study_artifact_ids(study: optuna.Study) -> list[str]:
    """The ids of every artifact the trials of ``study`` (and the study itself) uploaded."""
    storage = study._storage
    ids = [m.artifact_id for m in get_all_artifact_meta(study, storage=storage)]
    for trial in study.get_trials(deepcopy=False):
        ids += [m.artifact_id for m in get_all_artifact_meta(trial, storage=storage)]
    return ids


def disk_bytes(paths: list[Path]) -> int:
    """Bytes the files ``paths`` (and everything under folders among them) take; absent ones 0."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


def human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


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


def prediction_sheet_png(images: np.ndarray, true: np.ndarray, pred: np.ndarray, title: str, columns: int = 4) -> bytes:
    """Photos in a grid, each captioned ``predicted / true``; errors over 30 minutes in red."""
    errors = common_sense_error(np.asarray(true), np.asarray(pred))
    captions = [f"{clock_label(p)} / {clock_label(t)}" for p, t in zip(pred, true, strict=True)]
    sheet = contact_sheet(
        images, captions, columns=columns, title=f"{title} (predicted / true)", highlight=list(errors > 30)
    )
    return png_bytes(sheet)


def predictions_npz(images: np.ndarray, true: np.ndarray, pred: np.ndarray) -> bytes:
    """Every test prediction, and the photos of a sample and of the worst :data:`SHEET_SIZE`."""
    true, pred = np.asarray(true, np.float64), np.asarray(pred, np.float64)
    errors = common_sense_error(true, pred)
    sample = np.arange(min(SHEET_SIZE, len(true)))
    worst = np.argsort(-errors, kind="stable")[:SHEET_SIZE]
    out = io.BytesIO()
    np.savez_compressed(
        out, y_true=true, y_pred=pred, error=errors,
        sample_index=sample, sample_images=as_uint8(images[sample]),
        worst_index=worst, worst_images=as_uint8(images[worst]),
    )
    return out.getvalue()


# Uploads from a running trial.

def upload_bytes(trial: optuna.Trial, name: str, data: bytes, mimetype: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return upload_artifact(artifact_store=trial_store(trial), file_path=str(path), study_or_trial=trial, mimetype=mimetype)


def trial_store(trial: optuna.Trial) -> FileSystemArtifactStore:
    return open_store(study_artifact_dir(trial.study))


def upload_learning_curves(trial: optuna.Trial, losses: list[float], val_errors: list[float], label: str) -> None:
    upload_bytes(trial, CURVES, learning_curves_png(losses, val_errors, label), "image/png")


def upload_predictions(trial: optuna.Trial, images: np.ndarray, true: np.ndarray, pred: np.ndarray) -> None:
    """``predictions.npz`` (every test prediction) and ``predictions.png`` (the first photos)."""
    upload_bytes(trial, PREDICTIONS, predictions_npz(images, true, pred), "application/octet-stream")
    n = min(SHEET_SIZE, len(pred))
    sheet = prediction_sheet_png(images[:n], true[:n], pred[:n], f"trial {trial.number}: test photos")
    upload_bytes(trial, CONTACT_SHEET, sheet, "image/png")


def upload_model_if_best(trial: optuna.Trial, model: Any, value: float) -> bool:
    """Upload ``model.keras`` when ``value`` (the error) beats every completed trial of the study so far."""
    study = trial.study
    done = [t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE:
        best = not done or value > max(done)
    else:
        best = not done or value < min(done)
    if not best:
        return False
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL
            model.save(path)
            upload_artifact(artifact_store=trial_store(trial), file_path=str(path), study_or_trial=trial, mimetype="application/octet-stream")
    except Exception as exc:  # noqa: BLE001
        log.warning("trial %d: model not uploaded: %s", trial.number, exc)
        return False
    return True
