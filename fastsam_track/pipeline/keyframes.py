"""Which frames go through the network: every K-th (``every``), or when the video asks for it (``auto``).

Between keyframes the ``FrameProcessor`` carries the segments and objects by the optical flow
(``trackers.carry``). The model's thread asks ``due()`` before each frame; the tracking thread
tells ``observe()`` what it saw. With ``auto``, the next frame is a keyframe when the flow
failed to explain this one where it matters (``FrameCues.residual``, the grey levels the last
frame moved by the flow is off this one: a prompted object's mean, or the whole frame's
without one, above ``residual``): that is fast or deforming motion, where carrying by the
flow drifts; when the last keyframe's segments left a prompted object unconfirmed (carried by
the flow, no segment matched it: the next frames are keyframes until one does); and at least
every ``every`` frames. The model's thread runs a frame or two ahead of tracking, so a
keyframe asked for lands one or two frames later.

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

__all__ = ["AUTO_EVERY", "RESIDUAL", "Keyframes"]

AUTO_EVERY = 4  # auto's longest interval when none is given
RESIDUAL = 14.0  # auto: grey levels of the flow's residual that call for a keyframe


class Keyframes:
    """The keyframe policy of one source.

    ``Keyframes.from_config(config.keyframe_every, config.keyframe)`` makes the one a run's settings ask for.

    Args:
        every: the longest interval between keyframes, in frames (1: every frame is one).
        auto: also a keyframe when the flow fails or an object went unconfirmed (see the module).
        residual: with ``auto``, the mean grey levels (0-255) of a flow's residual that call for a keyframe.
    """

    def __init__(self, every: int = 1, auto: bool = False, residual: float = RESIDUAL):
        if every < 1:
            raise UsageError(f"keyframes come every 1 or more frames, got {every}")
        self.every, self.auto, self.residual = every, auto, residual
        self._since = every  # the first frame is a keyframe
        self._wanted = threading.Event()
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
            self._since = 0
            self._wanted.clear()
            self.count += 1
            return True
        return False

    def observe(self, keyframe: bool, cues: FrameCues | None, objects: sv.Detections | None) -> None:
        """What the tracking thread saw on a frame: with ``auto``, whether to ask for a keyframe now.

        Args:
            keyframe: the frame went through the network.
            cues: its flow and residual (None on the first frame, or without trackers).
            objects: the prompted objects on it (``PROPAGATED``: carried by the flow, not confirmed).
        """
        if not self.auto:
            return
        unconfirmed = objects is not None and PROPAGATED in objects.data and bool(np.any(objects.data[PROPAGATED]))
        if keyframe and unconfirmed:
            self._wanted.set()
        elif cues is not None and cues.residual is not None and _failed(cues.residual, objects) > self.residual:
            self._wanted.set()


def _failed(residual: np.ndarray, objects: sv.Detections | None) -> float:
    """The flow's mean residual (h, w) over the prompted object it explains worst, or over the frame without one."""
    masks = [m for m in np.asarray(objects.mask)] if objects is not None and objects.mask is not None else []
    means = [float(residual[m].mean()) for m in masks if m.any()]
    return max(means) if means else float(residual.mean())
