"""Live sources: network streams (RTSP, HTTP) with PyAV and webcams with OpenCV, reconnecting when lost.

A live source never ends on its own: when the camera goes away (the stream ends, an error, or no
data for ``read_timeout`` seconds) it reconnects with exponential backoff and goes on with the
next frame index, until ``Reconnect.limit`` attempts in a row have failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from fastsam_track.errors import SourceError, SourceLost, UsageError, io_reason, mask_credentials
from fastsam_track.pipeline.sources.base import Source
from fastsam_track.types import Frame

__all__ = ["STREAM_SCHEMES", "Reconnect", "StreamSource", "WebcamSource", "is_stream_url", "mask_credentials"]

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
_DEFAULT_FPS = Fraction(30)
# Rates above this are time bases or garbage from the stream header, not frame rates.
_MAX_FPS = 240
# A webcam's read() may fail now and then; this many failures in a row mean it is gone.
_READ_RETRIES = 5
_READ_RETRY_DELAY = 0.02


@dataclass(frozen=True)
class Reconnect:
    """How a live source retries after losing its camera: exponential backoff.

    Attributes:
        initial: seconds to wait before the first attempt.
        factor: each further wait is the previous one times this.
        max_delay: no wait is longer than this many seconds.
        limit: give up after this many failed attempts in a row; None retries forever.

    >>> list(Reconnect(initial=0.5, factor=2.0, max_delay=3.0, limit=5).delays())
    [0.5, 1.0, 2.0, 3.0, 3.0]
    """

    initial: float = 0.5
    factor: float = 2.0
    max_delay: float = 5.0
    limit: int | None = 10

    def __post_init__(self) -> None:
        if self.initial < 0 or self.max_delay < 0:
            raise UsageError(f"reconnect delays must be 0 or more, got initial={self.initial}, max={self.max_delay}")
        if self.factor < 1:
            raise UsageError(f"reconnect factor must be 1 or more, got {self.factor}")
        if self.limit is not None and self.limit < 0:
            raise UsageError(f"reconnect limit must be 0 or more (or None: forever), got {self.limit}")

    def delays(self) -> Iterator[float]:
        """The wait before each attempt, ``limit`` of them (endless when ``limit`` is None)."""
        delay, attempt = self.initial, 0
        while self.limit is None or attempt < self.limit:
            yield min(delay, self.max_delay)
            delay *= self.factor
            attempt += 1


def is_stream_url(spec: str) -> bool:
    """Whether ``spec`` is a URL a ``StreamSource`` reads.

    >>> is_stream_url("RTSP://cam.local/live"), is_stream_url("clips/walk.mp4")
    (True, False)
    """
    return "://" in spec and urlsplit(spec).scheme.lower() in STREAM_SCHEMES


class _Lost(Exception):
    """The camera went away (or could not be reached); the message says why, in one line."""


class _LiveSource(Source):
    """Reconnecting iteration shared by live sources; subclasses say how to open, read and close.

    Attributes:
        live: always True: frames come in real time and there is no last frame.
        reconnects: successful reconnections so far.
        lost: why the source is lost while it reconnects (one line); "" while frames come.
    """

    live = True
    frame_count = None
    label: str

    def __init__(self, reconnect: Reconnect, on_event: Callable[[str], None] | None, vid_stride: int):
        if vid_stride < 1:
            raise SourceError(f"vid_stride must be 1 or more, got {vid_stride}")
        self.reconnect = reconnect
        self.on_event = on_event
        self.vid_stride = vid_stride
        self.reconnects = 0
        self.lost = ""
        self._pending: Any = None  # a connection opened at construction, used by the first iteration

    def _open(self) -> Any:
        """Connect to the camera; raises ``_Lost``."""
        raise NotImplementedError

    def _images(self, handle: Any) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 BGR images from a connection until it is lost; raises ``_Lost``."""
        raise NotImplementedError

    def _close(self, handle: Any) -> None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        """Frames numbered on across reconnections, stamped in seconds since the iteration began.

        Raises:
            SourceError: ``reconnect.limit`` attempts in a row failed (to connect or to give a frame).
        """
        start = time.monotonic()
        index = 0
        failures = 0  # connections in a row that gave no frame
        handle, self._pending = self._pending, None
        if handle is None:
            handle = self._open_first()
        while True:
            if handle is None:
                handle, failures = self._reconnect(failures)
            try:
                for image in self._images(handle):
                    failures, self.lost = 0, ""
                    if index % self.vid_stride == 0:
                        yield Frame(index=index, image=self._fit(image), timestamp=time.monotonic() - start)
                    index += 1
                reason = "end of stream"
            except _Lost as lost:
                reason = str(lost)
            finally:
                self._close(handle)
            handle = None
            self.lost = f"{self.label} lost ({reason})"
            self._emit(f"{self.lost}, reconnecting")

    def _open_first(self) -> Any:
        """A connection at once, or None (and an event) when it fails."""
        try:
            return self._open()
        except _Lost as lost:
            self.lost = f"{self.label} failed to open ({lost})"
            self._emit(f"{self.lost}, reconnecting")
            return None

    def _reconnect(self, failures: int) -> tuple[Any, int]:
        """A connection after the backoff waits that ``failures`` earlier attempts left.

        Returns:
            The connection and the failures in a row, counting this connection until it gives a frame.

        Raises:
            SourceError: the attempts of ``reconnect.limit`` are used up.
        """
        for attempt, delay in enumerate(islice(self.reconnect.delays(), failures, None), start=1):
            time.sleep(delay)
            try:
                handle = self._open()
            except _Lost as lost:
                self._emit(f"{self.label} reconnection attempt {failures + attempt} failed ({lost})")
                continue
            self.reconnects += 1
            self._emit(f"{self.label} reconnected after {attempt} attempt(s)")
            return handle, failures + attempt
        raise SourceLost(f"{self.label} lost: {self.reconnect.limit} reconnection attempts failed")

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """``image`` at ``size``: a camera that restarts at another resolution keeps the first one's."""
        if (image.shape[1], image.shape[0]) == self.size:
            return image
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)

    def _emit(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)


def _frame_rate(rate: Fraction | None) -> Fraction:
    """A stream's announced rate, or 30 when it is missing or implausible."""
    return Fraction(rate) if rate and 0 < rate <= _MAX_FPS else _DEFAULT_FPS


class StreamSource(_LiveSource):
    """A network camera or stream (``rtsp://``, ``rtsps://``, ``http://``, ``https://``) decoded with PyAV.

    The stream is probed at construction (fps, size) and connected again when iteration starts,
    so the first frames are current rather than buffered since construction.

    Args:
        url: the stream address; credentials in it never appear in messages (``***``).
        transport: RTSP lower transport, ``"tcp"`` or ``"udp"`` (RTSP URLs only).
        open_timeout: seconds allowed to connect and read the stream header.
        read_timeout: seconds a read may wait for data; a frozen camera is noticed after about
            twice this (FFmpeg's socket timeout, then PyAV's), and a reconnection follows.
        reconnect: the backoff policy after losing the stream.
        on_event: called with a one-line message on each loss, failed attempt and reconnection.
        vid_stride: keep every n-th frame (1 keeps all).

    Attributes:
        fps: the stream's frame rate (30 when it announces none), divided by ``vid_stride``.
        size: (W, H) of the first probe; later frames of another size are resized to it.
        frame_count: None.

    Raises:
        SourceError: a URL of another scheme, or the stream cannot be opened (unreachable,
            refused, bad credentials, no video) within about ``open_timeout`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: str = "tcp",
        open_timeout: float = 5.0,
        read_timeout: float = 2.0,
        reconnect: Reconnect = Reconnect(),
        on_event: Callable[[str], None] | None = None,
        vid_stride: int = 1,
    ):
        super().__init__(reconnect, on_event, vid_stride)
        self.url = url
        self.label = f"stream {mask_credentials(url)}"
        if not is_stream_url(url):
            raise SourceError(f"not a stream URL ({', '.join(STREAM_SCHEMES)}): {mask_credentials(url)}")
        if transport not in ("tcp", "udp"):
            raise SourceError(f"RTSP transport must be 'tcp' or 'udp', got {transport!r}")
        self.open_timeout, self.read_timeout = open_timeout, read_timeout
        self.options = {"timeout": str(int(read_timeout * 1e6)), "analyzeduration": "100000"}
        if urlsplit(url).scheme.lower().startswith("rtsp"):
            self.options["rtsp_transport"] = transport
        self._probe()

    def _probe(self) -> None:
        try:
            container = self._open()
        except _Lost as lost:
            raise SourceError(f"cannot open {self.label}: {lost}") from None
        try:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = _frame_rate(rate) / self.vid_stride
            self.size = (stream.codec_context.width, stream.codec_context.height)
            if 0 in self.size:
                first = next(self._images(container))
                self.size = (first.shape[1], first.shape[0])
        except _Lost as lost:
            raise SourceError(f"cannot read {self.label}: {lost}") from None
        finally:
            container.close()

    def _open(self) -> Any:
        import av

        started = time.monotonic()
        try:
            container = av.open(self.url, options=self.options, timeout=(self.open_timeout, self.read_timeout))
        except (av.error.FFmpegError, OSError) as error:
            if time.monotonic() - started >= self.open_timeout:
                raise _Lost(f"no answer within {self.open_timeout:g} s") from None
            raise _Lost(io_reason(error)) from None
        if not container.streams.video:
            container.close()
            raise _Lost("no video stream")
        return container

    def _images(self, handle: Any) -> Iterator[np.ndarray]:
        import av

        try:
            for frame in handle.decode(handle.streams.video[0]):
                yield frame.to_ndarray(format="bgr24")
        except av.error.ExitError:
            # PyAV's read timeout interrupts FFmpeg, which reports only "Immediate exit requested".
            raise _Lost(f"no data for {self.read_timeout:g} s") from None
        except (av.error.FFmpegError, OSError) as error:
            raise _Lost(io_reason(error)) from None

    def _close(self, handle: Any) -> None:
        handle.close()


class WebcamSource(_LiveSource):
    """A local camera through OpenCV's ``VideoCapture``, reopened when it stops delivering.

    Args:
        index: the camera number (0 for the first).
        capture: makes the capture from ``index``; anything with ``isOpened()``, ``read()``,
            ``get(prop)`` and ``release()`` like ``cv2.VideoCapture``.
        fps: the frame rate to report; None reads it from the camera (30 when it says 0).
        reconnect: the backoff policy after the camera is lost.
        on_event: called with a one-line message on each loss, failed attempt and reconnection.
        vid_stride: keep every n-th frame (1 keeps all).

    Attributes:
        fps: frames per second, divided by ``vid_stride``.
        size: (W, H) of the camera's first frames; later frames of another size are resized to it.
        frame_count: None.

    Raises:
        SourceError: no camera at ``index``.
    """

    def __init__(
        self,
        index: int,
        *,
        capture: Callable[[int], Any] = cv2.VideoCapture,
        fps: float | None = None,
        reconnect: Reconnect = Reconnect(),
        on_event: Callable[[str], None] | None = None,
        vid_stride: int = 1,
    ):
        super().__init__(reconnect, on_event, vid_stride)
        self.index = index
        self.capture = capture
        self.label = f"webcam {index}"
        try:
            self._pending = self._open()
        except _Lost as lost:
            raise SourceError(f"no webcam at index {index}: {lost}") from None
        rate = fps if fps is not None else self._pending.get(cv2.CAP_PROP_FPS)
        self.fps = _frame_rate(Fraction(rate).limit_denominator(1001)) / vid_stride
        self.size = self._frame_size(self._pending)

    def _frame_size(self, handle: Any) -> tuple[int, int]:
        """(W, H) the camera announces, or else of its first frame."""
        size = int(handle.get(cv2.CAP_PROP_FRAME_WIDTH)), int(handle.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if 0 not in size:
            return size
        try:
            first = next(self._images(handle))
        except _Lost as lost:
            handle.release()
            raise SourceError(f"webcam {self.index} gives no frames: {lost}") from None
        return first.shape[1], first.shape[0]

    def _open(self) -> Any:
        # OpenCV logs each backend's failure to stderr; the error below says it in one line.
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            handle = self.capture(self.index)
        finally:
            cv2.utils.logging.setLogLevel(previous)
        if not handle.isOpened():
            handle.release()
            raise _Lost("the device is absent or busy (the capture did not open)")
        return handle

    def _images(self, handle: Any) -> Iterator[np.ndarray]:
        failures = 0
        while True:
            ok, image = handle.read()
            if ok and image is not None:
                failures = 0
                yield image
                continue
            failures += 1
            if failures > _READ_RETRIES:
                raise _Lost(f"{failures} reads failed in a row")
            time.sleep(_READ_RETRY_DELAY)

    def _close(self, handle: Any) -> None:
        handle.release()
