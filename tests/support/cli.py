"""The command line as a user runs it: ``python -m fastsam_track.cli`` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(*args: object, cwd: str | Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``fastsam-track ARGS`` (each argument ``str``-ed) to its end; its exit code, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "fastsam_track.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
