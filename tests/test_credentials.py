"""No message shows a password given in a URL: the RTSP push, a stream source, errors (issue 24)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from fastsam_track.errors import mask_credentials
from fastsam_track.pipeline.outputs.sinks import RtspSink
from tests.support.credentials import PASSWORD, USER, leaked, url_with_credentials


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_rtsp_push_to_a_server_that_is_down_never_shows_the_password() -> None:
    events: list[str] = []
    url = url_with_credentials(f"rtsp://127.0.0.1:{_closed_port()}/out")
    with RtspSink(url, fps=25, retry_initial=0.0, retry_max=0.0, on_event=events.append) as sink:
        for _ in range(3):
            sink.write(np.zeros((64, 64, 3), np.uint8))
    assert len(events) == 3 and all("retrying" in e for e in events), events
    assert not any(PASSWORD in e or USER in e for e in events), events
    assert events[0].startswith(mask_credentials(url))


def test_the_command_masks_the_rtsp_push_and_the_source(tmp_path: Path, clip_path: Path) -> None:
    push = url_with_credentials(f"rtsp://127.0.0.1:{_closed_port()}/out")
    run = [sys.executable, "-m", "fastsam_track.cli", "run", str(clip_path), "--rtsp-out", push]
    result = subprocess.run(
        [*run, "--model", "fastsam-tiny", "--imgsz", "320", "--no-progress"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "***@127.0.0.1" in result.stderr and "retrying" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    source = url_with_credentials(f"rtsp://127.0.0.1:{_closed_port()}/cam")
    result = subprocess.run(
        [sys.executable, "-m", "fastsam_track.cli", "run", source, "-o", str(tmp_path / "o.mp4")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "***@127.0.0.1" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_the_suite_fails_a_test_that_prints_the_password() -> None:
    # tests/conftest.py applies this to every test's captured output
    shown = f"error: {url_with_credentials('rtsp://h/p')}"
    assert leaked([("Captured stderr call", shown)]) == ["Captured stderr call"]
    assert leaked([("Captured stderr call", mask_credentials(url_with_credentials("rtsp://h/p")))]) == []
