"""A real RTSP camera (GStreamer's RTSP server in its own process) for the live-source tests."""

from __future__ import annotations

import os
import select
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.system import SYSTEM_PYTHON

CAMERA_SCRIPT = Path(__file__).parents[1] / "support" / "rtsp_camera.py"
READY_TIMEOUT = 10.0


class RtspCamera:
    """A running ``tests/support/rtsp_camera.py``: its URL and ways to break it.

    Args:
        args: extra command-line arguments of the script (``--file``, ``--user``, ...).
        log: file that receives the server's stderr.
    """

    def __init__(self, args: list[str], log: Path):
        self.args, self.log = args, log
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.start()

    def start(self) -> None:
        """Start the server on ``port`` (a free one the first time) and wait for its READY line."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [SYSTEM_PYTHON, str(CAMERA_SCRIPT), "--port", str(self.port), *self.args],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], READY_TIMEOUT)
        line = self.process.stdout.readline() if readable else ""
        if not line.startswith("READY "):
            self.kill()
            raise RuntimeError(f"RTSP camera did not start: {line!r}; see {self.log}")
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def freeze(self) -> None:
        """Stop the server process (SIGSTOP): connections stay open and nothing is sent."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server (thawed first, so that it can die) and reap it."""
        if self.process is None:
            return
        self.thaw()
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Kill the server if it runs and start it again on the same port, so the URL stays valid."""
        self.kill()
        self.start()

    def _signal(self, number: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, number)


@pytest.fixture
def start_camera(tmp_path: Path) -> Iterator[Callable[..., RtspCamera]]:
    """Start RTSP cameras with extra script arguments; every one is thawed and killed at teardown.

    A test using it needs GStreamer (``tests/conftest.py`` marks it, and skips it when absent).
    """
    cameras: list[RtspCamera] = []

    def start(*args: str) -> RtspCamera:
        cameras.append(RtspCamera(list(args), tmp_path / f"rtsp_camera_{len(cameras)}.log"))
        return cameras[-1]

    yield start
    for camera in cameras:
        camera.kill()


@pytest.fixture
def rtsp_camera(start_camera: Callable[..., RtspCamera]) -> RtspCamera:
    """A live 320x240, 25 fps test pattern at ``rtsp_camera.url``."""
    return start_camera()
