"""Outputs. Each sink is a context manager that opens on its first frame and always finalises."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fastsam_track.errors import OutputError, OutputFailed, SinkError, io_reason, mask_credentials
from fastsam_track.pipeline.outputs.files import check_writable, discard, finalise, staging_path, video_format

if TYPE_CHECKING:
    from fastsam_track.types import SegmentedFrame

__all__ = ["CaptureTimes", "RtspSink", "SinkError", "VideoFileSink", "stamp_capture_times"]

# Live recordings: fragments start at keyframes, one every this many seconds of the nominal rate,
# so a recording killed outright (SIGKILL, power loss) loses at most about this much.
_LIVE_KEYFRAME_SECONDS = 2
_LIVE_TIME_BASE = Fraction(1, 1000)  # presentation times in milliseconds of the capture clock
# A file's frames keep its own times: 1/90000 s (MPEG's clock) holds 24, 25, 30 and 30000/1001 fps frames exactly.
_SOURCE_TIME_BASE = Fraction(1, 90000)
# The index first (empty), then a fragment per keyframe: every fragment written is playable.
_FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


class _Annotator(Protocol):
    def render(self, segmented: SegmentedFrame) -> np.ndarray: ...


class CaptureTimes:
    """Carry each frame's capture time from the renderer to a video sink.

    Sinks are given images only; a ``VideoFileSink`` recording a live source asks this for
    the capture time of the image it is given. Both run on the runner's encode thread, one
    frame at a time: the image the sink gets is the one the renderer last drew.

    Args:
        renderer: draws the frames (a ``SegmentRenderer``); pass this object as the run's renderer.

    Example:
        >>> from fastsam_track.types import Frame
        >>> class Plain:
        ...     def render(self, segmented):
        ...         return segmented.frame.image.copy()
        >>> times = CaptureTimes(Plain())
        >>> class Drawn:
        ...     frame = Frame(7, np.zeros((2, 2, 3), np.uint8), 12.5)
        >>> image = times.render(Drawn())
        >>> times(image), times(image.copy())
        (12.5, None)
    """

    def __init__(self, renderer: _Annotator):
        self.renderer = renderer
        self._image: np.ndarray | None = None
        self._time = 0.0
        self._index = -1

    def render(self, segmented: SegmentedFrame) -> np.ndarray:
        """Draw the frame with the renderer and note its capture time (``Frame.timestamp``) and index."""
        image = self.renderer.render(segmented)
        self._image, self._time, self._index = image, segmented.frame.timestamp, segmented.frame.index
        return image

    def index(self, image: np.ndarray) -> int | None:
        """The source's index of the frame ``image`` shows; None for an image not drawn last."""
        return self._index if image is self._image else None

    def __call__(self, image: np.ndarray) -> float | None:
        """Seconds since the source began of the capture of ``image``; None for an image not drawn last."""
        return self._time if image is self._image else None


def stamp_capture_times(renderer: Any, sinks: Sequence[Any], live: bool) -> Any:
    """Make the video files among ``sinks`` live recordings when the source is live, and stamp every one with
    its frames' times (``Frame.timestamp``: a camera's capture times, a file's own); the renderer to use.

    The one place where a recording of a camera or stream gets what it needs, whoever runs
    it (one source, several, a demo): a ``VideoFileSink`` whose ``live`` is None takes the
    source's, and each live one without a ``capture_time`` is given the capture time of the
    frames ``renderer`` draws (a ``CaptureTimes`` around it, returned: draw with that one).
    One ``CaptureTimes`` per run: it holds the last frame drawn, so runs never share one.
    Other sinks with a ``capture_time`` of None (the web page's, which shows each frame's
    index) are given it too.

    Example:
        >>> import tempfile, os
        >>> sink = VideoFileSink(os.path.join(tempfile.mkdtemp(), "cam.mp4"), fps=25)
        >>> drawing = stamp_capture_times(object(), [sink], live=True)
        >>> sink.live, sink.capture_time is drawing, type(drawing).__name__
        (True, True, 'CaptureTimes')
    """
    files = [sink for sink in sinks if isinstance(sink, VideoFileSink)]
    for sink in files:
        if sink.live is None:
            sink.live = live
    # Every recording keeps its frames' times: a camera's capture times, a file's own (variable rate stays so)
    stamped = [sink for sink in files if sink.capture_time is None]
    stamped += [s for s in sinks if not isinstance(s, VideoFileSink) and getattr(s, "capture_time", False) is None]
    if not stamped:
        return renderer
    times = CaptureTimes(renderer)
    for sink in stamped:
        sink.capture_time = times
    return times


class VideoFileSink:
    """Write BGR frames to an H.264 MP4 with PyAV (OpenCV's bundled FFmpeg has no libx264).

    The encoder is flushed and the file closed on leaving the ``with`` block, also when it
    is left by an exception or Ctrl-C, so the frames written so far stay playable. It is
    written under a hidden name beside ``path`` and renamed into place then: until then a
    previous file at ``path`` stays whole (``output_files``). The name and the folder are
    checked at construction; nothing is written before the first frame.

    A live recording (``live``) is a fragmented MP4: its index comes first and a fragment
    follows each keyframe (one every 2 s), so a recording killed outright plays up to its
    last fragment. With ``capture_time`` each frame is presented at its capture time: the
    file plays as long as the recording took, and a gap (a reconnection) stays a gap.

    Args:
        path: the file to write (``.mp4``, or ``.mkv``, ``.mov``, ``.m4v``); its folder is created.
        fps: frame rate (nominal, with ``capture_time``).
        crf: x264 quality (lower is better, 23 is its default).
        preset: x264 speed preset; ``veryfast`` costs about 7 ms per 720p frame here.
        live: write a fragmented MP4 (MP4, MOV, M4V; a Matroska file needs no index to play);
            None: as the run's source (``runner.run`` sets it, through ``stamp_capture_times``).
        capture_time: seconds of an image's capture on the source's clock (a ``CaptureTimes``),
            or None for an image it does not know (then it is placed one frame after the last);
            ``runner.run`` sets it (a file's frames keep the file's own times, a variable rate too).
        comment: the container's ``comment`` tag (the demo marks the clips it makes with it).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "out.mp4")
        >>> with VideoFileSink(path, fps=25) as sink:
        ...     sink.write(np.zeros((64, 96, 3), np.uint8))
        >>> sink.frames_written
        1
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        *,
        crf: int = 23,
        preset: str = "veryfast",
        live: bool | None = None,
        capture_time: Callable[[np.ndarray], float | None] | None = None,
        comment: str | None = None,
    ):
        self.path = Path(path)
        self.comment = comment
        self.fps = Fraction(fps).limit_denominator(1001)
        self.crf, self.preset = crf, preset
        self.live, self.capture_time = live, capture_time
        self.frames_written = 0
        self._first: float | None = None  # capture time of the first frame: presentation time 0
        self._pts = -1
        self._container: Any = None
        self._stream: Any = None
        self._failed = False  # a write failed: the staged file is removed on close, not renamed into place
        self._staged = staging_path(self.path)
        if self.path.is_dir():
            raise SinkError(f"output {str(self.path)!r} is a folder: give a file name ending in .mp4")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinkError(f"cannot create the folder of {str(self.path)!r}: {error.strerror}") from error
        try:
            self._format = video_format(self.path)
            check_writable(self.path, "video")
        except OutputError as error:
            raise SinkError(str(error)) from None

    def __enter__(self) -> VideoFileSink:
        return self

    def _open(self, height: int, width: int) -> None:
        import av

        fragmented = self.live and self._format in ("mp4", "mov")
        try:
            self._container = av.open(
                str(self._staged), mode="w", format=self._format, options=_FRAGMENTED if fragmented else None
            )
        except (OSError, av.error.FFmpegError) as error:
            raise SinkError(f"cannot write {str(self.path)!r}: {io_reason(error)}") from error
        if self.comment is not None:
            self._container.metadata["comment"] = self.comment
        stream = self._container.add_stream("libx264", rate=self.fps)
        # 4:2:0 is what every player (browsers too) plays, and needs even sizes: an odd size is padded
        # by one pixel, a copy of the last row or column (cropping would drop one of the user's).
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.live:
            stream.codec_context.gop_size = max(round(self.fps * _LIVE_KEYFRAME_SECONDS), 1)
        if self.capture_time is not None:
            stream.codec_context.time_base = _LIVE_TIME_BASE if self.live else _SOURCE_TIME_BASE
        self._stream = stream

    def _stamp(self, frame: Any, image: np.ndarray) -> None:
        """Set ``frame``'s presentation time from ``image``'s capture (or source) time, after the last one."""
        assert self.capture_time is not None
        base = _LIVE_TIME_BASE if self.live else _SOURCE_TIME_BASE
        captured = self.capture_time(image)
        if captured is None:
            pts = self._pts + round(1 / (self.fps * base))
        else:
            self._first = captured if self._first is None else self._first
            pts = round(Fraction(captured - self._first).limit_denominator(1 << 20) / base)
        self._pts = max(pts, self._pts + 1)
        frame.pts, frame.time_base = self._pts, base

    def write(self, image: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 BGR frame; the first frame fixes the size."""
        import av

        if self._container is None:
            self._open(*image.shape[:2])
        drawn = image  # the renderer's image: what ``capture_time`` knows
        if image.shape[0] % 2 or image.shape[1] % 2:
            image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        if self.capture_time is not None:
            self._stamp(frame, drawn)
        try:
            self._container.mux(self._stream.encode(frame))
        except OSError as error:  # PyAV's I/O errors are OSErrors: a full disk, a file size limit
            self._failed = True
            raise self._failure(error) from error
        self.frames_written += 1

    def _failure(self, error: OSError) -> OutputFailed:
        if self.live:  # fragmented: what reached the disk plays, and is renamed into place on close
            kept = "the recording up to its last whole fragment is kept"
        else:
            kept = "an earlier file there is kept" if self.path.exists() else "nothing was written there"
        return OutputFailed(f"cannot write video {str(self.path)!r}: {io_reason(error)}; {kept}")

    def close(self) -> None:
        """Flush the encoder, close the file and rename it into place; safe to call twice.

        A video that could not be written to its end (a full disk) is removed rather than renamed
        into place: an MP4 cut short has no index and plays nowhere, and an earlier file at
        ``path`` stays whole. (A live recording is fragmented: what reached the disk plays.)
        """
        if self._container is None:
            return
        container, self._container = self._container, None
        failure: OSError | None = None
        try:
            if not self._failed:
                container.mux(self._stream.encode(None))
        except OSError as error:
            failure = error
        finally:
            try:
                container.close()
            except OSError as error:  # the index, written last, did not fit
                failure = failure or error
        if (failure is not None or self._failed) and not self.live:
            discard(self._staged)
            if failure is not None and not self._failed:
                self._failed = True
                raise self._failure(failure) from failure
            return
        finalise(self._staged, self.path)
        if failure is not None and not self._failed:  # a live recording: kept, and the failure said
            self._failed = True
            raise self._failure(failure) from failure

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RtspSink:
    """Push BGR frames to an RTSP server (H.264, TCP) with PyAV; reconnect when it goes away.

    A live output must not hold the pipeline up: while the server is unreachable, frames
    are dropped (counted) and a new connection is tried after a back-off that doubles from
    ``retry_initial`` up to ``retry_max`` seconds. Each connection starts a new stream.

    Args:
        url: ``rtsp://host:port/path`` to publish to (the server must accept a publish, i.e.
            an RTSP RECORD; MediaMTX, GStreamer's RTSP server with a record mount, ffmpeg
            ``-rtsp_flags listen``).
        fps: frame rate of the stream.
        on_event: told of each connection, loss and reconnection (the CLI prints them).

    Attributes:
        frames_sent: frames muxed over all connections.
        dropped: frames dropped while disconnected.
        connections: successful connections so far.
    """

    def __init__(
        self,
        url: str,
        fps: float | Fraction,
        *,
        retry_initial: float = 0.5,
        retry_max: float = 5.0,
        on_event: Callable[[str], None] | None = None,
    ):
        if not url.startswith(("rtsp://", "rtsps://")):
            raise SinkError(f"--rtsp-out needs an rtsp:// URL, got {mask_credentials(url)!r}")
        self.url, self.fps = url, Fraction(fps).limit_denominator(1001)
        self.retry_initial, self.retry_max = retry_initial, retry_max
        self._on_event = on_event or (lambda message: None)
        self._container: Any = None
        self._stream: Any = None
        self._pts, self._fresh = 0, False
        self._delay, self._next_try = retry_initial, 0.0
        self.frames_sent = self.dropped = self.connections = 0

    def __enter__(self) -> RtspSink:
        return self

    def _connect(self, height: int, width: int) -> None:
        import av

        container = av.open(self.url, mode="w", format="rtsp", options={"rtsp_transport": "tcp"}, timeout=5.0)
        stream = container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(max(round(self.fps), 1))}
        self._container, self._stream, self._pts, self._fresh = container, stream, 0, True

    def write(self, image: np.ndarray) -> None:
        """Send one (H, W, 3) uint8 BGR frame, or drop it while the server is away."""
        import av

        if self._container is None and time.monotonic() < self._next_try:
            self.dropped += 1
            return
        try:
            if self._container is None:
                self._connect(*image.shape[:2])
            height, width = self._stream.height, self._stream.width
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="bgr24")
            frame.pts = self._pts
            self._pts += 1
            self._container.mux(self._stream.encode(frame))
        except (OSError, av.error.FFmpegError) as error:
            self._lost(error)
            self.dropped += 1
            return
        if self._fresh:  # the first frame over a new connection went through
            self._fresh, self._delay = False, self.retry_initial
            self.connections += 1
            self._on_event(f"streaming to {mask_credentials(self.url)}")
        self.frames_sent += 1

    def _lost(self, error: BaseException) -> None:
        self._abandon()
        reason = mask_credentials(io_reason(error))  # FFmpeg's words may quote the URL
        url = mask_credentials(self.url)
        self._on_event(f"{url}: {type(error).__name__}: {reason}; retrying in {self._delay:.1f} s")
        self._next_try = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, self.retry_max)

    def _abandon(self) -> None:
        """Drop the connection without flushing (the server is gone)."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # closing a broken connection fails in FFmpeg's many ways; it is gone either way
                pass

    def close(self) -> None:
        """Flush and close the connection; safe to call twice."""
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))
        except Exception:  # the server went away during the flush: nothing left to save
            pass
        self._abandon()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
