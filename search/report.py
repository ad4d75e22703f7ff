"""``report``: one self-contained HTML file over every study in a storage.

Sections follow the assignment: each search study (optimisation history, parameter importances,
parallel coordinates, the objective by each categorical choice), task one (best trial against the
reference network), task two (the permutation table) and the clock (error by head type, and the
best trial's stored predictions). Figures are plotly, with plotly.js inline, so the file opens
offline; Optuna's own plotly visualisations are used where they exist. A section without data says
so instead of failing, and so does a figure that cannot be drawn (one trial has no importances).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import logging
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from search.study import SECOND_OBJECTIVES, error_of, objectives_of, pareto_front
from search.tasks import task_of_study
from storage import attrs
from studies import TASK_ONE

log = logging.getLogger(__name__)

MIN_IMPORTANCE_TRIALS = 10  # completed trials before parameter importances are drawn
CATEGORICAL = ("initializer", "activation", "optimizer", "regularizer", "head")
DATASET_NAMES = {"fashion": "Fashion-MNIST", "mnist": "MNIST"}


class _Page:
    """The HTML being built: sections of headings, paragraphs, tables and figures."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures = 0
        self.empty: list[str] = []

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        ident = f' id="{html.escape(anchor)}"' if anchor else ""
        self.parts.append(f"<h{level}{ident}>{html.escape(text)}</h{level}>")

    def text(self, text: str, css: str = "") -> None:
        cls = f' class="{css}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def no_data(self, section: str, why: str) -> None:
        self.empty.append(section)
        self.text(f"No data: {why}", "nodata")

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, fig: go.Figure) -> None:
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 30, "t": 60, "b": 50})
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
        self.figures += 1

    def try_figure(self, what: str, build: Any) -> None:
        """Draw ``build()``; a figure that cannot be drawn from these trials is named, not fatal."""
        try:
            self.figure(build())
        except (ValueError, RuntimeError, ZeroDivisionError, KeyError, IndexError) as exc:
            self.text(f"{what}: not drawn ({type(exc).__name__}: {exc})", "nodata")

    def image(self, png: bytes, alt: str) -> None:
        data = base64.b64encode(png).decode("ascii")
        self.parts.append(f'<img class="sheet" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')

    def html(self, title: str, subtitle: str) -> str:
        from plotly.offline import get_plotlyjs

        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>"
            + "\n".join(self.parts)
            + "</body></html>\n"
        )


_CSS = (
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}.nodata{color:#885;font-style:italic}img.sheet{max-width:100%;border:1px solid #ddd}"
    "h2{border-bottom:2px solid #ddd;margin-top:2em}"
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def write_report(storage: Any, out: Path, artifact_dir: Path | None, url: str) -> str:
    """Write the report to ``out``; return a one-line summary (studies, figures, empty sections).

    ``artifact_dir``: where trial artifacts are (None: each study's own, see :mod:`search.artifacts`).
    """
    studies = [optuna.load_study(study_name=name, storage=storage) for name in sorted(optuna.get_all_study_names(storage))]
    permutation = [s for s in studies if s.user_attrs.get(attrs.KIND) == "permutation"]
    searches = [s for s in studies if s not in permutation]
    page = _Page()
    page.heading("Contents")
    page.parts.append("<ul>" + "".join(f'<li><a href="#study-{html.escape(s.study_name)}">{html.escape(s.study_name)}</a></li>' for s in searches)
                      + '<li><a href="#task-one">Task one</a></li><li><a href="#task-two">Task two</a></li><li><a href="#clock">Clock</a></li></ul>')
    for study in searches:
        study_section(page, study)
    task_one_section(page, searches)
    task_two_section(page, permutation[0] if permutation else None)
    clock_section(page, [s for s in searches if task_of_study(s).reads_clocks], storage, artifact_dir, url)
    stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    document = page.html("Clockwork report", f"{len(studies)} studies in {url}; written {stamp}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(out)
    empty = f"; without data: {', '.join(page.empty)}" if page.empty else ""
    return f"{len(studies)} studies, {page.figures} figures{empty}"


# Per study.

def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]


def _choice(trial: FrozenTrial, key: str) -> Any:
    """A categorical choice of a trial: its parameter, else its config (a pinned choice)."""
    if key in trial.params:
        return trial.params[key]
    return trial.user_attrs.get(attrs.CONFIG, {}).get(key)


def study_section(page: _Page, study: optuna.Study) -> None:
    from optuna import visualization as vis

    name = study.study_name
    page.heading(f"Study {name}", anchor=f"study-{name}")
    trials = study.get_trials(deepcopy=False)
    counts = defaultdict(int)
    for t in trials:
        counts[t.state.name.lower()] += 1
    family = study.user_attrs.get(attrs.FAMILY, "not recorded")
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
    objective = study.user_attrs.get(attrs.OBJECTIVE, "objective value")
    page.text(f"family {family}; {states}; objective: {objective} (lower is better)")
    from search.launcher import record_lines

    for line in record_lines(study, task_of_study(study)):  # versions, data, disk
        page.text(line)
    complete = _complete(study)
    if not complete:
        page.no_data(f"study {name}", "no completed trial to plot")
        return
    best = min(complete, key=error_of)
    page.text(f"best trial #{best.number}: {error_of(best):.4f}")
    objectives = objectives_of(study)
    target = error_of if len(objectives) > 1 else None  # a multi-objective study: plot its error
    page.try_figure("optimisation history", lambda: vis.plot_optimization_history(study, target=target, target_name=objective))
    if len(objectives) > 1:
        names = [objective, SECOND_OBJECTIVES[objectives[1]]]
        page.text(f"multi-objective: {' and '.join(names)}; {len(pareto_front(study))} trial(s) on the Pareto front")
        page.try_figure("Pareto front", lambda: vis.plot_pareto_front(study, target_names=names))
    if len({tuple(sorted(t.params.items())) for t in complete}) < 2:
        page.text("parameter importances and parallel coordinates: need two completed trials with different parameters", "nodata")
    else:
        if len(complete) < MIN_IMPORTANCE_TRIALS:
            page.text(
                f"parameter importances: {len(complete)} completed trial(s); importances are shown from "
                f"{MIN_IMPORTANCE_TRIALS} on (a ranking of {len(best.params)} parameters from fewer is noise)",
                "nodata",
            )
        else:
            with warnings.catch_warnings():  # PED-ANOVA warns about every choice seen fewer than twice
                warnings.simplefilter("ignore", UserWarning)
                page.try_figure("parameter importances", lambda: vis.plot_param_importances(study, target=target, target_name=objective))
        page.try_figure("parallel coordinates", lambda: vis.plot_parallel_coordinate(study, target=target, target_name=objective))
    if any(_choice(t, d) is not None for t in complete for d in CATEGORICAL):
        page.try_figure("objective by categorical choice", lambda: categorical_boxes(complete, objective, name))


def categorical_boxes(trials: list[FrozenTrial], objective: str, title: str) -> go.Figure:
    """One box plot per categorical dimension the trials have: the objective by choice."""
    dims = [d for d in CATEGORICAL if any(_choice(t, d) is not None for t in trials)]
    if not dims:
        raise ValueError("the trials have none of " + ", ".join(CATEGORICAL))
    fig = make_subplots(rows=1, cols=len(dims), subplot_titles=dims, shared_yaxes=True)
    for col, dim in enumerate(dims, start=1):
        by: dict[str, list[float]] = defaultdict(list)
        for t in trials:
            by[str(_choice(t, dim))].append(error_of(t))
        for choice, values in sorted(by.items()):
            fig.add_trace(go.Box(y=values, name=choice, boxpoints="all", showlegend=False), row=1, col=col)
    fig.update_yaxes(title_text=objective, row=1, col=1)
    fig.update_layout(title=f"{title}: objective by categorical choice", height=420)
    return fig


# Task one.

def _reference(study: optuna.Study) -> FrozenTrial | None:
    refs = [t for t in _complete(study) if t.user_attrs.get(attrs.REFERENCE)]
    return refs[0] if refs else None


def task_one_section(page: _Page, studies: list[optuna.Study]) -> None:
    page.heading("Task one: best trial against the reference network", anchor="task-one")
    rows, names, best_acc, ref_acc = [], [], [], []
    for study in studies:
        if study.user_attrs.get(attrs.FAMILY) not in TASK_ONE:
            continue
        complete = _complete(study)
        if not complete:
            continue
        best, ref = min(complete, key=error_of), _reference(study)
        rows.append([
            study.study_name, f"#{best.number}", error_of(best), best.user_attrs.get("test_accuracy"),
            f"#{ref.number}" if ref else "not finished", error_of(ref) if ref else None, ref.user_attrs.get("test_accuracy") if ref else None,
        ])
        names.append(study.study_name)
        best_acc.append(best.user_attrs.get("test_accuracy"))
        ref_acc.append(ref.user_attrs.get("test_accuracy") if ref else None)
    if not rows:
        page.no_data("task one", "no MNIST / Fashion-MNIST study has a completed trial")
        return
    page.table(["study", "best trial", "validation error", "test accuracy", "reference", "validation error", "test accuracy"], rows)

    def bars() -> go.Figure:
        fig = go.Figure([go.Bar(name="best trial", x=names, y=best_acc), go.Bar(name="reference network", x=names, y=ref_acc)])
        fig.update_layout(barmode="group", title="test accuracy: best trial vs reference network", yaxis_title="test accuracy", height=400)
        return fig

    page.try_figure("task one bar chart", bars)


# Task two.

def task_two_section(page: _Page, study: optuna.Study | None) -> None:
    from search.permutation import table_rows

    page.heading("Task two: pixel permutation", anchor="task-two")
    if study is None:
        page.no_data("task two", "no permutation study; run python -m search permutation")
        return
    latest = study.user_attrs.get(attrs.LATEST) or {}
    complete = {t.number: t for t in _complete(study)}
    chosen = [complete[n] for n in latest.get("trials", []) if n in complete] or list(complete.values())
    rows = table_rows(chosen)
    if not rows:
        page.no_data("task two", f"study {study.study_name} has no completed run")
        return
    if latest:
        page.text(
            f"permutation seed {latest.get('permute_seed')}, {latest.get('seeds')} seed(s) per cell, pins {latest.get('pins')}; "
            f"networks: {'; '.join(latest.get('sources', []))}"
        )
        for line in latest.get("skipped", []):
            page.text(line, "nodata")
    data = latest.get("data") or sorted({str(t.user_attrs.get(attrs.DATA_SOURCE)) for t in chosen if t.user_attrs.get(attrs.DATA_SOURCE)})
    if data:
        page.text("data: " + "; ".join(data))
    page.table(
        ["dataset", "network", "pixels", "runs", "test accuracy mean", "standard deviation"],
        [[DATASET_NAMES.get(r["dataset"], r["dataset"]), r["network"].upper(), r["condition"], r["n"], r["mean"], r["std"]] for r in rows],
    )

    def bars() -> go.Figure:
        fig = go.Figure()
        for condition in ("original", "permuted"):
            sel = [r for r in rows if r["condition"] == condition]
            fig.add_trace(go.Bar(
                name=condition,
                x=[f"{DATASET_NAMES.get(r['dataset'], r['dataset'])} {r['network'].upper()}" for r in sel],
                y=[r["mean"] for r in sel],
                error_y={"type": "data", "array": [r["std"] or 0.0 for r in sel]},
            ))
        fig.update_layout(barmode="group", title="test accuracy on original and permuted pixels (mean ± std over seeds)",
                          yaxis_title="test accuracy", height=420)
        return fig

    page.try_figure("task two bar chart", bars)


# Clock.

def clock_section(page: _Page, studies: list[optuna.Study], storage: Any, artifact_dir: Path | None, url: str) -> None:
    from search.artifacts import study_artifact_dir

    page.heading("Clock: telling the time", anchor="clock")
    if not studies:
        page.no_data("clock", "no clock study in this storage")
        return
    for study in studies:
        page.heading(f"{study.study_name}", level=3)
        complete = _complete(study)
        if not complete:
            page.no_data(f"clock study {study.study_name}", "no completed trial")
            continue
        page.try_figure("best error by head type", lambda: head_bars(complete, study.study_name))
        best = min(complete, key=error_of)
        folder = artifact_dir or study_artifact_dir(study, url)
        predictions = _best_predictions(best, storage, folder)
        if predictions is None:
            page.no_data(
                f"clock predictions of {study.study_name}",
                f"best trial #{best.number} has no stored predictions (predictions.npz artifact in {folder}); "
                "error histogram, error by time of day and image grids need them",
            )
            continue
        page.text(f"best trial #{best.number}: {len(predictions['error'])} test photos, mean error {float(np.mean(predictions['error'])):.2f} min")
        page.try_figure("error histogram", lambda: error_histogram(predictions))
        page.try_figure("error by time of day", lambda: error_by_time(predictions))
        _sheets(page, predictions, best.number)


def head_bars(trials: list[FrozenTrial], title: str) -> go.Figure:
    best: dict[str, FrozenTrial] = {}
    for t in trials:
        head = str(_choice(t, "head"))
        if head not in best or error_of(t) < error_of(best[head]):
            best[head] = t
    heads = sorted(best)
    fig = go.Figure([
        go.Bar(name="validation (objective)", x=heads, y=[error_of(best[h]) for h in heads]),
        go.Bar(name="test", x=heads, y=[best[h].user_attrs.get("test_mean") for h in heads]),
    ])
    fig.update_layout(barmode="group", title=f"{title}: best mean error by head type", yaxis_title="mean common-sense error (minutes)", height=400)
    return fig


def _best_predictions(trial: FrozenTrial, storage: Any, artifact_dir: Path) -> dict[str, np.ndarray] | None:
    from search.artifacts import PREDICTIONS, find_artifact, open_store, read_artifact

    artifact_id = find_artifact(trial, storage, PREDICTIONS)
    if artifact_id is None or not Path(artifact_dir).is_dir():
        return None
    try:
        data = read_artifact(open_store(artifact_dir), artifact_id)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError, optuna.artifacts.exceptions.ArtifactNotFound) as exc:
        log.warning("predictions of trial %d unreadable: %s", trial.number, exc)
        return None


def error_histogram(p: dict[str, np.ndarray]) -> go.Figure:
    fig = go.Figure(go.Histogram(x=p["error"], nbinsx=60))
    fig.update_layout(title="common-sense error of every test photo", xaxis_title="error (minutes)", yaxis_title="photos", height=380)
    return fig


def error_by_time(p: dict[str, np.ndarray]) -> go.Figure:
    hours = np.asarray(p["y_true"], np.float64) / 60.0
    fig = go.Figure(go.Scattergl(x=hours, y=p["error"], mode="markers", marker={"size": 4, "opacity": 0.5}))
    fig.update_layout(title="error against the true time", xaxis_title="true time (hours after 12:00)", yaxis_title="error (minutes)", height=380)
    fig.update_xaxes(range=[0, 12], dtick=1)
    return fig


def _sheets(page: _Page, p: dict[str, np.ndarray], number: int) -> None:
    from search.artifacts import prediction_sheet_png

    y_true, y_pred = p["y_true"], p["y_pred"]
    for label, key in (("test photos", "sample"), ("16 worst predictions", "worst")):
        idx = p[f"{key}_index"]
        page.text(f"trial #{number}: {label}, titled predicted / true (red: off by more than 30 minutes)")
        page.image(prediction_sheet_png(p[f"{key}_images"], y_true[idx], y_pred[idx], label), label)
