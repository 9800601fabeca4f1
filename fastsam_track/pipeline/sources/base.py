"""What every source offers: ``Source``, iteration over ``Frame``s and what is known before the first one."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from fastsam_track.types import Frame

__all__ = ["Source"]


class Source:
    """What every source offers: iteration over frames and what is known before the first one.

    Attributes:
        fps: frames per second (the rate the output is written at).
        size: (W, H) of the frames.
        frame_count: number of frames, or None when unknown (live streams).
        live: True for cameras and streams: frames come in real time and may be dropped.
    """

    fps: Fraction
    size: tuple[int, int]
    frame_count: int | None
    live: bool = False

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError
