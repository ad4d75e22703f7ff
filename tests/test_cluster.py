"""``launch --cluster``: workers placed by a real Ray cluster on this machine.

The cluster is a head and a second node, each started with ``ray start --block`` in a process
group of its own, with its own CPUs and a capped object store; they are stopped by their process
groups, never with ``ray stop`` (which ends every Ray process on the machine, a user's included).
Ray is an optional install (requirements-cluster.txt): without it these tests skip, unless
CLOCKWORK_REQUIRE_ALL asks for everything.
"""

from __future__ import annotations

import json
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

from tests.backends import POSTGRES, fresh_database, free_port
from tests.conftest import ROOT, TINY, cli, pins, require

try:
    import ray  # noqa: F401 (only whether it is there)

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE = str(80 * 1024 * 1024)
# A dead node is noticed within seconds, not the default half-minute.
FAST_HEALTH = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(RAY), "start", "--block", "--disable-usage-stats", "--object-store-memory", OBJECT_STORE, *args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **FAST_HEALTH},
        )


def _stop(proc: subprocess.Popen) -> None:
    """End the process group this test started, and only it."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    _group_gone(proc.pid)


def _group_gone(pgid: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _group_members(pgid):
            return
        time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # a straggler: end it, and fail below
        os.killpg(pgid, signal.SIGKILL)
    assert not _group_members(pgid), f"processes of group {pgid} outlived the test cluster"


def _group_members(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    out.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return out


def _nodes(address: str) -> list[str]:
    """The ids of the live nodes, asked from a fresh driver (this test process never joins the cluster)."""
    code = (
        "import json, ray; ray.init(address=%r, log_to_driver=False, logging_level='ERROR');"
        "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive']]))" % address
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wait_nodes(address: str, count: int, timeout: float = 90) -> list[str]:
    end = time.monotonic() + timeout
    while True:
        nodes = _nodes(address)
        if len(nodes) == count or time.monotonic() > end:
            assert len(nodes) == count, f"expected {count} live Ray nodes, found {len(nodes)}"
            return nodes
        time.sleep(2)


class RayTestCluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.groups: list[subprocess.Popen] = []

    def start_head(self) -> None:
        self.groups.append(
            _start(
                ["--head", "--port", str(self.port), "--num-cpus", "2", "--include-dashboard=false",
                 "--ray-client-server-port", str(free_port())],
                self.tmp / "head.log",
            )
        )
        _wait_nodes(self.address, 1)

    def add_node(self, cpus: int = 2) -> tuple[subprocess.Popen, str]:
        before = set(_nodes(self.address))
        proc = _start(["--address", self.address, "--num-cpus", str(cpus)], self.tmp / f"node-{len(self.groups)}.log")
        self.groups.append(proc)
        now = _wait_nodes(self.address, len(before) + 1)
        return proc, next(n for n in now if n not in before)

    def stop(self) -> None:
        for proc in reversed(self.groups):
            _stop(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    require(HAVE_RAY, "Ray is not installed (pip install -r requirements-cluster.txt)")
    others = _ray_processes()
    c = RayTestCluster(tmp_path_factory.mktemp("ray"))
    try:
        c.start_head()
        c.add_node()
        yield c
    finally:
        c.stop()
    # Only what the test started is gone: Ray processes that were running before it still are.
    assert others <= _ray_processes(), "stopping the test cluster ended Ray processes it did not start"


def _ray_processes() -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ray" in cmd and (b"raylet" in cmd or b"gcs_server" in cmd):
                out.add(int(entry.name))
    return out


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


def test_a_node_lost_mid_trial_costs_that_trial_only(cluster: RayTestCluster, postgres: str, fashion: Path, tmp_path: Path) -> None:
    """fashion-mlp on three nodes; the third is killed while it trains a trial."""
    doomed, doomed_id = cluster.add_node(cpus=1)
    name = f"ray-lost-{os.getpid()}"
    budget = 8
    launch = subprocess.Popen(
        [sys.executable, "-m", "search", "launch", "fashion-mlp", "--study-name", name, "--cluster", cluster.address,
         "--workers", "3", "--trials", str(budget), "--storage", postgres, *pins(*TINY, "epochs=3")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, **HERE},
    )
    try:
        end = time.monotonic() + 400
        while time.monotonic() < end and launch.poll() is None:
            running = [t for t in _study_if(postgres, name) if t.state == TrialState.RUNNING and t.user_attrs.get("node") == doomed_id]
            if running:
                break
            time.sleep(1)
        assert running, "no trial ran on the third node"
        lost = running[0].number
        _stop(doomed)  # the node and everything on it, as a lost machine
        output, _ = launch.communicate(timeout=600)
    finally:
        if launch.poll() is None:
            launch.kill()
    cluster.groups.remove(doomed)
    assert launch.returncode == 0, output[-3000:]
    assert "was lost with its node" in output or "killed by signal" in output, output[-3000:]
    study = _study(postgres, name)
    counts = Counter(t.state for t in study.trials)
    assert counts[TrialState.COMPLETE] + counts[TrialState.PRUNED] == budget
    assert counts[TrialState.RUNNING] == 0
    failed = study.trials[lost]
    assert failed.state == TrialState.FAIL
    # Its parameters were queued again and trained on a live node.
    again = [t for t in study.trials if t.number > lost and t.params == failed.params and t.state == TrialState.COMPLETE]
    assert again and again[0].user_attrs["node"] != doomed_id


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
