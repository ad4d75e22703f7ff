"""A Ray cluster on this machine for tests and benchmarks: a head and more nodes, each started with
``ray start --block`` in a process group of its own, with its own CPUs and a capped object store,
and stopped by those process groups, never with ``ray stop`` (which ends every Ray process on the
machine, a user's own cluster included)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE = str(80 * 1024 * 1024)
# A dead node is noticed within seconds, not the default half-minute.
FAST_HEALTH = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}


def start_node(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(RAY), "start", "--block", "--disable-usage-stats", "--object-store-memory", OBJECT_STORE, *args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **FAST_HEALTH},
        )


def stop_group(proc: subprocess.Popen) -> None:
    """End a process group this module started, and only it."""
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
    with contextlib.suppress(ProcessLookupError):  # a straggler: end it, and fail below
        os.killpg(pgid, signal.SIGKILL)
    if _group_members(pgid):
        raise RuntimeError(f"processes of group {pgid} outlived the test cluster")


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
    if out.returncode != 0:
        raise RuntimeError(f"cannot ask the Ray cluster at {address} for its nodes: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wait_nodes(address: str, count: int, timeout: float = 90) -> list[str]:
    end = time.monotonic() + timeout
    while True:
        nodes = _nodes(address)
        if len(nodes) == count or time.monotonic() > end:
            if len(nodes) != count:
                raise RuntimeError(f"expected {count} live Ray nodes, found {len(nodes)}")
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
            start_node(
                ["--head", "--port", str(self.port), "--num-cpus", "2", "--include-dashboard=false",
                 "--ray-client-server-port", str(free_port())],
                self.tmp / "head.log",
            )
        )
        _wait_nodes(self.address, 1)

    def add_node(self, cpus: int = 2) -> tuple[subprocess.Popen, str]:
        before = set(_nodes(self.address))
        proc = start_node(["--address", self.address, "--num-cpus", str(cpus)], self.tmp / f"node-{len(self.groups)}.log")
        self.groups.append(proc)
        now = _wait_nodes(self.address, len(before) + 1)
        return proc, next(n for n in now if n not in before)

    def stop(self) -> None:
        for proc in reversed(self.groups):
            stop_group(proc)




def ray_processes() -> set[int]:
    """The pids of every raylet and GCS server on this machine, whoever started them."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"raylet" in cmd or b"gcs_server" in cmd:
                out.add(int(entry.name))
    return out
