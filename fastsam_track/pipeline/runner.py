"""The frame loop: decode, segment, process, render and encode, each stage timed.

The frame loop's threads and queues are all here; it only moves frames between them (other
modules keep threads of their own behind a sink or a server: a page's server, an RTSP push's
retries, a batching segmenter). Four stages run at once, joined by bounded queues: decoding in
one thread, the model in another (it alone touches the network, asking the keyframe policy
which frames it sees), the ``FrameProcessor`` (tracks, prompts, objects, edges) on the calling
thread, rendering, sinks and exports in a fourth. Several sources run one such
loop each, in threads of their own, around one model that batches their frames
(``run_sources``).
The network's pass is the longest stage, so the others fit in beside it instead of after
it (FastSAM-s on OpenVINO, 720p, 100 masks: 110 ms a frame when each frame went through
every stage in turn on one thread).
"""

from __future__ import annotations

import atexit
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import ExitStack, closing, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypedDict, TypeVar, runtime_checkable

import numpy as np
import supervision as sv

from fastsam_track.errors import UsageError
from fastsam_track.pipeline.keyframes import Keyframes
from fastsam_track.pipeline.model.batching import BatchedSegmenter
from fastsam_track.pipeline.model.protocol import Segment, two_phase
from fastsam_track.pipeline.outputs.render import SegmentRenderer
from fastsam_track.pipeline.outputs.sinks import CaptureTimes, stamp_capture_times
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.timeline import SourceTimeline
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import Frame, Prompt, SegmentedFrame, StopRun

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "Exporter",
    "FrameSink",
    "LoopOptions",
    "RunStats",
    "StatsWatcher",
    "frames_through",
    "paced",
    "run",
    "run_sources",
]

T = TypeVar("T")
_DONE = object()
_AGE_WINDOW = 10_000  # frames whose age is kept for the percentiles
_STOP_GRACE = 0.1  # seconds a stopped run waits for its decoding and model threads to end
_EXIT_WAIT = 10.0  # seconds the interpreter's exit waits for one still busy (a long model pass)


class FrameSink(Protocol):
    """A context manager that takes annotated (H, W, 3) uint8 BGR frames."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...
    def write(self, image: np.ndarray) -> None: ...


@runtime_checkable
class StatsWatcher(Protocol):
    """A sink that reads the run's ``RunStats`` as it goes (the web page's status bar)."""

    def watch(self, stats: RunStats) -> None: ...


class Exporter(Protocol):
    """A context manager that takes every ``SegmentedFrame`` (segments cache, masks, tracks): the
    registered outputs' writers (``exports.registry``) other than the video."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...
    def write(self, segmented: SegmentedFrame) -> None: ...


class LoopOptions(TypedDict, total=False):
    """What a frame loop (``run``, ``frames_through``) takes besides its frames, segmenter and processor.

    Attributes:
        renderer: draws segments for the sinks (a default ``SegmentRenderer`` if None).
        sinks: where annotated frames go.
        exports: what takes each ``SegmentedFrame`` (segments cache, mask and track files), written
            beside the sinks on the writing thread.
        keyframes: which frames the network sees (the model's thread asks ``due()``; the processor's
            result on each frame is told back, ``observe``); None: every frame. A policy that skips
            frames needs a processor made with ``carry`` (and ``residual`` for ``auto``); the default
            processor is.
        queue_size: frames decoded ahead and frames waiting for the encoder (4).
        live: keep only the newest decoded frame and drop older ones (counted in
            ``RunStats.dropped``), so latency stays bounded when the source is faster than
            the model; default: the source's ``live`` attribute (cameras and streams). A
            ``VideoFileSink`` recording a live source is fragmented and presents each frame
            at its capture time (``stamp_capture_times``).
        pace: hold each frame until its time (``Frame.timestamp`` after the first frame's)
            before processing and writing it, so a file shown as it is processed (a web page)
            plays at its own rate instead of as fast as the model goes (see ``paced``).
        timeline: records each frame as it goes out (``--stats``' time series).
    """

    renderer: SegmentRenderer | None
    sinks: Iterable[FrameSink]
    exports: Iterable[Exporter]
    keyframes: Keyframes | None
    queue_size: int
    live: bool | None
    pace: bool
    timeline: SourceTimeline | None


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
        keyframes: frames that went through the network (the others, between keyframes, were
            carried by the optical flow).
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
    keyframes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` to ``stage``; stages are timed on several threads (``segment`` on two)."""
        with self._lock:
            self.stage_ms[stage] += seconds * 1000

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
            "keyframes": self.keyframes,
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
    """Render frames and hand them to sinks, and the segmented frames to exports, from a background thread;
    errors surface on the next call.

    ``written(segmented, captured, keyframe)`` is called once each frame is out, with its capture time. A sink
    that raises ``StopRun`` sets ``stopped``; later frames are discarded. Render and
    encode times add up in ``stats``.
    """

    def __init__(
        self,
        sinks: list[FrameSink],
        exports: list[Exporter],
        renderer: SegmentRenderer | CaptureTimes,
        maxsize: int,
        written: Callable[[SegmentedFrame, float, bool], None],
        stats: RunStats,
    ):
        self._sinks, self._exports, self._written = sinks, exports, written
        self._renderer, self._stats = renderer, stats
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self.stopped = threading.Event()  # a sink raised StopRun
        self._thread = threading.Thread(target=self._consume, name="encode", daemon=True)
        self._thread.start()

    def _consume(self) -> None:
        while (item := self._queue.get()) is not _DONE:
            if self._error is None and not self.stopped.is_set():
                segmented, captured, keyframe = item
                try:
                    started = time.perf_counter()
                    if self._sinks:
                        image = self._renderer.render(segmented)
                    rendered = time.perf_counter()
                    for sink in self._sinks:
                        sink.write(image)
                    for export in self._exports:
                        export.write(segmented)
                    self._stats.add("render", rendered - started)
                    self._stats.add("encode", time.perf_counter() - rendered)
                    self._written(segmented, captured, keyframe)
                except StopRun:
                    self.stopped.set()
                except BaseException as error:  # handed to the producer, which re-raises it
                    self._error = error

    def put(self, segmented: SegmentedFrame, captured: float, keyframe: bool) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((segmented, captured, keyframe))

    def close(self) -> None:
        """Write what is queued, then stop; re-raise a sink's error."""
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error


def run(
    frames: Iterable[Frame],
    segment: Segment | Callable[[np.ndarray], sv.Detections],
    processor: FrameProcessor | None = None,
    *,
    on_frame: Callable[[SegmentedFrame, RunStats], None] | None = None,
    **options: Unpack[LoopOptions],
) -> RunStats:
    """Run every frame through the pipeline and into the sinks and exports.

    Sinks and exports are entered before the first frame and always exited, also when the
    run stops on an exception or Ctrl-C, so files written so far are finalised. A sink ends
    the run early and normally by raising ``StopRun`` (a window closed by its user). A stop
    writes the frames already segmented, then waits at most ``_STOP_GRACE`` s for the
    decoding and model threads: not for a model pass or a frozen camera's read.

    Args:
        frames: the source.
        segment: (H, W, 3) uint8 BGR image to segments: a ``Segment`` (e.g. a ``Segmenter``, whose
            masks are then assembled on the tracking thread), or a plain function.
        processor: what each frame goes through after the network (tracks, prompts, objects,
            edges); None: a ``FrameProcessor`` with a ``SegmentTracker``, so segments keep
            their ids and colours from frame to frame.
        on_frame: called after each frame is processed (progress display, tests); it may raise
            ``StopRun`` to end the run normally.
        **options: the renderer, sinks, exports, keyframe policy, queue size, live and pace
            (``LoopOptions``).

    Returns:
        Counts and per-stage timings; ``unused_prompts`` lists prompts for frames past the end.
    """
    stats = RunStats()
    with closing(frames_through(frames, segment, processor, stats=stats, **options)) as results:
        try:
            for segmented in results:
                if on_frame is not None:
                    on_frame(segmented, stats)
        except StopRun:  # on_frame ended the run: as normal an end as a sink's
            pass
    return stats


def frames_through(
    frames: Iterable[Frame],
    segment: Segment | Callable[[np.ndarray], sv.Detections],
    processor: FrameProcessor | None = None,
    *,
    stats: RunStats | None = None,
    **options: Unpack[LoopOptions],
) -> Generator[SegmentedFrame, None, None]:
    """``run`` as a generator: each ``SegmentedFrame`` once processed, on the caller's thread.

    The loop is the caller's: the code between two frames runs on the processing stage, and
    leaving it (``break``, an exception, ``close()``) stops the run and finalises every sink
    and export, as the end of the source does. Arguments as ``run``; ``stats``, when given,
    is filled as the frames go.

    Raises:
        UsageError: an ``auto`` keyframe policy with a processor that computes no flow residual.
    """
    stats = stats if stats is not None else RunStats()
    keyframes = options.get("keyframes")
    if processor is None:
        processor = FrameProcessor(
            tracker=SegmentTracker(), carry=keyframes is not None, residual=keyframes is not None and keyframes.auto
        )
    elif keyframes is not None and keyframes.auto and not processor.residual:
        raise UsageError("an auto keyframe policy reads the flow's residual: make the processor with residual=True")
    live = options.get("live")
    live = bool(getattr(frames, "live", False)) if live is None else live
    sinks = list(options.get("sinks", ()))
    queue_size = options.get("queue_size", 4)
    drawing = stamp_capture_times(options.get("renderer") or SegmentRenderer(), sinks, live)
    for sink in sinks:
        if isinstance(sink, StatsWatcher):  # the web page's status
            sink.watch(stats)
    started = time.perf_counter()
    with ExitStack() as stack:
        shield = _Shield()
        stack.callback(shield.lower)  # after everything: a Ctrl-C that came while finalising is raised then
        stages: list[_Prefetch[Any]] = []
        stack.callback(_join, stages)  # the last step, after sinks and exports are finalised
        sink_list = [stack.enter_context(sink) for sink in sinks]
        exports = [stack.enter_context(export) for export in options.get("exports", ())]
        record_age = _age_recorder(stats, options.get("timeline"))
        writer = _Writer(sink_list, exports, drawing, queue_size, record_age, stats) if sink_list or exports else None
        decoded: _Prefetch[Frame] = _Latest(frames) if live else _Prefetch(frames, queue_size)
        # One frame waits between the model and processing: the model never idles, the age stays low.
        network = _Network(two_phase(segment), keyframes)
        model: _Prefetch[tuple[Frame, Callable[[], sv.Detections | None], float]] = _Prefetch(
            _segment_all(decoded, network, stats), maxsize=1, name="segment"
        )
        stages += [decoded, model]
        segmented_frames: Iterable[tuple[tuple[Frame, Callable[[], sv.Detections | None], float], float]] = model
        # Paced here, after the queues: frames held before them would come out in a burst after a slow pass.
        if options.get("pace", False):
            segmented_frames = paced(model, timestamp=lambda item: item[0][0].timestamp)
        try:
            for (frame, assemble, captured), _ in segmented_frames:
                if writer is not None and writer.stopped.is_set():
                    break
                assembled = time.perf_counter()
                if assemble is _no_pass:  # the policy may have asked for a keyframe since the model passed it
                    assemble = network.late(frame) or _no_pass
                keyframe = assemble is not _no_pass
                segments = assemble()
                processed = time.perf_counter()
                stats.add("segment", processed - assembled)
                segmented = processor.process(frame, segments)
                if keyframes is not None:
                    keyframes.observe(segments is not None, processor.cues, segmented.objects, frame.index)
                stats.add("track", time.perf_counter() - processed)
                if writer is not None:
                    writer.put(segmented, captured, keyframe)
                else:
                    record_age(segmented, captured, keyframe)
                stats.dropped = decoded.dropped
                stats.segments += len(segmented.segments)
                stats.seconds = time.perf_counter() - started
                yield segmented
        finally:
            shield.raise_()
            for stage in stages:
                stage.stop()
            if writer is not None:
                writer.close()
            stats.seconds = time.perf_counter() - started
            stats.unused_prompts = processor.unused_prompts


def run_sources(
    sources: Sequence[Iterable[Frame]],
    segmenter: Any,
    processors: Sequence[FrameProcessor | None] | None = None,
    *,
    sinks: Sequence[Sequence[FrameSink]],
    exports: Sequence[Sequence[Exporter]] | None = None,
    keyframes: Sequence[Keyframes | None] | None = None,
    renderer: SegmentRenderer | None = None,
    on_frame: Callable[[int, SegmentedFrame, RunStats], None] | None = None,
    stop: threading.Event | None = None,
    pace: bool = False,
    timelines: Sequence[SourceTimeline | None] | None = None,
) -> list[RunStats]:
    """Several sources at once, batching their frames through one model.

    Each source runs its own frame loop (``run``), with its own processor and sinks, in a
    thread of its own; their frames meet in one ``BatchedSegmenter``.

    Args:
        sources: the sources.
        segmenter: a ``Segmenter`` (anything with ``segment_batch``) shared by every source, or
            one ``segment`` callable per source (segments replays: nothing to batch).
        processors: each source's ``FrameProcessor``, in the same order (None: a segment tracker, as ``run``).
        sinks: the outputs of each source, in the same order.
        exports: the exports of each source, in the same order (None: none).
        keyframes: the keyframe policy of each source, in the same order (None: every frame is one).
        renderer: draws every source's segments (a default ``SegmentRenderer`` if None).
        on_frame: ``on_frame(source number, segmented, stats)`` after each frame.
        stop: set it to end every loop normally (Ctrl-C in the caller's thread).
        pace: hold each file's frames until their time (see ``run``).
        timelines: each source's time-series recorder, in the same order (see ``run``).

    Returns:
        Each source's ``RunStats``.

    Raises:
        The first error of any source's loop, once all loops have ended.
    """
    processors = list(processors) if processors is not None else [None] * len(sources)
    exports = list(exports) if exports is not None else [[] for _ in sources]
    policies = list(keyframes) if keyframes is not None else [None] * len(sources)
    if not len(sinks) == len(processors) == len(exports) == len(policies) == len(sources):
        raise UsageError(
            f"{len(sources)} sources but {len(processors)} processors, {len(sinks)} lists of sinks, "
            f"{len(exports)} of exports and {len(policies)} keyframe policies"
        )
    stop = stop or threading.Event()
    stats: list[RunStats | None] = [None] * len(sources)
    errors: list[BaseException] = []
    own = isinstance(segmenter, (list, tuple))
    batched: Any = nullcontext() if own else BatchedSegmenter(segmenter, streams=len(sources))
    with batched as shared:

        def loop(number: int, source: Iterable[Frame]) -> None:
            client: Any = segmenter[number] if own else shared.client()

            def frame_done(segmented: SegmentedFrame, run_stats: RunStats) -> None:
                if on_frame is not None:
                    on_frame(number, segmented, run_stats)
                if stop.is_set():
                    raise StopRun("stopped")

            try:
                stats[number] = run(
                    source,
                    client,
                    processors[number],
                    renderer=renderer,
                    sinks=sinks[number],
                    exports=exports[number],
                    keyframes=policies[number],
                    on_frame=frame_done,
                    pace=pace and not getattr(source, "live", False),
                    timeline=timelines[number] if timelines is not None else None,
                )
            except BaseException as error:  # re-raised in the caller's thread
                errors.append(error)
                stop.set()
            finally:
                if not own:
                    client.done()

        threads = [
            threading.Thread(target=loop, args=(n, s), name=f"source-{n}", daemon=True) for n, s in enumerate(sources)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.2)
        except BaseException:  # Ctrl-C: end every loop normally so its outputs are finalised, then go on
            stop.set()
            for thread in threads:
                thread.join()
            raise
    if errors:
        raise errors[0]
    return [s if s is not None else RunStats() for s in stats]


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


class _Shield:
    """Holds Ctrl-C and SIGTERM off while the outputs are finalised, then raises one that came.

    A second Ctrl-C during finalisation would otherwise cut the video's flush short while the
    writer thread goes on with the exports: the MP4 would hold fewer frames than the masks.
    Signals reach only the main thread, so elsewhere (a run in a thread) there is nothing to hold.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._saved: dict[int, Any] = {}
        self._came = False

    def raise_(self) -> None:
        """From now on a signal is noted, not acted on."""
        if threading.current_thread() is threading.main_thread() and not self._saved:
            for number in self._SIGNALS:
                self._saved[number] = signal.signal(number, self._note)

    def _note(self, number: int, frame: Any) -> None:
        self._came = True

    def lower(self) -> None:
        """Give the handlers back; a signal that came meanwhile is a ``KeyboardInterrupt`` now."""
        for number, handler in self._saved.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        self._saved.clear()
        if self._came:
            self._came = False
            raise KeyboardInterrupt


def _join(stages: list[_Prefetch[Any]]) -> None:
    """Wait ``_STOP_GRACE`` s in all for the stopped stages: a stop does not wait for a model
    pass whose frame is no longer wanted."""
    deadline = time.monotonic() + _STOP_GRACE
    for stage in stages:
        stage.join(max(deadline - time.monotonic(), 0.0))


class _Network:
    """One source's network passes, one at a time and in frame order: those the keyframe policy decides on
    the model's thread (``ahead``), and a keyframe the policy asked for (``Keyframes.claim``) once the
    model's thread had already passed the frame by (``late``, on the tracking thread). The model's thread
    decides a frame or two ahead of tracking; without ``late``, what ``auto`` saw on a frame would only
    reach the network two or three frames later.

    Args:
        infer: a ``Segment``'s first phase (``two_phase``): the network now, the masks assembled later.
        keyframes: the policy; None: every frame goes through the network.
    """

    def __init__(self, infer: Callable[[np.ndarray], Callable[[], sv.Detections]], keyframes: Keyframes | None):
        self._infer, self._keyframes = infer, keyframes
        self._lock = threading.Lock()  # a segmenter takes one call at a time
        self._sent = -1  # the index of the last frame sent to the network

    def ahead(self, frame: Frame) -> Callable[[], sv.Detections | None]:
        """The model's thread: the frame's segments to come, or ``_no_pass`` when it is not a keyframe."""
        with self._lock:
            if self._keyframes is not None and not self._keyframes.due(frame.index):
                return _no_pass
            self._sent = frame.index
            return self._infer(frame.image)

    def late(self, frame: Frame) -> Callable[[], sv.Detections] | None:
        """The tracking thread, on a frame the model passed by: its segments to come when the policy wants a
        keyframe now and no later frame went through the network yet (a replay reads in frame order)."""
        if self._keyframes is None:
            return None
        with self._lock:
            if frame.index <= self._sent or not self._keyframes.claim(frame.index):
                return None
            self._sent = frame.index
            return self._infer(frame.image)


def _segment_all(
    decoded: _Prefetch[Frame], network: _Network, stats: RunStats
) -> Iterator[tuple[Frame, Callable[[], sv.Detections | None], float]]:
    """The model's stage: (frame, its segments to come, capture time) for each decoded frame, timed.

    ``network.ahead`` runs only the network here; the function it returns assembles the masks on the
    tracking thread, beside the next network pass (FastSAM-s on OpenVINO, 720p, 96 masks: 2-3 ms a
    frame less, 94 -> 93 and with two prompts 90 -> 88). A frame that is not a keyframe skips the
    network: its segments to come are None (the processor carries the last ones by the optical flow).
    """
    waited = time.perf_counter()
    for frame, captured in decoded:
        started = time.perf_counter()
        stats.add("decode", started - waited)
        segments = network.ahead(frame)
        stats.add("segment", time.perf_counter() - started)
        yield frame, segments, captured
        waited = time.perf_counter()  # not counting the wait for tracking to take the frame


def _no_pass() -> None:
    """A frame between keyframes: no segments from the network."""
    return None


def _age_recorder(stats: RunStats, timeline: SourceTimeline | None) -> Callable[[SegmentedFrame, float, bool], None]:
    """Count a frame and record its age (capture to out), and its line in ``timeline``, when the writer is
    done with it: counted where it is written, a frame interrupted between tracking and the writer
    (Ctrl-C) is never counted without its outputs, nor written without being counted."""

    def record(segmented: SegmentedFrame, captured: float, keyframe: bool) -> None:
        stats.frames += 1
        stats.keyframes += keyframe  # counted with the frame: never more keyframes than frames
        stats.ages_ms.append((time.monotonic() - captured) * 1000)
        if timeline is not None:
            timeline.record(segmented, captured, keyframe, stats)

    return record
