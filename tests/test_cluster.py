"""``launch --cluster``: workers placed by a real Ray cluster on this machine.

The cluster is a head and a second node, each started with ``ray start --block`` in a process
group of its own, with its own CPUs and a capped object store; they are stopped by their process
groups, never with ``ray stop`` (which ends every Ray process on the machine, a user's included).
Ray is an optional install (requirements-cluster.txt): without it these tests skip, unless
CLOCKWORK_REQUIRE_ALL asks for everything.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.backends import POSTGRES, free_port, fresh_database
from tests.conftest import ROOT, TINY, cli, pins, require
from tests.raycluster import RayTestCluster, ray_processes, stop_group

HAVE_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    require(HAVE_RAY, "Ray is not installed (pip install -r requirements-cluster.txt)")
    others = ray_processes()
    c = RayTestCluster(tmp_path_factory.mktemp("ray"))
    try:
        c.start_head()
        c.add_node()
        yield c
    finally:
        c.stop()
    # Only what the test started is gone: Ray processes that were running before it still are.
    assert others <= ray_processes(), "stopping the test cluster ended Ray processes it did not start"


@pytest.fixture
def postgres():
    with fresh_database(POSTGRES) as url:
        yield url


HERE = {"PYTHONPATH": str(ROOT)}  # the checkout, for commands run from a user's own folder


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(url))


def test_smoke_on_two_nodes_ends_with_exactly_the_budget(cluster: RayTestCluster, postgres: str, tmp_path: Path) -> None:
    name = f"ray-smoke-{os.getpid()}"
    out = cli("launch", "smoke", "--study-name", name, "--cluster", cluster.address, "--workers", "4", "--trials", "40",
              "--storage", postgres, *pins("sleep=0.2"), cwd=tmp_path, env=HERE, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "over 2 node(s)" in out.stdout
    study = _study(postgres, name)
    counts = Counter(t.state for t in study.trials)
    assert counts[TrialState.COMPLETE] == 40 and counts[TrialState.RUNNING] == 0
    nodes = Counter(t.user_attrs.get("node") for t in study.trials)
    assert None not in nodes and len(nodes) == 2, nodes  # spread over both nodes
    # The workers' logs are on the head, where status says they are.
    logs = tmp_path / "runs" / "logs" / name
    assert all("Trial" in (logs / f"worker-{i}.log").read_text() for i in range(4))
    status = cli("status", name, "--storage", postgres, cwd=tmp_path, env=HERE)
    assert f"worker logs: {logs}" in status.stdout


def test_launch_serves_the_database_to_the_workers_through_a_proxy(cluster: RayTestCluster, postgres: str, tmp_path: Path) -> None:
    name = f"ray-proxy-{os.getpid()}"
    out = cli("launch", "smoke", "--study-name", name, "--cluster", cluster.address, "--workers", "3", "--trials", "24",
              "--proxy-port", str(free_port()), "--storage", postgres, *pins("sleep=0.1"), cwd=tmp_path, env=HERE, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "gRPC storage proxy for the workers at grpc://" in out.stdout
    study = _study(postgres, name)
    counts = Counter(t.state for t in study.trials)
    assert counts[TrialState.COMPLETE] == 24 and counts[TrialState.RUNNING] == 0
    # The only failures allowed behind the proxy: budget races, never counted (docs/scaling.md).
    assert all(t.user_attrs.get("budget_surplus") for t in study.trials if t.state == TrialState.FAIL)
    assert "worker" in {k for t in study.trials for k in t.user_attrs}


def test_timeout_ends_the_cluster_search_by_its_deadline_as_locally(cluster: RayTestCluster, postgres: str, tmp_path: Path) -> None:
    name = f"ray-timeout-{os.getpid()}"
    out = cli("launch", "smoke", "--study-name", name, "--cluster", cluster.address, "--workers", "2", "--trials", "1000",
              "--timeout", "20", "--storage", postgres, *pins("sleep=1"), cwd=tmp_path, env=HERE, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "time limit of 20 s reached: the workers ended their trials by it" in out.stdout + out.stderr
    study = _study(postgres, name)
    counts = Counter(t.state for t in study.trials)
    assert 2 <= counts[TrialState.COMPLETE] < 1000 and counts[TrialState.RUNNING] == 0
    # The workers started no trial they could not finish by the deadline, and none runs on.
    assert counts[TrialState.FAIL] == 0
    ps = subprocess.run(["pgrep", "-f", f"search worker {name} "], capture_output=True, text=True)
    assert ps.stdout.strip() == ""


def test_a_node_lost_mid_trial_costs_that_trial_only(cluster: RayTestCluster, postgres: str, fashion: Path, tmp_path: Path) -> None:
    """fashion-mlp on three nodes; the third is killed while it trains a trial."""
    doomed, doomed_id = cluster.add_node(cpus=1)
    name = f"ray-lost-{os.getpid()}"
    budget = 6
    launch = subprocess.Popen(
        [sys.executable, "-m", "search", "launch", "fashion-mlp", "--study-name", name, "--cluster", cluster.address,
         "--workers", "3", "--trials", str(budget), "--storage", postgres, *pins(*TINY, "epochs=20")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, **HERE},
    )
    try:
        end = time.monotonic() + 400
        while time.monotonic() < end and launch.poll() is None:
            # A trial early in its epochs, so that it is still training when the kill lands (one
            # caught in its last epoch could finish first: a race seen in CI at 6379f8a, and with
            # 5 epochs at b31a317 on a quick day, so 18 or more epochs are left when it lands), and one
            # that has sampled: a trial killed before it has parameters has nothing to queue again.
            running = [t for t in _study_if(postgres, name) if t.state == TrialState.RUNNING and t.params
                       and t.user_attrs.get("node") == doomed_id and len(t.intermediate_values) < 2]
            if running:
                break
            time.sleep(1)
        assert running, "no trial ran on the third node"
        lost = running[0].number
        os.killpg(doomed.pid, signal.SIGKILL)  # the node and everything on it, at once, as a lost machine
        stop_group(doomed)
        output, _ = launch.communicate(timeout=600)
    finally:
        if launch.poll() is None:
            launch.kill()
    cluster.groups.remove(doomed)
    assert launch.returncode == 0, output[-3000:]
    assert "was lost with its actor on node" in output or "killed by signal" in output, output[-3000:]
    study = _study(postgres, name)
    counts = Counter(t.state for t in study.trials)
    assert counts[TrialState.COMPLETE] + counts[TrialState.PRUNED] == budget
    assert counts[TrialState.RUNNING] == 0
    failed = study.trials[lost]
    assert failed.state == TrialState.FAIL
    # Its parameters were queued again and trained on a live node.
    again = [t for t in study.trials if t.number > lost and t.params == failed.params]
    assert again, [(t.number, t.state.name, t.params == failed.params) for t in study.trials]
    assert again[0].state in (TrialState.COMPLETE, TrialState.PRUNED), (again[0].state, again[0].user_attrs.get("fail_reason"))
    assert again[0].user_attrs["node"] != doomed_id
    assert len(again) == 1  # queued again once, not by the launcher and a heartbeat both


def _study_if(url: str, name: str) -> list:
    try:
        return _study(url, name).get_trials(deepcopy=False)
    except KeyError:
        return []


def test_a_node_that_fails_the_check_starts_no_worker(cluster: RayTestCluster, postgres: str, fashion: Path, tmp_path: Path, monkeypatch) -> None:
    """Every node checks the code, storage and data before any trial: here the data differs."""
    import search.launcher
    from search.cli import main

    real = search.launcher.check_command
    monkeypatch.setattr(search.launcher, "check_command", lambda url, study, pin_args, data: real(url, study, pin_args, "sha256:0000000000000000 (elsewhere)"))
    monkeypatch.chdir(tmp_path)
    name = f"ray-check-{os.getpid()}"
    code = main(["launch", "fashion-mlp", "--study-name", name, "--cluster", cluster.address, "--workers", "2", "--trials", "4",
                 "--storage", postgres, *pins(*TINY)])
    assert code == 2
    study = _study(postgres, name)
    assert [t.state for t in study.trials] == [TrialState.WAITING]  # the reference, never started


def test_workers_the_cluster_cannot_place_are_one_line(cluster: RayTestCluster, postgres: str, tmp_path: Path) -> None:
    out = cli("launch", "smoke", "--study-name", "too-big", "--cluster", cluster.address, "--workers", "2", "--cpus-per-worker", "64",
              "--storage", postgres, cwd=tmp_path, env={**HERE, "CLOCKWORK_PLACE_SECONDS": "5"}, timeout=300)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("clockwork: error: Ray placed 0 of 2 workers (64 CPUs, 0 GPUs a worker) in 5 s; the cluster has ")
    assert "CPUs" in last and "live node(s)" in last
    assert [t.state for t in _study(postgres, "too-big").trials] == [TrialState.WAITING]


def test_an_unreachable_head_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    require(HAVE_RAY, "Ray is not installed (pip install -r requirements-cluster.txt)")
    port = free_port()
    out = cli("launch", "smoke", "--cluster", f"127.0.0.1:{port}", "--workers", "2", "--storage", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path, env=HERE, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == f"clockwork: error: cannot reach the Ray head at 127.0.0.1:{port} (Connection refused); start one with `ray start --head` or check --cluster"
    assert not (tmp_path / "x.db").exists()


def test_without_ray_cluster_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from search.cli import main\n"
        f"sys.exit(main(['launch', 'smoke', '--cluster', 'auto', '--storage', 'sqlite:///{tmp_path / 'x.db'}']))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "clockwork: error: --cluster needs Ray, which is not installed here; install it with: pip install -r requirements-cluster.txt"
    )
    assert not (tmp_path / "x.db").exists()
