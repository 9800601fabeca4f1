"""The records every stage shares: frames, prompts, track states, the stop signal and the column names.

They live here, outside ``pipeline/`` and ``trackers/``, so that both can use them
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import supervision as sv

__all__ = [
    "COLOR",
    "PROBABILITY",
    "PROPAGATED",
    "SEGMENTS",
    "TRACK_STATE",
    "BoxPrompt",
    "Frame",
    "MaskPrompt",
    "PointPrompt",
    "Prompt",
    "RemovePrompt",
    "SegmentedFrame",
    "StopRun",
    "TextPrompt",
    "TrackState",
]

# Columns of ``Detections.data`` that stages pass on to each other.
COLOR = "color"  # (N, 3) float32 mean BGR colour of each segment (the segmenter, a replay)
PROBABILITY = "probability"  # (N, h, w) float16 mask probabilities (the segmenter, when edges are asked for)
TRACK_STATE = "track_state"  # (N,) TrackState of each segment's track (the segment tracker)
PROPAGATED = "propagated"  # (K,) bool: the object's mask was carried by motion, no segment confirmed it
SEGMENTS = "segments"  # (K,) object of int arrays: the segments each object is made of


class StopRun(Exception):
    """Raised by a sink or a frame callback to end the run normally (the user closed the window or pressed q)."""


class TrackState(IntEnum):
    """Where a track is in its life."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2


@dataclass(frozen=True)
class Frame:
    """One decoded picture of a source.

    Attributes:
        index: position in the source, counted from 0 (frames skipped by a stride keep their number).
        image: (H, W, 3) uint8 BGR pixels.
        timestamp: seconds since the start of the source.
    """

    index: int
    image: np.ndarray
    timestamp: float

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the image."""
        return self.image.shape[0], self.image.shape[1]


@dataclass(frozen=True)
class SegmentedFrame:
    """A frame with its segments, one row per segment.

    Attributes:
        frame: the source frame.
        segments: ``supervision.Detections`` with N rows: ``xyxy`` (N, 4) float32 in frame
            pixels, ``confidence`` (N,) float32, ``class_id`` (N,) int (always 0: the model is
            class-agnostic), ``tracker_id`` (N,) int or None before tracking, and ``mask``
            (N, h, w) bool at mask resolution: the model's prototype grid with the letterbox
            padding removed, so it covers exactly the frame at about 1/8 of a 640-pixel input.
            ``fastsam_track.masks`` turns it into full-resolution pixels where needed.
        objects: the prompted objects seen on this frame, one row each (``tracker_id`` the
            object id, ``mask`` (K, h, w) bool at mask resolution), or None without prompts.
        edges: (H, W) uint8 edge map of the segments' mask probabilities (255 strongest), or
            None when edges were not asked for.
    """

    frame: Frame
    segments: sv.Detections
    objects: sv.Detections | None = None
    edges: np.ndarray | None = None

    @property
    def mask_shape(self) -> tuple[int, int]:
        """(h, w) of the masks: the resolution at which segments are compared and stored."""
        mask = self.segments.mask
        assert mask is not None, "segments always carry masks"
        return mask.shape[1], mask.shape[2]


@dataclass(frozen=True)
class PointPrompt:
    """Points that select one object on one frame, as FastSAM's point prompt.

    Attributes:
        frame: the frame index the points were given on.
        object_id: the object they select (a positive int, the value in exported masks).
        points: (K, 2) float (x, y) in frame pixels.
        labels: (K,) int, 1 for a foreground point, 0 for a background point.
    """

    frame: int
    object_id: int
    points: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class BoxPrompt:
    """A box that selects one object on one frame: the segment that best fills it.

    Attributes:
        frame: the frame index.
        object_id: the object it selects.
        box: (4,) float xyxy in frame pixels.
    """

    frame: int
    object_id: int
    box: np.ndarray


@dataclass(frozen=True)
class RemovePrompt:
    """Stop tracking an object from this frame on."""

    frame: int
    object_id: int


@dataclass(frozen=True)
class TextPrompt:
    """Words that select one object on one frame: the segment whose CLIP embedding matches best.

    Attributes:
        frame: the frame index.
        object_id: the object it selects.
        text: what to look for, e.g. "a red cup".
    """

    frame: int
    object_id: int
    text: str


@dataclass(frozen=True)
class MaskPrompt:
    """A mask that selects one object on one frame (what a text prompt resolves to).

    Attributes:
        frame: the frame index.
        object_id: the object it selects.
        mask: (h, w) bool at mask resolution (see ``SegmentedFrame``).
    """

    frame: int
    object_id: int
    mask: np.ndarray


Prompt = PointPrompt | BoxPrompt | TextPrompt | MaskPrompt | RemovePrompt
