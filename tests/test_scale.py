"""Many workers on one study over every storage: exact budgets, unique trial numbers, no TensorFlow.

The ``smoke`` family's objective is ``(x - 2)^2`` after an optional sleep, so these tests measure
the service (storages, budget lock, worker loop), not training. Database servers are the local
PostgreSQL, MariaDB and Redis (see tests/backends.py); each test gets a database of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from backends import BACKENDS, check_exact, storage_for
from conftest import ROOT, cli, pins


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path):
    with storage_for(request.param, tmp_path) as url:
        yield url


def _create(url: str) -> None:
    result = cli("launch", "smoke", "--workers", "0", "--storage", url)
    assert result.returncode == 0, result.stderr


def test_independent_workers_share_one_study(backend: str, tmp_path: Path) -> None:
    """Three `worker` commands, as on three machines: together exactly the budget."""
    _create(backend)
    budget = 24
    logs = [tmp_path / f"worker-{i}.log" for i in range(3)]
    procs = []
    for log in logs:
        with open(log, "w") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "search",
                        "worker",
                        "smoke",
                        "--storage",
                        backend,
                        "--trials",
                        str(budget),
                        *pins("sleep=0.05"),
                    ],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
    for proc in procs:
        assert proc.wait(120) == 0, [log.read_text()[-2000:] for log in logs]
    trials = check_exact(backend, budget)
    assert len({t.user_attrs["worker"] for t in trials if t.user_attrs.get("worker")}) >= 2
    text = "".join(log.read_text() for log in logs)
    assert "database is locked" not in text and "Traceback" not in text


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql", "grpc"])
def test_load_eight_workers(kind: str, tmp_path: Path) -> None:
    """`launch --workers 8` on a trivial objective: no lock errors, no lost or extra trials."""
    budget = 160
    with storage_for(kind, tmp_path) as url:
        result = cli(
            "launch",
            "smoke",
            "--workers",
            "8",
            "--trials",
            str(budget),
            "--storage",
            url,
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT)},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"{budget} complete" in result.stdout
        check_exact(url, budget)
        worker_logs = "".join(p.read_text() for p in (tmp_path / "runs" / "logs" / "smoke").glob("worker-*.log"))
        assert "database is locked" not in worker_logs and "Traceback" not in worker_logs


def test_smoke_worker_never_imports_tensorflow(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _create(url)
    out = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "search",
            "worker",
            "smoke",
            "--storage",
            url,
            "--trials",
            "3",
            "--threads",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in out.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "optuna" in imported
    assert not imported & {"tensorflow", "keras"}, "a smoke worker imported TensorFlow/Keras"
    check_exact(url, 3)


def _trial(study, state):
    import optuna

    trial = study.ask()
    if state != "RUNNING":
        study.tell(trial, 1.0 if state == "COMPLETE" else None, state=getattr(optuna.trial.TrialState, state))
    return trial.number


def test_over_budget_counts_in_trial_number_order() -> None:
    import optuna

    from storage import over_budget

    study = optuna.create_study()
    _trial(study, "COMPLETE")
    _trial(study, "FAIL")  # failed trials never count
    first = _trial(study, "RUNNING")
    second = _trial(study, "RUNNING")
    # Budget 3: one finished, so two more may run; the lowest-numbered running trial always may.
    assert not over_budget(study, first, 3) and not over_budget(study, second, 3)
    assert not over_budget(study, first, 2) and over_budget(study, second, 2)
    study.enqueue_trial({"x": 1.0})  # a waiting trial holds a slot too
    assert over_budget(study, first, 2) and over_budget(study, second, 3)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # study.ask() stands in for another worker
def test_surplus_trial_ends_failed_and_uncounted(tmp_path: Path) -> None:
    """Behind the gRPC proxy a trial that lost the race ends FAIL with `budget_surplus`, unrun."""
    import optuna

    from search.study import create_study
    from search.worker import Worker
    from studies import get_family

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = create_study(url, "smoke", get_family("smoke"), "none")
    earlier = study.ask()  # takes the enqueued trial 0 and keeps running, as on another worker
    worker = Worker(url, "smoke", {})
    worker.optimistic, worker.budget = True, 1
    worker.study.optimize(worker._guarded, n_trials=1, catch=(Exception,))
    late = worker.study.trials[-1]
    assert late.number > earlier.number and late.state == optuna.trial.TrialState.FAIL
    assert late.user_attrs["budget_surplus"] is True and "surplus" in late.user_attrs["fail_reason"]
    assert worker.surplus and late.params == {}  # never sampled, never run
