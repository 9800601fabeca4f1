"""Which frames go through the network: every K-th (``every``), or when the video asks for it (``auto``).

Between keyframes the ``FrameProcessor`` carries the segments and objects by the optical flow
(``trackers.carry``). The model's thread asks ``due()`` before each frame; the tracking thread
tells ``observe()`` what it saw. With ``auto`` (its numbers in ``AutoParams``), the next frame is
a keyframe when

- the flow failed to explain this one where it matters (``FrameCues.residual``, the grey levels
  the last frame moved by the flow is off this one): over a prompted object's carried mask *or*
  the ring around it (a mask that slid off a fast object lies on background the flow explains
  well, while the object it left, in the ring, is what the flow fails on), or over the whole
  frame without objects; that is fast or deforming motion, where carrying by the flow drifts;
- a prompted object is not confirmed: on a keyframe, any state but ``SEEN`` (carried by the flow,
  searched for, on trial); between keyframes, searched for or on trial: the next frames are
  keyframes until the segments confirm it;
- at least every ``every`` frames, and every ``fast_every`` frames while an object moves fast
  for its size (its mean motion per frame a large share of its width).

The model's thread decides a frame or two ahead of tracking; a keyframe asked for after it passed
the next frame by is run on the tracking thread for that frame (``claim``, the runner's
``_Network.late``), so it lands on the very next frame, as it would in a loop without threads.
Every rule but the longest interval is the tracking thread's (the fast rule counts the frames it
saw since its last keyframe), and the interval counts from the last keyframe's index, claimed
ones too: the threaded run sends the frames an in-order loop would.

Example:
    >>> keys = Keyframes(every=3)
    >>> [keys.due() for _ in range(7)]
    [True, False, False, True, False, False, True]
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from fastsam_track.errors import UsageError
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.types import OBJECT_STATE, PROPAGATED, ObjectState

__all__ = ["AUTO_EVERY", "RESIDUAL", "AutoParams", "Keyframes"]

AUTO_EVERY = 4  # auto's longest interval when none is given
RESIDUAL = 14.0  # auto: grey levels of the flow's residual that call for a keyframe


@dataclass(frozen=True)
class AutoParams:
    """The numbers of the ``auto`` policy (see the module).

    Attributes:
        residual: mean grey levels (0-255) of the flow's residual, over an object's mask or its
            ring, that call for a keyframe.
        ring: width of the ring read around a carried mask, as a share of the object's size
            (the square root of its area, in cells); at least one cell.
        fast: an object's mean motion per frame, as a share of its size, above which it moves
            fast: the interval shortens to ``fast_every``.
        fast_every: the longest interval in frames while an object moves fast.

    On the tuning half of the DAVIS training sequences (in-order replay, ``benchmarks/keyframes.py``'s
    ``follow``), ``fast`` 0.08 kept 0.990 of every frame's J with 52% keyframes (0.15: 0.974, 49%;
    without the rule and the ring, as before: 0.976, 48%); a longest interval of 3 instead did not help.
    """

    residual: float = RESIDUAL
    ring: float = 0.5
    fast: float = 0.08
    fast_every: int = 2


class Keyframes:
    """The keyframe policy of one source.

    ``Keyframes.from_config(config.keyframe_every, config.keyframe)`` makes the one a run's settings ask for.

    Args:
        every: the longest interval between keyframes, in frames (1: every frame is one).
        auto: also a keyframe when the flow fails or an object went unconfirmed (see the module).
        residual: with ``auto``, the mean grey levels (0-255) of a flow's residual that call for a
            keyframe (``AutoParams.residual``; kept as an argument for existing callers).
        params: the rest of ``auto``'s numbers.
    """

    def __init__(
        self, every: int = 1, auto: bool = False, residual: float = RESIDUAL, params: AutoParams | None = None
    ):
        if every < 1:
            raise UsageError(f"keyframes come every 1 or more frames, got {every}")
        self.every, self.auto = every, auto
        self.params = params if params is not None else AutoParams(residual=residual)
        self._next = 0  # the frame ``due`` decides when given no index
        self._last = -every  # the last keyframe's index (the first frame is one)
        self._carried = 0  # frames the tracking thread saw since its last keyframe
        self._wanted = threading.Event()
        self._wanted_for: int | None = None  # the frame a keyframe was asked for (None: the next one decided)
        self.count = 0  # keyframes so far

    @classmethod
    def from_config(cls, every: int | None, mode: str) -> Keyframes | None:
        """The policy of ``keyframe_every`` and ``keyframe`` (``every``/``auto``); None: every frame a keyframe."""
        auto = mode == "auto"
        interval = every if every is not None else (AUTO_EVERY if auto else 1)
        return cls(interval, auto) if interval > 1 else None

    def due(self, index: int | None = None) -> bool:
        """Whether frame ``index`` (None: the one after the last asked about) goes through the network (the
        model's thread, once per frame, in order). A keyframe ``observe`` asked for an earlier frame, one the
        model's thread has passed by, is left to ``claim`` on that frame: it lands where it was asked for, not a
        frame or two later."""
        index = self._next if index is None else index
        self._next = index + 1
        wanted = self._wanted.is_set()
        passed = wanted and self._wanted_for is not None and index > self._wanted_for
        if index - self._last >= self.every or (wanted and not passed):
            self._keyed(index)
            return True
        return False

    def claim(self, index: int) -> bool:
        """Whether frame ``index``, which the model's thread passed by, should go through the network after all,
        because ``observe`` asked for a keyframe on it since (the tracking thread, on such a frame; a yes counts
        as the keyframe ``due`` would have given, and the interval starts again from it)."""
        if not self._wanted.is_set() or self._wanted_for not in (None, index):
            return False  # nothing asked for, or asked for a frame already served
        self._keyed(index)
        return True

    def _keyed(self, index: int) -> None:
        """Frame ``index`` is a keyframe: the interval starts again, a keyframe asked for is served."""
        self._last = max(self._last, index)
        self._wanted.clear()
        self.count += 1

    def observe(
        self, keyframe: bool, cues: FrameCues | None, objects: sv.Detections | None, index: int | None = None
    ) -> None:
        """What the tracking thread saw on a frame: with ``auto``, whether to ask for a keyframe on the next.

        Args:
            keyframe: the frame went through the network.
            cues: its flow and residual (None on the first frame, or without trackers).
            objects: the prompted objects on it (``OBJECT_STATE``, or ``PROPAGATED``: carried by the
                flow, not confirmed).
            index: the frame's index: a keyframe asked for is frame ``index + 1``'s (None: the next decided).
        """
        self._carried = 0 if keyframe else self._carried + 1
        if index is not None and self._wanted_for is not None and self._wanted_for <= index:
            self._wanted.clear()  # asked for this frame or an earlier one: served, by ``due`` or ``claim``
        if not self.auto:
            return
        p = self.params
        masks = np.asarray(objects.mask) if objects is not None and objects.mask is not None else np.zeros((0, 1, 1))
        masks = masks[masks.reshape(len(masks), -1).any(1)] if len(masks) else masks
        flow, residual = (cues.flow, cues.residual) if cues is not None else (None, None)
        # Cheapest first: an unconfirmed object needs no look at the flow.
        if (
            _unconfirmed(keyframe, objects)
            or (flow is not None and self._carried + 1 >= p.fast_every and _fastest(flow, masks) > p.fast)
            or (residual is not None and _failed(residual, masks, p.ring) > p.residual)
        ):
            self.ask(index)

    def ask(self, index: int | None = None) -> None:
        """Ask for a keyframe on the frame after ``index`` (None: the next frame the model's thread decides)."""
        self._wanted_for = None if index is None else index + 1
        self._wanted.set()


def _unconfirmed(keyframe: bool, objects: sv.Detections | None) -> bool:
    """Whether a prompted object lacks the segments' confirmation: on a keyframe any state but ``SEEN``;
    between keyframes (where every followed object is at least ``CARRIED``) searched for or on trial."""
    if objects is None or not len(objects):
        return False
    if OBJECT_STATE in objects.data:
        states = np.asarray(objects.data[OBJECT_STATE])
        return bool(np.any(states != ObjectState.SEEN)) if keyframe else bool(np.any(states > ObjectState.CARRIED))
    return keyframe and PROPAGATED in objects.data and bool(np.any(objects.data[PROPAGATED]))


def _size(mask: np.ndarray) -> float:
    """An object's size in cells: the square root of its (h, w) mask's area."""
    return float(np.sqrt(mask.sum()))


def _fastest(flow: np.ndarray, masks: np.ndarray) -> float:
    """The largest mean motion (cells per frame) over an object's mask, as a share of its size.

    Args:
        flow: (h, w, 2) float32 backward flow in cells.
        masks: (K, h, w) bool non-empty masks.
    """
    speeds = np.linalg.norm(flow, axis=2)
    return max((float(speeds[m].mean()) / _size(m) for m in masks), default=0.0)


def _failed(residual: np.ndarray, masks: np.ndarray, ring: float) -> float:
    """The flow's worst mean residual (h, w) over a prompted object's mask or the ring around it, or
    over the frame without objects.

    Args:
        residual: (h, w) float32 grey levels.
        masks: (K, h, w) bool non-empty masks.
        ring: the ring's width as a share of each object's size (at least one cell).
    """
    worst = [float(residual.mean())] if not len(masks) else []
    for mask in masks:
        width = max(1, round(ring * _size(mask)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
        around = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask
        worst.append(float(residual[mask].mean()))
        if around.any():
            worst.append(float(residual[around].mean()))
    return max(worst)
