"""Point prompts that grow to the object: the segments that move with the clicked part join it.

A point on a frame where the segmenter split the object selects only the clicked part. The
segments touching that part (not much larger than it) are candidates; each is carried by the
flow beside the object until the object has gone ``grow_travel`` cells across the scene (the
motion is then large enough to tell). A candidate whose motion stayed with the object's, and
whose colours stay its own (the flow carried it, not slid off it), is a part of the object and
joins it (and what touches the grown object is watched in turn); one that moves otherwise
(the background, a neighbour going its own way) does not.
An object that does not go that far within ``grow_frames`` frames cannot be told from what
touches it by motion: it keeps its clicked part.

Example:
    >>> grid = np.zeros((2, 6, 8), bool); grid[0, 2:4, 1:3] = True; grid[1, 2:4, 3:5] = True
    >>> growth = Growth(ObjectParams())
    >>> growth.start(1, grid[0], grid, None)
    >>> sorted(growth.candidates[1].masks.sum(axis=(1, 2)).tolist())
    [4]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastsam_track.trackers.flow import COLOR_BINS, FrameCues, warp
from fastsam_track.trackers.motion import grow
from fastsam_track.trackers.params import ObjectParams

__all__ = ["Growth"]


@dataclass
class _Candidates:
    """The segments touching one point-prompted object, followed while its motion is judged.

    Attributes:
        masks: (C, h, w) bool each candidate, carried to the current frame.
        colors: (C, COLOR_BINS) float each one's colour histogram on the prompt frame (None: no colours).
        apart: (C,) float summed length of its motion less the object's, cells.
        across: summed length of the object's motion less the scene's, cells (how far it went).
        frames: frames judged so far.
        left: frames the object may still grow (``grow_frames`` from its prompt, over every round).
        part: area of the clicked part, cells: no candidate may be larger than ``grow_size`` times it.
    """

    masks: np.ndarray
    colors: np.ndarray | None
    apart: np.ndarray
    across: float = 0.0
    frames: int = 0
    left: int = 0
    part: float = 0.0


class Growth:
    """The point-prompted objects still growing, and what may join each.

    Args:
        params: ``grow_frames``, ``grow_size``, ``grow_travel``, ``grow_apart``, ``grow_alike`` and ``part_share``.
    """

    def __init__(self, params: ObjectParams):
        self.params = params
        self.candidates: dict[int, _Candidates] = {}

    def start(
        self,
        object_id: int,
        mask: np.ndarray,
        masks: np.ndarray,
        cues: FrameCues | None,
        left: int | None = None,
        part: float | None = None,
    ) -> None:
        """Note the segments that touch a point-prompted object's (h, w) ``mask`` among the frame's (N, h, w);
        ``left`` frames it may still grow and ``part`` the clicked part's area (None: a new prompt's)."""
        p = self.params
        part = float(mask.sum()) if part is None else part
        area = masks.sum(axis=(1, 2))
        inside = (masks & mask[None]).sum(axis=(1, 2))
        touching = (masks & grow(mask, 1)[None]).any(axis=(1, 2))
        chosen = touching & (inside < p.part_share * area) & (area <= p.grow_size * part) & (area > 0)
        if not chosen.any():
            self.candidates.pop(object_id, None)
            return
        found = masks[chosen] & ~mask[None]
        colors = None if cues is None else np.array([_histogram(m, cues.colors) for m in found])
        left = self.params.grow_frames if left is None else left
        self.candidates[object_id] = _Candidates(found, colors, np.zeros(len(found)), left=left, part=part)

    def drop(self, object_id: int) -> None:
        """Forget an object (removed, or prompted again)."""
        self.candidates.pop(object_id, None)

    def step(self, masks: dict[int, np.ndarray], segments: np.ndarray, cues: FrameCues | None) -> dict[int, np.ndarray]:
        """Carry the candidates into this frame and judge their motion against the objects' (h, w) ``masks``;
        an object that grew goes on growing from its new mask, among the frame's (N, h, w) ``segments``.

        Returns:
            {object id: its (h, w) bool mask with the candidates that moved with it} for each object whose
            candidates are judged on this frame and that some candidate joins.
        """
        if cues is None or cues.flow is None:
            return {}
        p, flow, grown = self.params, cues.flow, {}
        for object_id, cand in list(self.candidates.items()):
            cand.masks, cand.frames, cand.left = warp(cand.masks, flow), cand.frames + 1, cand.left - 1
            mask = masks.get(object_id)
            if mask is not None and mask.any():  # confirmed on this frame: its motion is its own
                moves = np.median(flow[mask], axis=0)
                cand.across += float(np.hypot(*(moves - cues.scene)))
                own = np.array([np.median(flow[m], axis=0) if m.any() else moves + np.inf for m in cand.masks])
                cand.apart += np.hypot(*(own - moves).T)
            if mask is None or cand.across < p.grow_travel:  # too little motion yet to tell what goes with it
                if cand.left <= 0:
                    del self.candidates[object_id]
                continue
            del self.candidates[object_id]
            joins = cand.apart <= p.grow_apart * cand.across
            if cand.colors is not None:
                now = np.array([_histogram(m, cues.colors) for m in cand.masks])
                joins &= np.minimum(now, cand.colors).sum(axis=1) >= p.grow_alike
            if joins.any():
                grown[object_id] = mask | cand.masks[joins].any(axis=0)
                if cand.left > 0:
                    self.start(object_id, grown[object_id], segments, cues, cand.left, cand.part)
        return grown


def _histogram(mask: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(COLOR_BINS,) normalised colour histogram of an (h, w) bool mask."""
    counts = np.bincount(colors[mask], minlength=COLOR_BINS).astype(float)
    return counts / max(counts.sum(), 1.0)
