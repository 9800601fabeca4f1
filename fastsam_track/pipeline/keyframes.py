"""Which frames go through the network: every K-th (``every``), or when the video asks for it (``auto``).

Between keyframes the ``FrameProcessor`` carries the segments and objects by the optical flow
(``trackers.carry``). The model's thread asks ``due()`` before each frame; the tracking thread
tells ``observe()`` what it saw. With ``auto``, a frame is a keyframe when the scene has moved
more than ``motion`` mask cells since the last keyframe (the mean flow magnitude, summed over the
frames since), when the last keyframe's segments left a prompted object unconfirmed (carried by
the flow, no segment matched it: the next frames are keyframes until one does), or at least
every ``every`` frames. The model's thread runs a frame or two ahead of tracking, so a keyframe
asked for lands one or two frames later.

Example:
    >>> keys = Keyframes(every=3)
    >>> [keys.due() for _ in range(7)]
    [True, False, False, True, False, False, True]
"""

from __future__ import annotations

import threading

import numpy as np
import supervision as sv

from fastsam_track.errors import UsageError
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.types import PROPAGATED

__all__ = ["AUTO_EVERY", "Keyframes"]

AUTO_EVERY = 4  # auto's longest interval when none is given


class Keyframes:
    """The keyframe policy of one source.

    ``Keyframes.from_config(config)`` reads ``keyframe_every`` and ``keyframe``.

    Args:
        every: the longest interval between keyframes, in frames (1: every frame is one).
        auto: also a keyframe when the scene moved or an object went unconfirmed (see the module).
        motion: with ``auto``, mask cells of mean motion since the last keyframe that call for one.
    """

    def __init__(self, every: int = 1, auto: bool = False, motion: float = 2.0):
        if every < 1:
            raise UsageError(f"keyframes come every 1 or more frames, got {every}")
        self.every, self.auto, self.motion = every, auto, motion
        self._since = every  # the first frame is a keyframe
        self._wanted = threading.Event()
        self._moved = 0.0
        self.count = 0  # keyframes so far

    @classmethod
    def from_config(cls, every: int | None, mode: str) -> Keyframes | None:
        """The policy of ``keyframe_every`` and ``keyframe`` (``every``/``auto``); None: every frame a keyframe."""
        auto = mode == "auto"
        interval = every if every is not None else (AUTO_EVERY if auto else 1)
        return cls(interval, auto) if interval > 1 else None

    def due(self) -> bool:
        """Whether the next frame goes through the network (the model's thread, once per frame)."""
        self._since += 1
        if self._since >= self.every or self._wanted.is_set():
            self._since, self._moved = 0, 0.0
            self._wanted.clear()
            self.count += 1
            return True
        return False

    def observe(self, keyframe: bool, cues: FrameCues | None, objects: sv.Detections | None) -> None:
        """What the tracking thread saw on a frame: with ``auto``, whether to ask for a keyframe now.

        Args:
            keyframe: the frame went through the network.
            cues: its flow (None on the first frame, or without trackers).
            objects: the prompted objects on it (``PROPAGATED``: carried by the flow, not confirmed).
        """
        if not self.auto:
            return
        if keyframe:
            self._moved = 0.0
            unconfirmed = objects is not None and PROPAGATED in objects.data and bool(np.any(objects.data[PROPAGATED]))
            if unconfirmed:
                self._wanted.set()
            return
        if cues is not None and cues.flow is not None:
            self._moved += float(np.mean(np.hypot(cues.flow[..., 0], cues.flow[..., 1])))
            if self._moved > self.motion:
                self._wanted.set()
