"""The gRPC storage proxy: serving a database to many workers, and heartbeats through it.

``python -m search serve-storage --storage URL --port P`` runs Optuna's
``run_grpc_proxy_server`` in front of a database; workers use ``grpc://HOST:P``. The proxy's
protocol has no heartbeat calls, so Optuna's ``GrpcStorageProxy`` has no heartbeats and a worker
killed mid-trial would leave a RUNNING trial forever (holding a slot of the trial budget).
:class:`HeartbeatGrpcStorageProxy` adds them with what the protocol does have: the running trial's
worker writes the time into a trial system attribute every interval, and any worker fails the
RUNNING trials whose last beat is older than the grace period (Optuna's own ``fail_stale_trials``
and ``RetryHeartbeatStaleTrialCallback`` then do the rest, as on a database). Marking a trial FAIL
is a conditional update in the database behind the proxy, so two workers never both fail it.

The beats are wall-clock times of the workers' machines: keep their clocks synchronised (NTP) to
well within the grace period (60 s by default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import GrpcStorageProxy
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

HEARTBEAT_ATTR = "clockwork:heartbeat"


class HeartbeatGrpcStorageProxy(GrpcStorageProxy, BaseHeartbeat):
    """``GrpcStorageProxy`` with heartbeats kept in a trial system attribute."""

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 13000,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except UpdateFinishedTrialError:
            pass  # the trial ended (or another worker declared it dead) between two beats

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        assert self.heartbeat_interval is not None
        grace = self.grace_period or 2 * self.heartbeat_interval
        now = time.time()
        return [
            t._trial_id
            for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
            if HEARTBEAT_ATTR in t.system_attrs and now - float(t.system_attrs[HEARTBEAT_ATTR]) > grace
        ]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback


def serve(url: str, host: str, port: int) -> None:
    """Serve the database at ``url`` on ``host:port`` until interrupted.

    The database storage is opened without heartbeats of its own (the workers beat through the
    proxy) and wrapped in Optuna's trial cache, as ``run_grpc_proxy_server`` recommends.
    """
    from concurrent.futures import ThreadPoolExecutor

    from optuna.storages import get_storage, run_grpc_proxy_server

    from storage.urls import StorageError, open_storage, parse_location

    if not parse_location(url).is_database:
        raise StorageError(f"serve-storage needs a database URL (sqlite, postgresql, mysql), not {url!r}")
    storage = get_storage(open_storage(url, heartbeat=False))  # adds Optuna's trial cache
    # One thread per concurrent call; more than the engine's 15 pooled connections would only queue.
    try:
        run_grpc_proxy_server(storage, host=host, port=port, thread_pool=ThreadPoolExecutor(max_workers=15))
    except RuntimeError as exc:  # grpc: "Failed to bind to address"
        raise StorageError(f"cannot listen on {host}:{port}: {exc}") from None
