"""The frame loop: decode, segment, track, render and encode, each stage timed.

This is the only module with threads and queues. Four stages run at once, joined by
bounded queues: decoding in one thread, the model in another (it alone touches the
network), tracking and prompts on the calling thread, rendering and encoding in a fourth.
The network's pass is the longest stage, so the others fit in beside it instead of after
it (FastSAM-s on OpenVINO, 720p, 100 masks: 110 ms a frame when each frame went through
every stage in turn on one thread).
"""

from __future__ import annotations

import atexit
import functools
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np
import supervision as sv

from fastsam_track.edges import edge_map
from fastsam_track.errors import FlowError
from fastsam_track.pipeline.outputs.render import SegmentRenderer
from fastsam_track.pipeline.outputs.sinks import CaptureTimes, stamp_capture_times
from fastsam_track.trackers.flow import FrameCues, FrameFlow
from fastsam_track.trackers.prompting import PromptWarning
from fastsam_track.types import Frame, Prompt, RemovePrompt, SegmentedFrame, StopRun, TextPrompt

if TYPE_CHECKING:
    from fastsam_track.pipeline.prompts.inbox import PromptInbox
    from fastsam_track.pipeline.prompts.text import TextPrompter

__all__ = ["Exporter", "FrameSink", "ObjectFollower", "RunStats", "StopRun", "Tracker", "paced", "run"]

T = TypeVar("T")
_DONE = object()
_AGE_WINDOW = 10_000  # frames whose age is kept for the percentiles
_STOP_GRACE = 0.1  # seconds a stopped run waits for its decoding and model threads to end
_EXIT_WAIT = 10.0  # seconds the interpreter's exit waits for one still busy (a long model pass)


class Tracker(Protocol):
    """Gives a frame's segments identities: ``update(segments, cues) -> segments`` with ``tracker_id``."""

    def update(self, segments: sv.Detections, cues: FrameCues | None) -> sv.Detections: ...


class ObjectFollower(Protocol):
    """Follows prompted objects: ``update(segments, frame_shape, prompts, cues) -> objects``."""

    def update(
        self, segments: sv.Detections, frame_shape: tuple[int, int], prompts: list[Prompt], cues: FrameCues | None
    ) -> sv.Detections: ...


class Exporter(Protocol):
    """A context manager that takes every ``SegmentedFrame`` (segments cache, masks, tracks)."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...
    def write(self, segmented: SegmentedFrame) -> None: ...


class FrameSink(Protocol):
    """A context manager that takes annotated (H, W, 3) uint8 BGR frames."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...
    def write(self, image: np.ndarray) -> None: ...


@dataclass
class RunStats:
    """What a run did and how long each stage took.

    Attributes:
        frames: frames out: written to every sink and export (all processed frames once the run ends).
        seconds: wall-clock time of the whole run.
        stage_ms: total milliseconds per stage, each measured on its own thread: decode (the
            model waiting for a decoded frame), segment (the network, and the masks assembled on
            the tracking thread), track (with prompts, CLIP and edge maps), render, encode
            (sinks and exports). Stages overlap, so they add up to more
            than the run's time per frame.
        segments: total segments over all frames.
        dropped: frames a live source delivered that were skipped because newer ones had
            arrived before the model was free (0 for files: they process every frame).
        ages_ms: frame age, capture (decoded) to output (written by the sinks), in ms, for
            the most recent frames (a bounded window, so an endless stream stays flat).
        unused_prompts: prompts for frames after the last one processed.
    """

    frames: int = 0
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("decode", "segment", "track", "render", "encode"), 0.0)
    )
    segments: int = 0
    dropped: int = 0
    ages_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_AGE_WINDOW))
    unused_prompts: list[Prompt] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames per second over the whole run."""
        return self.frames / self.seconds if self.seconds else 0.0

    def mean_ms(self) -> dict[str, float]:
        """Milliseconds per frame for each stage."""
        return {k: v / self.frames if self.frames else 0.0 for k, v in self.stage_ms.items()}

    def age_ms(self) -> dict[str, float]:
        """Median, 95th percentile and maximum frame age in ms over the recent window (zeros before any)."""
        ages = np.array(self.ages_ms) if self.ages_ms else np.zeros(1)
        return {"median": float(np.median(ages)), "p95": float(np.percentile(ages, 95)), "max": float(ages.max())}

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (``--stats FILE``)."""
        return {
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "dropped": self.dropped,
            "segments_per_frame": round(self.segments / self.frames, 2) if self.frames else 0.0,
            "stage_ms_per_frame": {k: round(v, 2) for k, v in self.mean_ms().items()},
            "frame_age_ms": {k: round(v, 1) for k, v in self.age_ms().items()},
        }


class _Prefetch(Generic[T]):
    """Iterate ``items`` in a background thread, at most ``maxsize`` ahead of the consumer.

    Each item comes with the monotonic time it was produced (its capture time).
    """

    def __init__(self, items: Iterable[T], maxsize: int, name: str = "decode"):
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._produce, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _offer(self, item: object) -> bool:
        """Hand over a produced item; False when the consumer has stopped."""
        return self._put(item)

    def _produce(self, items: Iterable[T]) -> None:
        try:
            for item in items:
                if not self._offer((item, time.monotonic())) or self._stop.is_set():  # not one item more
                    return
            self._put(_DONE)
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._put(error)

    def __iter__(self) -> Iterator[tuple[T, float]]:
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():  # closed while a consumer (another stage's thread) waits
                    return
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def stop(self) -> None:
        """Tell the producer to stop; empty the queue, so one waiting for room sees it at once."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the stopped producer.

        One still busy with its item (a model pass, a frozen camera's read) ends on its own
        right after it, touching no output; the interpreter's exit waits for it (up to
        ``_EXIT_WAIT``), so no thread is cut off inside a library.
        """
        self._thread.join(timeout)
        if self._thread.is_alive():
            atexit.register(self._thread.join, _EXIT_WAIT)


class _Latest(_Prefetch[T]):
    """``_Prefetch`` for live sources: only the newest item waits; an older one is dropped and counted."""

    def __init__(self, items: Iterable[T]):
        super().__init__(items, maxsize=1)

    def _offer(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put_nowait(item)
                return True
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:  # the consumer took it meanwhile
                    continue
        return False


class _Writer:
    """Render frames and hand them to sinks and exports from a background thread; errors
    surface on the next call.

    ``written(captured)`` is called once each frame is out, with its capture time. A sink
    that raises ``StopRun`` sets ``stopped``; later frames are discarded. Render and
    encode milliseconds add up in ``stage_ms``.
    """

    def __init__(
        self,
        sinks: list[FrameSink],
        exports: list[Exporter],
        renderer: SegmentRenderer | CaptureTimes,
        maxsize: int,
        written: Callable[[float], None],
        stage_ms: dict[str, float],
    ):
        self._sinks, self._exports, self._written = sinks, exports, written
        self._renderer, self._stage_ms = renderer, stage_ms
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self.stopped = threading.Event()  # a sink raised StopRun
        self._thread = threading.Thread(target=self._consume, name="encode", daemon=True)
        self._thread.start()

    def _consume(self) -> None:
        while (item := self._queue.get()) is not _DONE:
            if self._error is None and not self.stopped.is_set():
                segmented, captured = item
                try:
                    started = time.perf_counter()
                    if self._sinks:
                        image = self._renderer.annotate(segmented)
                    rendered = time.perf_counter()
                    for sink in self._sinks:
                        sink.write(image)
                    for export in self._exports:
                        export.write(segmented)
                    self._stage_ms["render"] += (rendered - started) * 1000
                    self._stage_ms["encode"] += (time.perf_counter() - rendered) * 1000
                    self._written(captured)
                except StopRun:
                    self.stopped.set()
                except BaseException as error:  # handed to the producer, which re-raises it
                    self._error = error

    def put(self, segmented: SegmentedFrame, captured: float) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((segmented, captured))

    def close(self) -> None:
        """Write what is queued, then stop; re-raise a sink's error."""
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error


def run(
    frames: Iterable[Frame],
    segment: Callable[[np.ndarray], sv.Detections],
    *,
    tracker: Tracker | None = None,
    objects: ObjectFollower | None = None,
    prompts: Iterable[Prompt] = (),
    text: TextPrompter | None = None,
    inbox: PromptInbox | None = None,
    edges: bool = False,
    renderer: SegmentRenderer | None = None,
    sinks: Iterable[FrameSink] = (),
    exports: Iterable[Exporter] = (),
    on_frame: Callable[[SegmentedFrame, RunStats], None] | None = None,
    queue_size: int = 4,
    live: bool | None = None,
    pace: bool = False,
) -> RunStats:
    """Run every frame through the pipeline and into the sinks and exports.

    Sinks and exports are entered before the first frame and always exited, also when the
    run stops on an exception or Ctrl-C, so files written so far are finalised. A sink ends
    the run early and normally by raising ``StopRun`` (a window closed by its user). A stop
    writes the frames already segmented, then waits at most ``_STOP_GRACE`` s for the
    decoding and model threads: not for a model pass or a frozen camera's read.

    Args:
        frames: the source.
        segment: (H, W, 3) uint8 BGR image to segments, e.g. a ``Segmenter``.
        tracker: gives segments identities (e.g. a ``SegmentTracker``); None leaves them without.
        objects: follows prompted objects (e.g. an ``ObjectTracker``); needed with ``prompts``.
            Both get the frame's optical flow and colours (``FrameFlow``, on the tracking thread).
        prompts: point, box, text and remove prompts; each is applied on the first processed
            frame at or after its own (frames skipped by a stride do not lose prompts).
        inbox: prompts given while the video plays (a window, a web page), applied on the next
            frame; the objects seen are published back to it. Needs ``objects``.
        text: resolves text prompts with CLIP and looks for lost text-selected objects (its
            time counts in the ``track`` stage); needed with text prompts.
        edges: compute each frame's edge map (``SegmentedFrame.edges``, in the ``render``
            stage); the renderer then draws it instead of the segments.
        renderer: draws segments for the sinks (a default ``SegmentRenderer`` if None).
        sinks: where annotated frames go.
        exports: what receives each ``SegmentedFrame`` (segments cache, mask and track files).
        on_frame: called after each frame is rendered (progress display, tests); it may raise
            ``StopRun`` to end the run normally.
        queue_size: frames decoded ahead and frames waiting for the encoder.
        live: keep only the newest decoded frame and drop older ones (counted in
            ``RunStats.dropped``), so latency stays bounded when the source is faster than
            the model; default: the source's ``live`` attribute (cameras and streams). A
            ``VideoFileSink`` recording a live source is fragmented and presents each frame
            at its capture time (``stamp_capture_times``).
        pace: hold each frame until its time (``Frame.timestamp`` after the first frame's)
            before tracking and writing it, so a file shown as it is processed (a web page)
            plays at its own rate instead of as fast as the model goes (see ``paced``).

    Returns:
        Counts and per-stage timings; ``unused_prompts`` lists prompts for frames past the end.
    """
    live = bool(getattr(frames, "live", False)) if live is None else live
    sinks = list(sinks)
    drawing = stamp_capture_times(renderer or SegmentRenderer(), sinks, live)
    pending = sorted(prompts, key=lambda p: p.frame)
    if (pending or inbox is not None) and objects is None:
        raise ValueError("prompts need an object tracker: pass objects=ObjectTracker()")
    if text is None and any(isinstance(p, TextPrompt) for p in pending):
        raise ValueError("text prompts need CLIP: pass text=TextPrompter(ClipEmbedder())")
    stats = RunStats()
    started = time.perf_counter()
    with ExitStack() as stack:
        stages: list[_Prefetch[Any]] = []
        stack.callback(_join, stages)  # the last step, after sinks and exports are finalised
        sink_list = [stack.enter_context(sink) for sink in sinks]
        export_list = [stack.enter_context(export) for export in exports]
        record_age = _age_recorder(stats)
        writer = (
            _Writer(sink_list, export_list, drawing, queue_size, record_age, stats.stage_ms)
            if sink_list or export_list
            else None
        )
        decoded: _Prefetch[Frame] = _Latest(frames) if live else _Prefetch(frames, queue_size)
        # One frame waits between the model and tracking: the model never idles, the age stays low.
        model: _Prefetch[tuple[Frame, Callable[[], sv.Detections], float]] = _Prefetch(
            _segment_all(decoded, segment, stats.stage_ms), maxsize=1, name="segment"
        )
        stages += [decoded, model]
        # The trackers follow segments with the optical flow between the frames they see.
        flow = FrameFlow() if tracker is not None or objects is not None else None
        segmented_frames: Iterable[tuple[tuple[Frame, Callable[[], sv.Detections], float], float]] = model
        if pace:  # here, after the queues: frames held before them would come out in a burst after a slow pass
            segmented_frames = paced(model, timestamp=lambda item: item[0][0].timestamp)
        try:
            for (frame, assemble, captured), _ in segmented_frames:
                if writer is not None and writer.stopped.is_set():
                    break
                assembled = time.perf_counter()
                segments = assemble()
                tracked = time.perf_counter()
                stats.stage_ms["segment"] += (tracked - assembled) * 1000
                cues = _cues(flow, frame, segments) if flow is not None else None
                segments = tracker.update(segments, cues) if tracker is not None else segments
                due = [p for p in pending if p.frame <= frame.index]
                pending = pending[len(due) :]
                if inbox is not None:
                    due += inbox.take(frame.index)
                if text is not None:
                    due = _resolve_text(text, frame, segments, due)
                followed: sv.Detections | None = None
                if inbox is not None and objects is not None:
                    followed = _update_telling(inbox, objects, segments, frame.shape, due, cues)
                elif objects is not None:
                    followed = objects.update(segments, frame.shape, due, cues)
                if text is not None:
                    text.observe(followed)
                if inbox is not None:
                    inbox.publish(frame.index, frame.shape, followed)
                    # Interactive runs show every segment until an object is picked, so there is something to click.
                    followed = followed if followed is not None and len(followed) else None
                edge_image = edge_map(_probabilities(segments), frame.shape) if edges else None
                segmented = SegmentedFrame(frame, segments, followed, edge_image)
                stats.stage_ms["track"] += (time.perf_counter() - tracked) * 1000
                if writer is not None:
                    writer.put(segmented, captured)
                else:
                    record_age(captured)
                stats.dropped = decoded.dropped
                stats.segments += len(segmented.segments)
                stats.seconds = time.perf_counter() - started
                if on_frame is not None:
                    on_frame(segmented, stats)
        except StopRun:  # on_frame ended the run: as normal an end as a sink's
            pass
        finally:
            for stage in stages:
                stage.stop()
            if writer is not None:
                writer.close()
    stats.seconds = time.perf_counter() - started
    stats.unused_prompts = pending
    return stats


def paced(
    items: Iterable[T],
    timestamp: Callable[[T], float] = lambda frame: frame.timestamp,  # type: ignore[attr-defined]
    *,
    longest_wait: float = 1.0,
    late: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """``items`` (frames) no faster than their timestamps (seconds) say: a file plays at its own rate.

    An item that comes more than ``late`` s after its time (the model was slower than the
    clip) starts the clock again from it, so late items never come in a burst to catch up; a
    jump in the timestamps waits at most ``longest_wait`` s.

    Example:
        >>> waits = []
        >>> frames = [Frame(i, np.zeros((2, 2, 3), np.uint8), i / 10) for i in range(3)]
        >>> [f.index for f in paced(frames, clock=lambda: 0.0, sleep=waits.append)], waits
        ([0, 1, 2], [0.1, 0.2])
    """
    start: tuple[float, float] | None = None  # (clock, timestamp) the schedule counts from
    for item in items:
        seconds = float(timestamp(item))
        if start is None:
            start = (clock(), seconds)
        else:
            wait = start[0] + seconds - start[1] - clock()
            if wait > 0:
                sleep(min(wait, longest_wait))
            if wait > longest_wait or wait < -late:
                start = (clock(), seconds)
        yield item


def _update_telling(
    inbox: PromptInbox,
    objects: ObjectFollower,
    segments: sv.Detections,
    frame_shape: tuple[int, int],
    due: list[Prompt],
    cues: FrameCues | None,
) -> sv.Detections:
    """``objects.update``, telling the inbox of each prompt that selected nothing (a ``PromptWarning``
    naming its object), so the window or page that gave it can say so. Every warning is still shown
    as usual (the terminal's line), after the update."""
    # The tracker reports a miss only as a warning; this is the tracking thread, and warnings other
    # threads give meanwhile are caught too and shown the same way.
    with warnings.catch_warnings(record=True) as caught:
        followed = objects.update(segments, frame_shape, due, cues)
    for warning in caught:
        if isinstance(warning.message, PromptWarning):
            inbox.missed(warning.message.object_id, warning.message.reason)
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return followed


def _join(stages: list[_Prefetch[Any]]) -> None:
    """Wait ``_STOP_GRACE`` s in all for the stopped stages: a stop does not wait for a model
    pass whose frame is no longer wanted."""
    deadline = time.monotonic() + _STOP_GRACE
    for stage in stages:
        stage.join(max(deadline - time.monotonic(), 0.0))


def _segment_all(
    decoded: _Prefetch[Frame], segment: Callable[[np.ndarray], sv.Detections], stage_ms: dict[str, float]
) -> Iterator[tuple[Frame, Callable[[], sv.Detections], float]]:
    """The model's stage: (frame, its segments to come, capture time) for each decoded frame, timed.

    A segmenter with ``infer`` (a ``Segmenter``) runs only its network here; the function it
    returns assembles the masks on the tracking thread, beside the next network pass (FastSAM-s
    on OpenVINO, 720p, 96 masks: 2-3 ms a frame less, 94 -> 93 and with two prompts 90 -> 88).
    """
    infer: Callable[[np.ndarray], Callable[[], sv.Detections]] = getattr(
        segment, "infer", lambda image: functools.partial(_same, segment(image))
    )
    waited = time.perf_counter()
    for frame, captured in decoded:
        started = time.perf_counter()
        stage_ms["decode"] += (started - waited) * 1000
        segments = infer(frame.image)
        stage_ms["segment"] += (time.perf_counter() - started) * 1000
        yield frame, segments, captured
        waited = time.perf_counter()  # not counting the wait for tracking to take the frame


def _cues(flow: FrameFlow, frame: Frame, segments: sv.Detections) -> FrameCues:
    """The frame's flow and colours on the segments' grid; a frame of a new size starts the flow afresh
    (a camera that came back at another resolution: the trackers start afresh too)."""
    grid = np.asarray(segments.mask).shape[1:]
    try:
        return flow.update(frame.image, grid)
    except FlowError:
        flow.reset()
        return flow.update(frame.image, grid)


def _same(segments: sv.Detections) -> sv.Detections:
    return segments


def _age_recorder(stats: RunStats) -> Callable[[float], None]:
    """Count a frame and record its age (capture to out) when the writer is done with it: counted where
    it is written, a frame interrupted between tracking and the writer (Ctrl-C) is never counted
    without its outputs, nor written without being counted."""

    def record(captured: float) -> None:
        stats.frames += 1
        stats.ages_ms.append((time.monotonic() - captured) * 1000)

    return record


def _resolve_text(text: TextPrompter, frame: Frame, segments: sv.Detections, due: list[Prompt]) -> list[Prompt]:
    """This frame's prompts with text prompts (and searches for lost objects) turned into mask prompts."""
    for prompt in due:
        if isinstance(prompt, RemovePrompt):
            text.forget(prompt.object_id)
    words = [p for p in due if isinstance(p, TextPrompt)]
    resolved: list[Prompt] = [p for p in due if not isinstance(p, TextPrompt)]
    return resolved + list(text.prompts(frame, segments, words))


def _probabilities(segments: sv.Detections) -> np.ndarray:
    """(N, h, w) mask probabilities: the model's when it gave them, else the binary masks (a replay)."""
    if "probability" in segments.data:
        return np.asarray(segments.data["probability"])
    return np.asarray(segments.mask, np.float32)
