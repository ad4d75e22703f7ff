"""Which Clockwork ran: the git commit of a checkout (``-dirty`` with uncommitted changes), else the
installed package's version. Studies record it at creation; ``status`` and exports show it."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@cache
def project_version() -> str:
    if (ROOT / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
            return f"git {commit}{'-dirty' if dirty else ''}"
        except (OSError, subprocess.SubprocessError):
            pass  # no git on this machine: fall back to the package version
    try:
        return f"clockwork {metadata.version('clockwork')}"
    except metadata.PackageNotFoundError:
        return "unknown (not a git checkout, not installed)"
