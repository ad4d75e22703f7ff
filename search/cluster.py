"""Workers on a Ray cluster (``launch --cluster ADDRESS``): Ray places the worker processes, and
places them again when a node is lost; Optuna's storage stays the source of truth.

Each worker is a Ray actor that asks for ``--cpus-per-worker`` CPUs and ``--gpus-per-worker`` GPUs
(fractions allowed) and is spread over the nodes. The actor runs ``python -m search worker`` as a
subprocess on its node, the same command a local launch starts, so signals, heartbeats and the
budget lock behave as they do on one machine. The worker's CPU threads follow the CPUs it asked
for; its GPU is the one Ray gave the actor (``CUDA_VISIBLE_DEVICES``, inherited).

How the code and the data reach a node: the code is either at the same path on every node (a
shared folder or the same container image) or shipped by Ray's runtime environment
(``--runtime-env '{"working_dir": "."}'``, which needs ``ray[default]``); the worker runs in the
launcher's folder where the node has it, so relative paths (``data/clock``, ``runs/...``) mean the
same on every node. Before any trial starts, every worker's node runs ``worker --check``: the code
imports, the storage opens, the data is there and has the fingerprint the launch saw here. A node
that fails is one error line, and no worker starts.

Logs: each worker writes its log on its node; the launcher copies it as it grows to
``runs/logs/STUDY/worker-I.log`` on the head, where ``status`` says to look.

A lost node (its processes killed, its machine gone) kills its actors; the launcher then ends the
worker's running trial FAIL and queues it again (from its checkpoint, where the artifact folder is
shared) and places a replacement worker on a live node. A worker whose actor dies, on a node that
lives on, ends itself (it watches its parent), so no worker runs without a launcher.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.errors import UserError

log = logging.getLogger(__name__)

INSTALL_LINE = "pip install -r requirements-cluster.txt"
ROOT = Path(__file__).resolve().parents[1]  # the checkout (or site-packages/clockwork when installed)
CONNECT_SECONDS = 5.0  # a head that does not answer a TCP connect in this time is unreachable
PLACE_SECONDS = float(os.environ.get("CLOCKWORK_PLACE_SECONDS", "120"))  # first placement of every worker
CHECK_SECONDS = 600.0  # a node's check loads the data once: minutes at most (once a node and launch)
LOG_CHUNK = 1 << 20
WORKER_STOPPED = 130  # a worker's exit code after SIGINT or SIGTERM (`python -m search worker`)
LOST = -9  # the return code of a worker whose actor (or node) died
PARENT_ENV = "CLOCKWORK_PARENT_PID"  # a worker started by an actor ends when that actor does
NODE_ENV = "CLOCKWORK_NODE"  # the Ray node id a worker runs on, recorded on each trial (attrs.NODE)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(f"--cluster needs Ray, which is not installed here; install it with: {INSTALL_LINE}") from None
    return ray


def _head_host_port(address: str) -> tuple[str, int] | None:
    """HOST and PORT of an address that names them (``HOST:PORT``, ``ray://HOST:PORT``); else None."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def resolve_address(address: str) -> str:
    """``auto`` is ``$RAY_ADDRESS`` when set (Ray's own ``auto`` then finds a head started here)."""
    if address == "auto" and os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    return address


def check_reachable(address: str) -> None:
    """One clear line for a head that is not there; ``ray.init`` would retry for minutes."""
    named = _head_host_port(address)
    if named is None:
        return
    host, port = named
    try:
        with socket.create_connection((host, port), timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"cannot reach the Ray head at {address} ({reason}); start one with `ray start --head` or check --cluster") from None


def connect(address: str, runtime_env: dict[str, Any] | None = None) -> Any:
    """Connect this process to the cluster as its driver; return the ``ray`` module."""
    ray = import_ray()
    address = resolve_address(address)
    check_reachable(address)
    try:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to the Ray cluster at {address}: {first}") from None
    return ray


def parse_runtime_env(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        env = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--runtime-env: not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(env, dict):
        raise UserError("--runtime-env: expected a JSON object, e.g. '{\"working_dir\": \".\"}'")
    if env.get("working_dir") == ".":
        env["working_dir"] = str(Path.cwd())
    return env


class WorkerHost:
    """The Ray actor that owns one worker process on its node (see the module docstring)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def where(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return {"node": context.get_node_id(), "ip": ray.util.get_node_ip_address(), "host": socket.gethostname(), "pid": None}

    def _setting(self, package: str, root: str, folder: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The folder the worker runs in and its environment; UserError-style text when the code is absent."""
        import ray

        env = {**os.environ, **env, PARENT_ENV: str(os.getpid())}
        env[NODE_ENV] = self.where()["node"]
        gpus = ray.get_gpu_ids()
        if not gpus:
            # Ray 2.60 leaves CUDA_VISIBLE_DEVICES alone for an actor without GPUs: the worker would
            # see, and fill, every GPU of the node. A worker that asked for none gets none.
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif ray.get_runtime_context().get_assigned_resources().get("GPU", 1.0) < 1.0:
            # A share of a GPU: take memory as needed, not all of it, or the second worker on it fails.
            env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        if package == "search":  # a checkout: the code is the launcher's folder, or what Ray shipped here
            here = Path.cwd()
            code = here if (here / "search" / "cli.py").is_file() else Path(root)
            if not (code / "search" / "cli.py").is_file():
                raise FileNotFoundError(
                    f"the code is not on node {self.where()['ip']}: no {root}/search/cli.py there; put the checkout at the "
                    "same path on every node (a shared folder, the same image) or ship it with --runtime-env '{\"working_dir\": \".\"}'"
                )
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
            run_in = folder if Path(folder).is_dir() else str(code)
        else:
            run_in = folder if Path(folder).is_dir() else tempfile.gettempdir()
        return run_in, env

    def check(self, argv: list[str], package: str, root: str, folder: str, env: dict[str, str], checked: tuple[str, ...] = ()) -> dict[str, Any]:
        """Run the worker's check (``worker --check``) here, unless this node passed it already
        (``checked``); its exit code and output, with where it ran."""
        out = self.where()
        if out["node"] in checked:
            return {**out, "code": 0, "output": "checked before"}
        try:
            run_in, full_env = self._setting(package, root, folder, env)
            done = subprocess.run(
                [sys.executable, "-m", package, *argv], cwd=run_in, env=full_env, capture_output=True, text=True,
                timeout=CHECK_SECONDS, stdin=subprocess.DEVNULL,
            )
            out.update(code=done.returncode, output=(done.stdout + done.stderr).strip())
        except (OSError, subprocess.SubprocessError) as exc:
            out.update(code=2, output=f"clockwork: error: {exc}")
        return out

    def start(self, argv: list[str], package: str, root: str, folder: str, env: dict[str, str], log_name: str) -> dict[str, Any]:
        run_in, full_env = self._setting(package, root, folder, env)
        self.log_path = Path(tempfile.gettempdir()) / "clockwork-logs" / log_name
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", package, *argv], cwd=run_in, env=full_env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        return {**self.where(), "pid": self.proc.pid, "log": str(self.log_path)}

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def read_log(self, offset: int) -> bytes:
        if self.log_path is None or not self.log_path.exists():
            return b""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read(LOG_CHUNK)

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def kill(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self.poll()


@dataclass
class ClusterWorker:
    """The launcher's handle on one worker on the cluster: the calls a ``subprocess.Popen`` answers
    (poll, send_signal, wait, kill, returncode), plus the worker's owner id and its log on the head.

    A replacement is created while its node's check runs (``_check``): it counts as running, and
    starts its worker process when the check passes.
    """

    ray: Any
    actor: Any
    index: int
    log_path: Path
    info: dict[str, Any] = field(default_factory=dict)  # node, ip, host, pid once started
    returncode: int | None = None
    lost: str | None = None  # why the actor died, when it did
    error: str | None = None  # a replacement's failed node check
    replaced: bool = False  # a killed worker the launcher has dealt with
    _check: Any = None
    _checked: set = field(default_factory=set)  # the launch's nodes that passed the check
    _deadline: float = 0.0  # a replacement not placed and checked by then gives up
    _start_args: tuple = ()
    _poll: Any = None
    _log: Any = None
    _log_offset: int = 0

    @property
    def pid(self) -> int | None:
        return self.info.get("pid")

    @property
    def started(self) -> bool:
        return bool(self.info.get("pid"))

    @property
    def owner(self) -> str | None:
        """The ``host:pid`` its trials record (attrs.WORKER), as search.worker writes it."""
        return f"{self.info['host']}:{self.info['pid']}" if self.started else None

    def _call(self, ref: Any) -> tuple[bool, Any]:
        """(done, value) of a remote call without waiting; a dead actor ends the worker as LOST."""
        ready, _ = self.ray.wait([ref], timeout=0)
        if not ready:
            return False, None
        try:
            return True, self.ray.get(ref)
        except self.ray.exceptions.ActorUnavailableError:
            return False, None  # unreachable for now (a network blip), not dead: ask again
        except self.ray.exceptions.RayError as exc:
            self.lost, self.returncode = _first_line(exc), LOST
            return True, None

    def _call_wait(self, ref: Any) -> tuple[bool, Any]:
        """A quick remote call, waited for; a dead actor ends the worker as LOST."""
        try:
            return True, self.ray.get(ref, timeout=60)
        except self.ray.exceptions.RayError as exc:
            self.lost, self.returncode = _first_line(exc), LOST
            return True, None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if self._check is not None:  # a replacement: placed and checked yet?
            done, result = self._call(self._check)
            if not done and time.monotonic() > self._deadline:
                self.error = f"Ray could not place and check a replacement worker in {PLACE_SECONDS + CHECK_SECONDS:g} s"
                self.ray.kill(self.actor, no_restart=True)
                self.returncode = 2
            if not done or self.returncode is not None:
                return self.returncode
            self._check = None
            if result["code"] == 0:
                self._checked.add(result["node"])
            else:
                self.error = f"node {result['ip']} failed the worker check: {_error_of(result['output'])}"
                self.ray.kill(self.actor, no_restart=True)  # its CPUs and GPUs back to the cluster
                self.returncode = 2
                return 2
            done, info = self._call_wait(self.actor.start.remote(*self._start_args))
            if self.returncode is not None:
                return self.returncode
            self.info = info
        if self._poll is None:
            self._poll = self.actor.poll.remote()
        done, code = self._call(self._poll)
        if done:
            self._poll = None
            if self.returncode is None:
                self.returncode = code
                self.copy_log(final=True)  # its last lines (an error the launcher shows) before anyone reads them
        return self.returncode

    def copy_log(self, final: bool = False) -> None:
        """Append what the worker's log on its node gained since the last copy (never blocks, unless ``final``)."""
        if self.lost is not None or not self.started:
            return
        if self._log is None:
            self._log = self.actor.read_log.remote(self._log_offset)
        ready, _ = self.ray.wait([self._log], timeout=5.0 if final else 0)
        if not ready:
            return
        ref, self._log = self._log, None
        try:
            chunk = self.ray.get(ref)
        except self.ray.exceptions.RayError:
            return  # the node is gone, and what it had not sent with it
        if chunk:
            with open(self.log_path, "ab") as f:
                f.write(chunk)
            self._log_offset += len(chunk)
            if final and len(chunk) == LOG_CHUNK:
                self.copy_log(final=True)

    def send_signal(self, signum: int) -> None:
        if self.poll() is not None:
            return
        if not self.started:  # still waiting for a node: nothing runs yet
            self.returncode = WORKER_STOPPED
            return
        self.actor.signal.remote(int(signum))

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired("worker", timeout or 0)
            time.sleep(0.2)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        if self.poll() is not None:
            return
        _, code = self._call_wait(self.actor.kill.remote())
        if self.returncode is None:
            self.returncode = -9 if code is None else code

    def release(self) -> None:
        self.copy_log(final=True)
        self.ray.kill(self.actor, no_restart=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class Cluster:
    """The workers of one launch on a Ray cluster: checked, started, watched and replaced."""

    def __init__(
        self, address: str, cpus: float, gpus: float, runtime_env: dict[str, Any] | None = None, proxy_port: int | None = None,
    ) -> None:
        if cpus <= 0 or gpus < 0:
            raise UserError("--cpus-per-worker must be above 0 and --gpus-per-worker 0 or more")
        self.address = resolve_address(address)
        self.cpus, self.gpus = cpus, gpus
        self.ray = connect(address, runtime_env)
        # The actor's class travels by value: a node's Ray worker need not find this package to
        # create it (the worker process it starts is what needs the code, and its check says so).
        self.ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        self.host_class = self.ray.remote(WorkerHost).options(
            num_cpus=cpus, num_gpus=gpus, scheduling_strategy="SPREAD", max_restarts=0, max_concurrency=4,
        )
        self.package = __package__  # search in a checkout, clockwork.search when installed
        self.folder = str(Path.cwd())
        self.proxy_port = proxy_port
        self.proxy: subprocess.Popen | None = None
        self.replaced = 0
        self.checked: set[str] = set()  # nodes that passed the worker check in this launch

    @property
    def threads(self) -> int:
        return max(1, math.ceil(self.cpus))

    def _resources(self) -> str:
        free = self.ray.available_resources()
        total = self.ray.cluster_resources()
        nodes = sum(1 for n in self.ray.nodes() if n.get("Alive"))
        return (
            f"the cluster has {nodes} live node(s), {free.get('CPU', 0):g} of {total.get('CPU', 0):g} CPUs "
            f"and {free.get('GPU', 0):g} of {total.get('GPU', 0):g} GPUs free"
        )

    def _args(self, argv: list[str], env: dict[str, str]) -> tuple:
        return (argv, self.package, str(ROOT), self.folder, env)

    def start(self, argvs: list[list[str]], check_argv: list[str], log_dir: Path, env: dict[str, str]) -> list[ClusterWorker]:
        """Place one worker per command, check every node they landed on (once a node), then start them all."""
        actors = [self.host_class.remote() for _ in argvs]
        try:
            places = self._gather([a.where.remote() for a in actors], len(argvs), PLACE_SECONDS, "placed")
            first = {}
            for actor, place in zip(actors, places):
                first.setdefault(place["node"], actor)
            results = self._gather([a.check.remote(*self._args(check_argv, env)) for a in first.values()], len(first), CHECK_SECONDS, "checked")
            self.checked.update(r["node"] for r in results if r["code"] == 0)
            bad = [r for r in results if r["code"] != 0]
            if bad:
                r = bad[0]
                raise UserError(f"node {r['ip']} ({r['node'][:12]}) failed the worker check: {_error_of(r['output'])}")
        except BaseException:
            for a in actors:
                self.ray.kill(a, no_restart=True)
            raise
        workers = []
        for i, (actor, argv) in enumerate(zip(actors, argvs)):
            worker = ClusterWorker(self.ray, actor, i, log_dir / f"worker-{i}.log")
            worker.log_path.write_bytes(b"")
            _, info = worker._call_wait(actor.start.remote(*self._args(argv, env), _log_name(log_dir, i)))
            if not info:
                self.close(workers, grace=30)
                for a in actors[i:]:
                    self.ray.kill(a, no_restart=True)
                raise UserError(f"worker {i} could not start on its node after the check: {worker.lost}")
            worker.info = info
            workers.append(worker)
        return workers

    def _gather(self, refs: list[Any], count: int, limit: float, what: str) -> list[dict[str, Any]]:
        done, pending = self.ray.wait(refs, num_returns=len(refs), timeout=limit)
        if pending:
            noun = "workers" if what == "placed" else "nodes"
            raise UserError(
                f"Ray {what} {len(done)} of {count} {noun} ({self.cpus:g} CPUs, {self.gpus:g} GPUs a worker) "
                f"in {limit:g} s; {self._resources()}"
            )
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayError as exc:
            raise UserError(f"a worker's node failed during the check: {_first_line(exc)}") from None

    def replace(self, lost: ClusterWorker, argv: list[str], check_argv: list[str], env: dict[str, str]) -> ClusterWorker:
        """A new worker in a lost one's place, on whichever live node Ray picks; it waits for room
        and for its node's check without holding up the launcher (see ClusterWorker.poll)."""
        self.replaced += 1
        actor = self.host_class.remote()
        worker = ClusterWorker(self.ray, actor, lost.index, lost.log_path)
        worker._check = actor.check.remote(*self._args(check_argv, env), tuple(self.checked))
        worker._checked = self.checked
        worker._deadline = time.monotonic() + PLACE_SECONDS + CHECK_SECONDS
        worker._start_args = (*self._args(argv, env), _log_name(lost.log_path.parent, lost.index, self.replaced))
        return worker

    def start_proxy(self, url: str, log_dir: Path) -> str:
        """Serve ``url`` through Optuna's gRPC proxy on this machine (``--proxy-port``); return the
        ``grpc://HEAD:PORT`` URL the workers use, HEAD being this machine's address on the cluster."""
        import optuna

        with open(log_dir / "proxy.log", "w") as out:
            self.proxy = subprocess.Popen(
                [sys.executable, "-m", self.package, "serve-storage", "--storage", url, "--host", "0.0.0.0", "--port", str(self.proxy_port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        ip = self.ray.util.get_node_ip_address()
        client = optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=self.proxy_port)
        try:
            client.wait_server_ready(timeout=60)
        except TimeoutError:
            self.stop_proxy()
            tail = (log_dir / "proxy.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise UserError(f"the gRPC proxy on port {self.proxy_port} did not start: {' '.join(tail) or 'no output'}") from None
        finally:
            client.close()
        return f"grpc://{ip}:{self.proxy_port}"

    def stop_proxy(self) -> None:
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.terminate()
            try:
                self.proxy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
                self.proxy.wait()

    def forwarded_env(self) -> dict[str, str]:
        """What the launch's own environment says about how to train, for the workers on every node
        (as local workers inherit it): the Keras backend, Clockwork's settings, TensorFlow's and XLA's."""
        prefixes = ("KERAS_", "CLOCKWORK_", "TF_", "XLA_")
        return {k: v for k, v in os.environ.items() if k.startswith(prefixes) and k != "CLOCKWORK_PLACE_SECONDS"}

    def close(self, workers: list[ClusterWorker], grace: float) -> None:
        """Stop the workers still running (SIGTERM, then a kill after ``grace``), keep their last
        log lines, and end their actors; a node that is gone is skipped."""
        running = [w for w in workers if w.started and w.poll() is None]
        for w in running:
            w.send_signal(15)
        end = time.monotonic() + grace
        for w in running:
            try:
                w.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()
        for w in workers:
            try:
                w.release()
            except Exception as exc:  # noqa: BLE001 (a node gone, a client disconnected: the rest still go)
                log.debug("worker %d: %s", w.index, exc)

    def disconnect(self) -> None:
        self.stop_proxy()
        if self.ray.is_initialized():
            self.ray.shutdown()


def _log_name(log_dir: Path, index: int, generation: int = 0) -> str:
    suffix = f"-{generation}" if generation else ""
    return f"{log_dir.name}-{os.getpid()}-worker-{index}{suffix}.log"


def _error_of(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("clockwork: error: ") for line in lines if line.startswith("clockwork: error: ")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "no output"
