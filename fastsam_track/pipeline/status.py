"""A source's status as a user reads it: its state, rate, frame age, dropped frames and keyframes.

One record for the single-process page, the cluster's cameras and the fleet's table
(``SourceStatus``), filled from a run's ``RunStats`` (``from_stats``).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

__all__ = ["ENDED", "FrameRate", "SourceStatus"]

ENDED = ("finished", "failed", "stopped")  # states after which no frame comes


@dataclass(frozen=True)
class SourceStatus:
    """What a source is doing.

    Attributes:
        name: the source's name.
        state: ``starting``, ``running``, ``reconnecting`` (a live source lost, trying again),
            ``restarting`` (a cluster's camera whose actor is coming back), ``finished`` (its
            end), ``failed`` or ``stopped``.
        note: why, for ``reconnecting`` and ``failed`` (one line); "" otherwise.
        fps: frames a second over the last few seconds.
        age_ms: median frame age (capture to output) in ms over the recent frames.
        age_p95_ms: 95th percentile of the same.
        dropped: frames a live source gave that were skipped because newer ones came.
        frames: frames processed.
        keyframes: frames that went through the network (the others were carried by the flow).
        frame: the index of the newest frame processed (-1 before the first).
    """

    name: str
    state: str = "starting"
    note: str = ""
    fps: float = 0.0
    age_ms: float = 0.0
    age_p95_ms: float = 0.0
    dropped: int = 0
    frames: int = 0
    keyframes: int = 0
    frame: int = -1

    @property
    def keyframe_share(self) -> float | None:
        """Keyframes per frame processed; None while every frame went through the network (keyframes off).

        Example:
            >>> SourceStatus("cam", frames=10, keyframes=4).keyframe_share
            0.4
            >>> SourceStatus("cam", frames=3, keyframes=3).keyframe_share is None  # every frame a keyframe
            True
        """
        return self.keyframes / self.frames if 0 < self.frames and self.keyframes < self.frames else None

    def as_dict(self) -> dict[str, Any]:
        """The fields, with ``keyframe_share``, as JSON-ready values."""
        return {**dataclasses.asdict(self), "keyframe_share": self.keyframe_share}

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_stats(cls, name: str, state: str, stats: Any, fps: float, note: str = "", frame: int = -1) -> SourceStatus:
        """The status of a run from its ``RunStats`` (None: none yet) and its measured ``fps``."""
        if stats is None:
            return cls(name, state, note, round(fps, 2), frame=frame)
        ages = np.array(stats.ages_ms.copy())  # a copy: the run's writer thread appends meanwhile
        median, p95 = np.percentile(ages, (50, 95)).tolist() if len(ages) else (0.0, 0.0)
        return cls(
            name,
            state,
            note,
            round(fps, 2),
            round(median, 1),
            round(p95, 1),
            stats.dropped,
            stats.frames,
            stats.keyframes,
            frame,
        )


class FrameRate:
    """Frames a second over the last ``window`` seconds, from the times frames arrive.

    Example:
        >>> rate = FrameRate(clock=iter([0.0, 0.5, 1.0, 1.0]).__next__)
        >>> rate.tick(); rate.tick(); rate.tick(); rate.fps()
        2.0
    """

    def __init__(self, window: float = 3.0, clock: Any = time.monotonic):
        self._times: deque[float] = deque(maxlen=256)
        self._window, self._clock = window, clock

    def tick(self) -> None:
        """A frame arrived now."""
        self._times.append(self._clock())

    def fps(self) -> float:
        """The recent rate (0 with fewer than two frames, or none in the window)."""
        now = self._clock()
        recent = [t for t in self._times if t > now - self._window]
        return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
