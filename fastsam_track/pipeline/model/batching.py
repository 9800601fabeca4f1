"""Several sources through one model: their frames meet in one batch per network pass.

Each source runs its own frame loop (``run``) in a thread of its own, with its own tracker
and outputs; their ``segment`` calls go to one ``BatchedSegmenter``, whose model thread
waits for a frame from every source still running (or ``wait_ms`` after the first one),
then segments the frames of each size in one ``segment_batch`` pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

import numpy as np
import supervision as sv

__all__ = ["BatchedSegmenter"]


class _BatchSegmenter(Protocol):
    def segment_batch(self, images: list[np.ndarray]) -> list[sv.Detections]: ...


class BatchedSegmenter:
    """Share one segmenter between ``streams`` frame loops, batching their frames.

    Args:
        segmenter: anything with ``segment_batch(images) -> detections`` (a ``Segmenter``).
        streams: how many frame loops will call it; each gets one ``client``.
        wait_ms: longest wait for the other streams' frames once one has arrived.

    Example:
        >>> class Count:
        ...     batches = []
        ...     def segment_batch(self, images):
        ...         self.batches.append(len(images))
        ...         return [sv.Detections.empty() for _ in images]
        >>> model = Count()
        >>> with BatchedSegmenter(model, streams=2) as shared:
        ...     a, b = shared.client(), shared.client()
        ...     threads = [threading.Thread(target=c, args=(np.zeros((4, 4, 3), np.uint8),)) for c in (a, b)]
        ...     _ = [t.start() for t in threads]; _ = [t.join() for t in threads]
        >>> model.batches
        [2]
    """

    def __init__(self, segmenter: _BatchSegmenter, streams: int, wait_ms: float = 50.0):
        self.segmenter, self.wait_s = segmenter, wait_ms / 1000
        self._active = streams
        self._requests: list[tuple[np.ndarray, Future[sv.Detections]]] = []
        self._changed = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="model", daemon=True)
        self.batches: list[int] = []  # frames per network pass, for stats and tests

    def __enter__(self) -> BatchedSegmenter:
        self._thread.start()
        return self

    def client(self) -> _Client:
        """A ``segment`` callable for one stream's frame loop; call its ``done()`` when the loop ends."""
        return _Client(self)

    def set_streams(self, streams: int) -> None:
        """How many frame loops call it now (a cluster's cameras come and go)."""
        with self._changed:
            self._active = streams
            self._changed.notify_all()

    def _submit(self, image: np.ndarray) -> Future[sv.Detections]:
        future: Future[sv.Detections] = Future()
        with self._changed:
            self._requests.append((image, future))
            self._changed.notify_all()
        return future

    def _leave(self) -> None:
        with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def _serve(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._requests or self._closing)
                if self._closing and not self._requests:
                    return
                # One frame from each running stream, or as many as came within the wait.
                self._changed.wait_for(lambda: len(self._requests) >= max(self._active, 1), timeout=self.wait_s)
                requests, self._requests = self._requests, []
            self._segment(requests)

    def _segment(self, requests: list[tuple[np.ndarray, Future[sv.Detections]]]) -> None:
        by_size: dict[tuple[int, ...], list[tuple[np.ndarray, Future[sv.Detections]]]] = {}
        for image, future in requests:
            by_size.setdefault(image.shape, []).append((image, future))
        for group in by_size.values():
            try:
                results = self.segmenter.segment_batch([image for image, _ in group])
            except BaseException as error:  # handed to the waiting frame loops
                for _, future in group:
                    future.set_exception(error)
                continue
            self.batches.append(len(group))
            for (_, future), result in zip(group, results, strict=True):
                future.set_result(result)

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout=10)


class _Client:
    """One stream's handle on a ``BatchedSegmenter``: ``client(image) -> segments``, also in two phases
    (``protocol.Segment``)."""

    def __init__(self, owner: BatchedSegmenter):
        self._owner, self._left = owner, False

    def __call__(self, image: np.ndarray) -> sv.Detections:
        return self._owner._submit(image).result()

    def infer(self, image: np.ndarray) -> Callable[[], sv.Detections]:
        """(H, W, 3) uint8 ``image``'s segments, waited for now: the batch's thread does all the work (masks
        included), and a stream with a frame out sends no other, so a batch holds one frame of each stream
        (sent now and waited for later, one stream's frames would fill batches alone)."""
        segments = self(image)
        return lambda: segments

    def done(self) -> None:
        """This stream sends no more frames: the model stops waiting for it."""
        if not self._left:
            self._left = True
            self._owner._leave()
