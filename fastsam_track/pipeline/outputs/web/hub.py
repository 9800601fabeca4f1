"""The frame hub: a run's fixed sources as a ``SourceCatalog``, their newest frames, and the stream slots.

Each source's frame loop writes to its ``SourceSink``; every written frame is encoded to JPEG
once and stream clients always get the newest one, skipping those they were too slow for. A
source whose sinks have all left is over: its streams end after its last frame, and its
status says whether it finished or failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from fastsam_track.errors import PromptError, SinkError, UsageError
from fastsam_track.pipeline.prompts.inbox import PromptInbox, inbox_view
from fastsam_track.pipeline.status import FrameRate, SourceStatus

__all__ = ["FixedSources", "Slots", "SourceSink"]

_POLL = 0.2  # seconds between checks, while a stream waits for a frame, that its viewer is still there


class Slots:
    """At most ``most`` streams at once, whatever their sources; ``stop`` ends them all.

    A stream that has had no new frame for ``idle`` s gives its slot to a request waiting for
    one (``wanted``): a viewer of a paused camera, or one that stalled, does not keep others out.

    Args:
        most: the number of slots.
        idle: seconds without a frame after which a stream yields its slot to a waiting request.
        wait: seconds a request waits for a slot when all are taken.
    """

    def __init__(self, most: int, idle: float = 10.0, wait: float = 2.0):
        self.most, self.idle, self._wait = most, idle, wait
        self.changed = threading.Condition()  # also notified on each new frame of a fixed source
        self._open = 0
        self._waiting = 0
        self.stopping = False

    def take(self) -> bool:
        """Take a slot, waiting a moment for one; False if none frees."""
        with self.changed:
            self._waiting += 1
            try:
                self.changed.wait_for(lambda: self._open < self.most or self.stopping, timeout=self._wait)
            finally:
                self._waiting -= 1
            if self._open >= self.most or self.stopping:
                return False
            self._open += 1
            return True

    def wanted(self) -> bool:
        """Whether a request waits for a slot."""
        return self._waiting > 0

    def give_back(self) -> None:
        with self.changed:
            self._open -= 1
            self.changed.notify_all()

    def start(self) -> None:
        with self.changed:
            self.stopping = False

    def stop(self, grace: float = 2.0) -> None:
        """End every stream: each notices within a wait (one stuck writing gives up at its socket timeout)."""
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
            self.changed.wait_for(lambda: self._open == 0, timeout=grace)


class _Feed:
    """One fixed source (a ``PageSource``): its name, inbox, newest frame and status."""

    def __init__(self, name: str, inbox: PromptInbox | None, slots: Slots):
        self.name, self.inbox, self._slots = name, inbox, slots
        self.takes_prompts = inbox is not None
        self._lock = slots.changed
        self.jpeg: bytes | None = None
        self.sequence = 0  # frames written so far
        self.index = -1  # the source's index of the newest frame written (-1: unknown)
        self.entered = 0  # its sinks now inside their `with` block
        self.ended = False  # it had sinks entered and all have left
        self.failure = ""  # why its run failed, when it did
        self.source: Any = None  # the opened source, for a live one's trouble (``lost``)
        self.stats: Any = None  # the run's ``RunStats``
        self.rate = FrameRate()

    def next_jpeg(self, after: int, done: Callable[[], bool]) -> tuple[int, bytes, int] | None:
        with self._lock:
            while not self._slots.stopping:
                if self.jpeg is not None and self.sequence > after:
                    return self.sequence, self.jpeg, self.index
                if self.ended or done():
                    return None
                self._lock.wait(timeout=_POLL)
            return None

    def status(self) -> SourceStatus:
        with self._lock:
            ended, failure, entered = self.ended, self.failure, self.entered
        lost = getattr(self.source, "lost", "") or ""
        if ended:
            state, note = ("failed", failure) if failure else ("finished", "")
        elif lost:
            state, note = "reconnecting", lost
        else:
            state, note = ("running" if entered else "starting"), ""
        frame = self.inbox.frame_index if self.inbox is not None else self.index
        return SourceStatus.from_stats(self.name, state, self.stats, self.rate.fps(), note, frame)

    def _inbox(self) -> PromptInbox:
        if self.inbox is None:
            raise PromptError("takes no prompts")
        return self.inbox

    def view(self) -> dict[str, Any]:
        return inbox_view(self._inbox())

    def add_point(self, x: float, y: float, label: int = 1, frame: int | None = None) -> int:
        return self._inbox().add_point(x, y, label, frame=frame)

    def add_box(self, x1: float, y1: float, x2: float, y2: float, frame: int | None = None) -> int:
        return self._inbox().add_box(x1, y1, x2, y2, frame=frame)

    def remove(self, object_id: int) -> bool:
        return self._inbox().remove(object_id)

    def clear(self) -> None:
        self._inbox().clear()


class FixedSources:
    """A run's sources, fixed for its length (a ``SourceCatalog`` that cannot add or remove any).

    Args:
        sources: ``(name, inbox)`` for each, in order; None for an inbox: that source takes no prompts.
        slots: the server's stream slots (their condition also guards the frames).
    """

    manage = False

    def __init__(self, sources: Sequence[tuple[str, PromptInbox | None]], slots: Slots):
        self.feeds = [_Feed(name, inbox, slots) for name, inbox in _checked(sources)]

    def listing(self) -> list[dict[str, Any]]:
        return [{"number": n, "name": feed.name} for n, feed in enumerate(self.feeds)]

    def source(self, number: int) -> _Feed | None:
        return self.feeds[number] if 0 <= number < len(self.feeds) else None

    def add(self, fields: dict[str, str]) -> dict[str, Any]:
        raise UsageError("this page's sources are the run's: none can be added")

    def remove(self, number: int) -> dict[str, Any]:
        raise UsageError("this page's sources are the run's: none can be removed")


class SourceSink:
    """The frame sink of one fixed source (``WebServer.sink``), for that source's frame loop.

    Entering the first sink starts serving and leaving the last one stops it (``life``);
    leaving the last sink of its source ends that source's streams after its last frame, and
    a sink left by an exception marks its source failed.

    Attributes:
        capture_time: the run's ``CaptureTimes``, set by the runner (``stamp_capture_times``): the
            index of the frame each image shows.
        number: its source's number.
    """

    def __init__(self, feed: _Feed, number: int, life: Callable[[int], None], jpeg_quality: int):
        self._feed, self.number, self._life, self._quality = feed, number, life, jpeg_quality
        self.capture_time: Any = None
        self._entered = 0  # this sink's `with` blocks now open (leaving one not entered does nothing)
        self._lock = threading.Lock()

    def follow(self, source: Any) -> SourceSink:
        """Show ``source``'s trouble (a live source's ``lost``: reconnecting) in the status."""
        self._feed.source = source
        return self

    def watch(self, stats: Any) -> None:
        """Read the run's ``RunStats`` (frame age, dropped frames, keyframes) for the status."""
        self._feed.stats = stats

    def __enter__(self) -> SourceSink:
        with self._lock:
            self._life(+1)
            feed = self._feed
            with feed._lock:
                feed.entered, feed.ended, feed.failure = feed.entered + 1, False, ""
            self._entered += 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        with self._lock:
            if self._entered == 0:
                return
            self._entered -= 1
            feed = self._feed
            with feed._lock:
                feed.entered -= 1
                feed.ended = feed.entered == 0
                if exc is not None and not isinstance(exc, (KeyboardInterrupt, GeneratorExit)):
                    feed.failure = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                feed._lock.notify_all()
            self._life(-1)

    def write(self, image: np.ndarray) -> None:
        """Make an (H, W, 3) uint8 BGR frame the newest one of this source's stream."""
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise SinkError(f"cannot encode a {image.shape} {image.dtype} frame to JPEG")
        index = self.capture_time.index(image) if self.capture_time is not None else None
        feed = self._feed
        with feed._lock:
            feed.jpeg, feed.sequence = encoded.tobytes(), feed.sequence + 1
            feed.index = -1 if index is None else index
            feed.rate.tick()
            feed._lock.notify_all()


def _checked(sources: Sequence[tuple[str, PromptInbox | None]]) -> list[tuple[str, PromptInbox | None]]:
    """The sources given to ``WebServer``, checked."""
    checked: list[tuple[str, PromptInbox | None]] = []
    for number, pair in enumerate(sources):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise UsageError(f"each source must be (name, inbox), got {pair!r} for source {number}")
        name, inbox = pair
        if not isinstance(name, str) or not (inbox is None or isinstance(inbox, PromptInbox)):
            raise UsageError(
                f"source {number}: expected (str, PromptInbox or None), got ({type(name).__name__}, "
                f"{type(inbox).__name__})"
            )
        shared = next((n for n, (_, other) in enumerate(checked) if inbox is not None and other is inbox), None)
        if shared is not None:
            raise UsageError(f"sources {shared} and {number} share one PromptInbox: give each source its own")
        checked.append((name, inbox))
    if not checked:
        raise UsageError("sources is empty: give at least one (name, inbox), or None for one source")
    return checked
