"""What the frame loop asks of a segmenter: ``Segment``, a frame's segments in two phases.

``infer(image)`` starts the frame's work (the network) at once and returns a function that
finishes it (the masks): the runner calls the first on its model thread and the second on its
tracking thread, so one frame's masks are assembled beside the next frame's network pass.
Every segmenter of the package implements it: ``Segmenter``, a ``BatchedSegmenter``'s client,
a ``SegmentsReplay`` and the cluster's remote segmenter. A plain function of an image is a
segmenter whose work is all in the first phase (``two_phase``).

Example:
    >>> import numpy as np, supervision as sv
    >>> empty = lambda image: sv.Detections.empty()
    >>> len(two_phase(empty)(np.zeros((2, 2, 3), np.uint8))())
    0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv

__all__ = ["Segment", "two_phase"]


@runtime_checkable
class Segment(Protocol):
    """A segmenter: ``segment(image) -> segments``, and the same in two phases, ``infer(image)() -> segments``."""

    def __call__(self, image: np.ndarray) -> sv.Detections:
        """(H, W, 3) uint8 BGR image to its segments (``SegmentedFrame.segments``)."""
        ...

    def infer(self, image: np.ndarray) -> Callable[[], sv.Detections]:
        """Start ``image``'s segmentation now; the function returned finishes it (on another thread)."""
        ...


def two_phase(
    segment: Segment | Callable[[np.ndarray], sv.Detections],
) -> Callable[[np.ndarray], Callable[[], sv.Detections]]:
    """``segment.infer``; for a plain function, the function now and its result later."""
    if isinstance(segment, Segment):
        return segment.infer
    return lambda image: _later(segment(image))


def _later(segments: sv.Detections) -> Callable[[], sv.Detections]:
    return lambda: segments
