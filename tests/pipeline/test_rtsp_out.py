"""``--rtsp-out``: the annotated stream pushed to a real RTSP receiver that goes away and comes back."""

import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastsam_track.errors import SinkError
from fastsam_track.pipeline.outputs.sinks import RtspSink
from tests.support.waiting import CEILING

RECEIVER = Path(__file__).resolve().parents[1] / "support" / "rtsp_receiver.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _receiver(url: str, frames: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(RECEIVER), url, str(frames)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    # Starting Python and importing PyAV takes a machine-dependent while: wait for the line, not a time.
    readable, _, _ = select.select([process.stdout], [], [], CEILING)
    assert readable and process.stdout.readline() == "LISTENING\n"
    return process


def _result(process: subprocess.Popen) -> str:
    try:
        # Its decoding depends on the machine's speed: a ceiling, not a time it should take.
        return process.communicate(timeout=CEILING)[0].strip().splitlines()[-1]
    finally:
        process.kill()


def test_the_stream_reaches_a_receiver_and_reconnects_when_it_comes_back():
    url = f"rtsp://127.0.0.1:{_free_port()}/live"
    events: list[str] = []
    receiver = _receiver(url, 20)
    with RtspSink(url, fps=25, retry_initial=0.2, on_event=events.append) as sink:
        for index in range(160):
            sink.write(np.full((240, 321, 3), index % 250, np.uint8))  # an odd width is cut to even
            time.sleep(0.02)
            if index == 60:
                assert _result(receiver) == "GOT 20 320x240"  # it took 20 frames and hung up
                receiver = _receiver(url, 20)
    assert _result(receiver) == "GOT 20 320x240"
    assert sink.connections == 2 and sink.dropped > 0
    assert any("Broken pipe" in e or "BrokenPipe" in e for e in events)


def test_no_receiver_drops_frames_without_holding_the_pipeline_up():
    url = f"rtsp://127.0.0.1:{_free_port()}/live"
    started = time.monotonic()
    with RtspSink(url, fps=25, retry_initial=0.2, retry_max=0.4) as sink:
        for _ in range(50):
            sink.write(np.zeros((64, 64, 3), np.uint8))
    assert sink.frames_sent == 0 and sink.dropped == 50
    assert time.monotonic() - started < 5


def test_only_rtsp_urls():
    with pytest.raises(SinkError, match="needs an rtsp:// URL"):
        RtspSink("http://127.0.0.1/x", fps=25)
