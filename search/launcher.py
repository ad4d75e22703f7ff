"""``launch``: create the study, start N worker processes, show progress, print a summary."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from search.study import best_trial, finished_count, open_study, state_counts, test_line

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
STOP_GRACE_SECONDS = 60


def worker_command(url: str, study: str, trials: int, threads: int, pin_args: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "search", "worker", study, "--storage", url, "--trials", str(trials), "--threads", str(threads)]
    for item in pin_args:
        cmd += ["--set", item]
    return cmd


def run_launch(
    url: str,
    study_name: str,
    workers: int,
    trials: int,
    pin_args: list[str],
    log_dir: Path,
    timeout: float | None = None,
) -> int:
    """Run ``workers`` processes until the study has ``trials`` finished trials; return an exit code.

    With ``timeout`` (seconds) the workers are stopped when it runs out, as on Ctrl-C: their
    running trials end FAIL and do not count, and a later launch resumes the study.
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    procs: list[tuple[subprocess.Popen, Path]] = []
    for i in range(workers):
        path = log_dir / f"worker-{i}.log"
        with open(path, "w") as out:
            proc = subprocess.Popen(
                worker_command(url, study_name, trials, threads, pin_args),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )
        procs.append((proc, path))
    print(f"launched {workers} workers ({threads} CPU thread(s) each); logs in {log_dir}", flush=True)

    study = open_study(url, study_name, heartbeat=False)
    stopping = timed_out = False
    deadline = time.monotonic() + timeout if timeout else None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    bar = tqdm(total=trials, desc=study_name, unit="trial", dynamic_ncols=True)
    try:
        while any(p.poll() is None for p, _ in procs):
            _update(bar, study)
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                raise KeyboardInterrupt
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        stopping = True
        reason = f"time limit of {timeout:g} s reached" if timed_out else "interrupted"
        bar.write(f"{reason}: asking workers to end their running trials")
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        grace_end = time.monotonic() + STOP_GRACE_SECONDS
        for proc, _ in procs:
            try:
                proc.wait(timeout=max(0.1, grace_end - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        _update(bar, study)
        bar.close()

    failed = [(i, p.returncode, path) for i, (p, path) in enumerate(procs) if p.returncode not in (0, None)]
    for i, code, path in failed:
        if not stopping:
            tail = path.read_text(errors="replace").strip().splitlines()[-3:]
            print(f"worker {i} exited with code {code}; last lines of {path}:", *tail, sep="\n  ", file=sys.stderr)
    print_summary(study)
    if timed_out:
        return 0
    if stopping:
        return 130
    return 1 if failed else 0


def _update(bar: tqdm, study: Any) -> None:
    counts = state_counts(study)
    done = finished_count(counts)
    bar.update(max(0, min(done, bar.total) - bar.n))
    best = best_trial(study)
    bar.set_postfix(running=counts["RUNNING"], failed=counts["FAIL"], best=f"{best.value:.4f}" if best else "-")


def print_summary(study: Any) -> None:
    counts = state_counts(study)
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no trials"
    print(f"study {study.study_name}: {states}")
    best = best_trial(study)
    if best is None:
        print("no completed trial yet")
        return
    attrs = best.user_attrs
    print(
        f"best trial #{best.number}: validation error {best.value:.4f}, {test_line(attrs)}, "
        f"{attrs.get('epochs')} epochs, {attrs.get('param_count')} parameters"
    )
    reference = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("reference") and t.value is not None]
    if reference and reference[0].number != best.number:
        print(f"reference network (trial #{reference[0].number}): validation error {reference[0].value:.4f}")
    print("config:", json.dumps(attrs.get("config"), sort_keys=True))
