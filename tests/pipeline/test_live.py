"""Live sources: a real RTSP server (killed, frozen, restarted), the real OpenCV webcam path, a capture stand-in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import cv2
import numpy as np
import pytest

from fastsam_track.errors import SourceError
from fastsam_track.pipeline.sources import open_source
from fastsam_track.pipeline.sources.live import Reconnect, StreamSource, WebcamSource, mask_credentials
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.types import Frame

FAST = Reconnect(initial=0.2, factor=2.0, max_delay=0.5, limit=20)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def take(frames: Iterator[Frame], count: int) -> list[Frame]:
    return [next(frames) for _ in range(count)]


def read_until_reconnected(source: StreamSource, frames: Iterator[Frame], deadline: float) -> list[Frame]:
    """Frames read until the first one after a reconnection (buffered ones before it included)."""
    read: list[Frame] = []
    while source.reconnects == 0:
        assert time.monotonic() < deadline, "no reconnection in time"
        read.append(next(frames))
    return read


def assert_continuous(frames: list[Frame]) -> None:
    indices = [f.index for f in frames]
    assert indices == list(range(indices[0], indices[0] + len(indices)))
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)


# --- Reconnect policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Reconnect(), [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]),  # the defaults: 10 attempts, capped at 5 s
        (Reconnect(initial=1, factor=1, limit=3), [1, 1, 1]),  # constant waits
        (Reconnect(limit=0), []),  # give up at once
    ],
)
def test_backoff_delays(policy, expected):
    assert list(policy.delays()) == expected


def test_backoff_forever():
    delays = Reconnect(limit=None).delays()
    assert [next(delays) for _ in range(100)][-1] == 5.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": -1}, "delays must be 0 or more"),  # negative wait
        ({"factor": 0.5}, "factor must be 1 or more"),  # shrinking waits
        ({"limit": -1}, "limit must be 0 or more"),  # negative limit
    ],
)
def test_backoff_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Reconnect(**kwargs)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:secret@10.0.0.5:554/s1", "rtsp://***@10.0.0.5:554/s1"),  # user and password
        ("http://token@cam.local/video.mjpg", "http://***@cam.local/video.mjpg"),  # user only
        ("rtsp://10.0.0.5/s1", "rtsp://10.0.0.5/s1"),  # nothing to hide
    ],
)
def test_mask_credentials(url, expected):
    assert mask_credentials(url) == expected


# --- RTSP stream ------------------------------------------------------------------------------------


def test_stream_frames(rtsp_camera):
    source = StreamSource(rtsp_camera.url)
    assert (source.live, source.frame_count, source.size, source.fps) == (True, None, (320, 240), Fraction(25))
    frames = take(iter(source), 20)
    assert_continuous(frames)
    assert frames[0].index == 0 and frames[0].timestamp < 2.0
    assert all(f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0].image, frames[-1].image)  # the ball moves
    assert source.reconnects == 0


def test_stream_stride(rtsp_camera):
    source = StreamSource(rtsp_camera.url, vid_stride=5)
    assert source.fps == 5
    assert [f.index for f in take(iter(source), 3)] == [0, 5, 10]


def test_unreachable_stream_fails_fast():
    url = f"rtsp://admin:secret@127.0.0.1:{free_port()}/cam"
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        StreamSource(url)
    assert time.monotonic() - started < 1.0
    message = str(caught.value)
    assert "\n" not in message and "secret" not in message
    assert message.startswith(f"cannot open stream {mask_credentials(url)}: ") and "refused" in message


def test_silent_server_times_out():
    """A port that accepts connections and never answers: the open gives up after ``open_timeout``."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"rtsp://127.0.0.1:{server.getsockname()[1]}/cam"
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"cannot open stream .*: no answer within 1 s$"):
            StreamSource(url, open_timeout=1.0)
        assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("credentials", ["viewer:wrong@", ""])  # a bad password, none at all
def test_stream_credentials(start_camera, credentials):
    camera = start_camera("--user", "viewer", "--password", "s3cret")
    with pytest.raises(SourceError, match="401 Unauthorized") as caught:
        StreamSource(camera.url.replace("rtsp://", f"rtsp://{credentials}"))
    assert "wrong" not in str(caught.value)
    source = StreamSource(camera.url.replace("rtsp://", "rtsp://viewer:s3cret@"))
    assert take(iter(source), 1)[0].image.shape == (240, 320, 3)


def test_stream_reconnects_after_restart(rtsp_camera):
    events: list[str] = []
    source = StreamSource(rtsp_camera.url, reconnect=FAST, on_event=events.append)
    frames = iter(source)
    before = take(frames, 10)
    killed = time.monotonic()
    rtsp_camera.kill()
    restart = threading.Timer(1.0, rtsp_camera.restart)
    restart.start()
    try:
        during = read_until_reconnected(source, frames, deadline=killed + 15)
    finally:
        restart.join()
    back = time.monotonic() - killed
    after = take(frames, 10)
    print(f"kill -> frames again: {back:.2f} s (server down for 1 s)")
    assert_continuous(before + during + after)
    assert 1.0 < back < 5.0
    assert source.reconnects == 1
    assert any("lost" in e for e in events) and any("attempt 1 failed" in e for e in events)
    assert events[-1].startswith(f"stream {rtsp_camera.url} reconnected after")


def test_stream_frozen_server_times_out(rtsp_camera):
    events: list[tuple[float, str]] = []
    source = StreamSource(
        rtsp_camera.url, read_timeout=1.0, reconnect=FAST, on_event=lambda e: events.append((time.monotonic(), e))
    )
    frames = iter(source)
    before = take(frames, 5)
    frozen = time.monotonic()
    rtsp_camera.freeze()
    thaw = threading.Timer(5.0, rtsp_camera.thaw)
    thaw.start()
    try:
        during = read_until_reconnected(source, frames, deadline=frozen + 15)
    finally:
        thaw.join()
    back = time.monotonic() - frozen
    after = take(frames, 5)
    lost_at = next(at for at, event in events if "lost (no data for 1 s)" in event) - frozen
    print(f"freeze -> read timeout: {lost_at:.2f} s; freeze -> frames again: {back:.2f} s (frozen for 5 s)")
    assert_continuous(before + during + after)
    assert lost_at < 4.5  # the read timeout fired while the server was still frozen
    assert 5.0 < back < 9.0
    assert source.reconnects == 1


def test_stream_gives_up_after_limit(rtsp_camera):
    events: list[str] = []
    source = StreamSource(
        rtsp_camera.url, reconnect=Reconnect(initial=0.05, max_delay=0.2, limit=3), on_event=events.append
    )
    frames = iter(source)
    take(frames, 3)
    rtsp_camera.kill()
    with pytest.raises(SourceError, match=rf"^stream {rtsp_camera.url} lost: 3 reconnection attempts failed$"):
        for _ in frames:
            pass
    assert sum("failed" in e for e in events) == 3


def test_stream_end_reconnects(start_camera, clip_path):
    """A served file ends after 12 frames: a live source takes the end as a loss and reads it again."""
    camera = start_camera("--file", str(clip_path))
    events: list[str] = []
    source = StreamSource(camera.url, reconnect=FAST, on_event=events.append)
    assert source.size == (320, 180)
    frames = take(iter(source), 30)
    assert_continuous(frames)
    assert source.reconnects >= 2 and "lost (end of stream)" in events[0]


# --- Webcam -----------------------------------------------------------------------------------------


class FakeCapture:
    """A stand-in for ``cv2.VideoCapture``: frames of a synthetic clip, then failing reads after ``frames``."""

    def __init__(self, clip: SyntheticClip, frames: int | None = None, opened: bool = True, fps: float = 15.0):
        self.clip, self.frames, self.opened, self.fps = clip, frames, opened, fps
        self.position = 0
        self.released = False

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.frames is not None and self.position >= self.frames:
            return False, None
        self.position += 1
        return True, self.clip.frame(self.position)[0]

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_WIDTH: self.clip.width}.get(
            prop, self.clip.height if prop == cv2.CAP_PROP_FRAME_HEIGHT else 0.0
        )

    def release(self) -> None:
        self.released = True


class Cameras:
    """A ``capture`` factory handing out prepared stand-ins in order, the last one again when they run out."""

    def __init__(self, *captures: FakeCapture):
        self.captures = list(captures)
        self.opened: list[FakeCapture] = []

    def __call__(self, index: int) -> FakeCapture:
        capture = self.captures[min(len(self.opened), len(self.captures) - 1)]
        self.opened.append(capture)
        return capture


def test_webcam_absent():
    """No /dev/video* here: OpenCV's capture does not open."""
    with pytest.raises(SourceError, match=r"^no webcam at index 0: ") as caught:
        WebcamSource(0)
    assert "\n" not in str(caught.value)


def test_webcam_frames():
    clip = SyntheticClip(height=120, width=160, num_shapes=3, seed=1)
    source = WebcamSource(2, capture=Cameras(FakeCapture(clip)))
    assert (source.live, source.frame_count, source.size, source.fps) == (True, None, (160, 120), Fraction(15))
    frames = take(iter(source), 8)
    assert_continuous(frames)
    assert np.array_equal(frames[3].image, clip.frame(4)[0])


def test_webcam_fps_override_and_unknown_size():
    capture = FakeCapture(SyntheticClip(height=90, width=100, num_shapes=2), fps=0.0)
    capture.get = lambda prop: 0.0  # type: ignore[method-assign]  # a camera that reports nothing
    source = WebcamSource(0, capture=Cameras(capture), fps=12.5)
    assert (source.size, source.fps) == ((100, 90), Fraction(25, 2))
    assert WebcamSource(0, capture=Cameras(capture)).fps == 30


def test_webcam_reopened_after_failing_reads():
    """The camera stops mid-way and comes back at another resolution: indices go on, the size is kept."""
    first = FakeCapture(SyntheticClip(height=120, width=160, num_shapes=3), frames=5)
    second = FakeCapture(SyntheticClip(height=240, width=320, num_shapes=3))
    events: list[str] = []
    cameras = Cameras(first, second)
    source = WebcamSource(1, capture=cameras, reconnect=Reconnect(initial=0.01), on_event=events.append)
    frames = take(iter(source), 12)
    assert_continuous(frames)
    assert [f.index for f in frames] == list(range(12))
    assert all(f.image.shape == (120, 160, 3) for f in frames)
    assert (source.reconnects, len(cameras.opened), first.released) == (1, 2, True)
    assert events == [
        "webcam 1 lost (6 reads failed in a row), reconnecting",
        "webcam 1 reconnected after 1 attempt(s)",
    ]


@pytest.mark.parametrize(
    "broken",
    [
        {"opened": False},  # the camera does not open again
        {"frames": 0},  # it opens again but gives no frame: still a failed attempt
    ],
)
def test_webcam_gives_up_after_limit(broken):
    clip = SyntheticClip(height=60, width=80, num_shapes=1)
    cameras = Cameras(FakeCapture(clip, frames=2), FakeCapture(clip, **broken))
    source = WebcamSource(3, capture=cameras, reconnect=Reconnect(initial=0.01, limit=2))
    with pytest.raises(SourceError, match=r"^webcam 3 lost: 2 reconnection attempts failed$"):
        list(source)
    assert len(cameras.opened) == 3


# --- open_source dispatch ---------------------------------------------------------------------------


def test_open_source_dispatch(rtsp_camera, clip_path):
    stream = open_source(rtsp_camera.url, reconnect=FAST)
    assert isinstance(stream, StreamSource) and stream.live and stream.reconnect is FAST
    with pytest.raises(SourceError, match=r"^no webcam at index 0: "):
        open_source("0")
    assert open_source(clip_path).live is False
