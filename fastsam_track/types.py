"""The records every stage shares: frames, prompts, track states, the stop signal and the column names.

They live here, outside ``pipeline/`` and ``trackers/``, so that both can use them
without importing each other.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import supervision as sv

from fastsam_track.errors import PromptError

__all__ = [
    "COLOR",
    "CUT",
    "LOGITS",
    "OBJECT_STATE",
    "PROPAGATED",
    "SEGMENTS",
    "TRACK_STATE",
    "BoxPrompt",
    "Frame",
    "MaskPrompt",
    "ObjectState",
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
# (N, h, w) uint8 mask logits quantized by ``masks.quantize_logits``, 128 or more inside: the segmenter's,
# and the prompted objects' (made from their segments'); absent from a replay, whose masks are binary
LOGITS = "logits"
# (N, 4) float32 frame pixels: each segment's logits are cut to the box ``xyxy + cut`` (the segmenter); 0 but where
# FastSAM snapped ``xyxy`` to the border. An offset, so that the cut moves with a box carried by the flow.
CUT = "cut"
TRACK_STATE = "track_state"  # (N,) TrackState of each segment's track (the segment tracker)
PROPAGATED = "propagated"  # (K,) bool: the object's mask was carried by motion, no segment confirmed it
SEGMENTS = "segments"  # (K, N) bool: which of the frame's N segments make up each of the K objects
OBJECT_STATE = "object_state"  # (K,) int8 ObjectState of each prompted object (the object tracker)


class StopRun(Exception):
    """Raised by a sink or a frame callback to end the run normally (the user closed the window or pressed q)."""


class TrackState(IntEnum):
    """Where a track is in its life."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2


class ObjectState(IntEnum):
    """Where a prompted object is in its life, as the object tracker reports it each frame.

    An object with a mask on the frame is one of the first four; ``LOST`` objects have no mask
    and are listed in ``SegmentedFrame.lost``.
    """

    SEEN = 0  # this frame's segments confirmed it
    CARRIED = 1  # its mask was carried by the optical flow (between keyframes, or missed by the segmenter)
    SEARCHING = 2  # the flow lost it: looked for close by, coasting on its own velocity
    TRIAL = 3  # taken back after it was lost: it must go on moving as it did for a few frames
    LOST = 4  # not in view: searched for, no mask

    @property
    def label(self) -> str:
        """The state's lowercase name, as exports, ``--stats`` and the page show it."""
        return self.name.lower()


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
            ``data["logits"]`` (``LOGITS``, from the model, not from a replay) holds the logits
            the masks were thresholded from, and ``data["cut"]`` (``CUT``) the boxes they are
            cut to (offsets from ``xyxy``); ``fastsam_track.masks`` upsamples them (or the masks) to
            full-resolution pixels where needed.
        objects: the prompted objects seen on this frame, one row each (``tracker_id`` the
            object id, ``mask`` (K, h, w) bool at mask resolution, ``data["logits"]`` when the
            segments have them, ``data["object_state"]`` (``OBJECT_STATE``) (K,) int8 ``ObjectState``),
            or None without prompts.
        edges: (H, W) uint8 edge map of the segments' mask probabilities (255 strongest), or
            None when edges were not asked for.
        lost: ids of the prompted objects the tracker still searches for but that have no mask on
            this frame (``ObjectState.LOST``), ascending.
    """

    frame: Frame
    segments: sv.Detections
    objects: sv.Detections | None = None
    edges: np.ndarray | None = None
    lost: tuple[int, ...] = ()

    @property
    def mask_shape(self) -> tuple[int, int]:
        """(h, w) of the masks: the resolution at which segments are compared and stored."""
        mask = self.segments.mask
        assert mask is not None, "segments always carry masks"
        return mask.shape[1], mask.shape[2]


# Prompt records convert what they are given (lists, tuples, numpy integers) into the arrays the
# tracker reads and refuse what would silently select nothing. They are built once per prompt, at a
# boundary (a file, the command line, a click), so the checks cost nothing per frame; ``np.asarray``
# keeps an array that is already right without copying it.


def _describe(value: object) -> str:
    """A one-line, short description of a refused value."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return f"{type(value).__name__} {reprlib.repr(value)}".replace("\n", " ")


def _whole(record: str, name: str, value: object, minimum: int, expected: str) -> int:
    """``value`` as an int >= ``minimum``: Python and numpy integers, never a bool."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < minimum:
        raise PromptError(f"{record} {name} must be {expected}, got {_describe(value)}")
    return int(value)


def _numbers(record: str, name: str, value: object, expected: str) -> np.ndarray:
    """``value`` as a float64 array (no copy when it is one): ints and floats only, no text, no bools."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as error:  # ragged lists, an integer past every dtype
        raise PromptError(f"{record} {name} must be {expected}, got {_describe(value)}") from error
    if array.dtype.kind not in "iuf":
        raise PromptError(f"{record} {name} must be {expected} (numbers), got {_describe(value)}")
    return array.astype(np.float64, copy=False)


def _check_record(prompt: PointPrompt | BoxPrompt | TextPrompt | MaskPrompt | RemovePrompt) -> None:
    """Check and convert the fields every prompt has: frame, object_id, source."""
    record = type(prompt).__name__
    # -1: an interactive prompt waiting for the frame it will be taken on (``PromptInbox``)
    frame = _whole(record, "frame", prompt.frame, -1, "an int >= 0 (or -1: not yet on a frame)")
    object.__setattr__(prompt, "frame", frame)
    object.__setattr__(prompt, "object_id", _whole(record, "object_id", prompt.object_id, 1, "an int >= 1"))
    source = prompt.source
    if source is None or (isinstance(source, str) and source.strip()):
        return
    if isinstance(source, int | np.integer) and not isinstance(source, bool | np.bool_) and source >= 0:
        object.__setattr__(prompt, "source", str(int(source)))
        return
    raise PromptError(f"{record} source must be a source name or number, or None, got {_describe(source)}")


@dataclass(frozen=True)
class PointPrompt:
    """Points that select one object on one frame, as FastSAM's point prompt.

    Lists and tuples are converted to arrays on construction and every field is checked: a
    wrong shape or value raises ``PromptError`` rather than selecting nothing later.

    Attributes:
        frame: the frame index the points were given on (an int >= 0; -1 for a prompt not yet
            on a frame, as an interactive click waiting for the next frame).
        object_id: the object they select (an int >= 1, the value in exported masks).
        points: (K, 2) float64 (x, y) in frame pixels, K >= 1, finite; one ``[x, y]`` pair is
            taken as one point.
        labels: (K,) int, 1 for a foreground point, 0 for a background point, at least one 1;
            None (the default) makes every point foreground.
        source: which source of a several-source run the points are for: a source's name, or
            its number (from 0) as text; None for the only source. Keyword only.

    Example:
        >>> prompt = PointPrompt(0, 7, [40, 40])
        >>> prompt.points.dtype, prompt.points.tolist(), prompt.labels.tolist()
        (dtype('float64'), [[40.0, 40.0]], [1])
        >>> PointPrompt(0, 7, [40, 40, 50])
        Traceback (most recent call last):
        ...
        fastsam_track.errors.PromptError: PointPrompt points must be (K, 2) x, y pairs, got shape (3,)
    """

    frame: int
    object_id: int
    points: np.ndarray
    labels: np.ndarray = None  # type: ignore[assignment]  # None on construction only: all foreground
    source: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_record(self)
        points = _numbers("PointPrompt", "points", self.points, "(K, 2) x, y pairs")
        if points.shape == (2,):
            points = points.reshape(1, 2)
        if points.ndim != 2 or points.shape[1] != 2:
            raise PromptError(f"PointPrompt points must be (K, 2) x, y pairs, got shape {points.shape}")
        if len(points) == 0:
            raise PromptError("PointPrompt points must hold at least one x, y pair, got shape (0, 2)")
        if not np.isfinite(points).all():
            raise PromptError(f"PointPrompt points must be finite, got {points.tolist()}")
        object.__setattr__(self, "points", points)
        if self.labels is None:
            object.__setattr__(self, "labels", np.ones(len(points), int))
            return
        try:
            labels = np.asarray(self.labels)
        except (TypeError, ValueError, OverflowError) as error:
            raise PromptError(f"PointPrompt labels must be (K,) 0 or 1, got {_describe(self.labels)}") from error
        if labels.shape != (len(points),):
            raise PromptError(
                f"PointPrompt labels must be one 0 or 1 per point, shape ({len(points)},), got shape {labels.shape}"
            )
        if labels.dtype.kind not in "biuf" or not ((labels == 0) | (labels == 1)).all():
            raise PromptError(f"PointPrompt labels must be 0 (background) or 1 (foreground), got {labels.tolist()}")
        if not (labels == 1).any():
            raise PromptError(f"PointPrompt labels must hold at least one 1 (foreground), got {labels.tolist()}")
        object.__setattr__(self, "labels", labels.astype(int, copy=False))


@dataclass(frozen=True)
class BoxPrompt:
    """A box that selects one object on one frame: the segment that best fills it.

    A list or tuple is converted to an array on construction; a wrong shape, a non-finite
    value or an empty box raises ``PromptError``.

    Attributes:
        frame: the frame index (an int >= 0; -1 for a prompt not yet on a frame).
        object_id: the object it selects (an int >= 1).
        box: (4,) float64 xyxy in frame pixels, finite, x2 > x1 and y2 > y1.
        source: which source of a several-source run the box is for: a source's name, or its
            number (from 0) as text; None for the only source. Keyword only.

    Example:
        >>> BoxPrompt(0, 1, [10, 20, 110, 220]).box.tolist()
        [10.0, 20.0, 110.0, 220.0]
    """

    frame: int
    object_id: int
    box: np.ndarray
    source: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_record(self)
        box = _numbers("BoxPrompt", "box", self.box, "(4,) x1, y1, x2, y2")
        if box.shape != (4,):
            raise PromptError(f"BoxPrompt box must be (4,) x1, y1, x2, y2, got shape {box.shape}")
        if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            raise PromptError(
                f"BoxPrompt box must be finite x1, y1, x2, y2 with x2 > x1 and y2 > y1, got {box.tolist()}"
            )
        object.__setattr__(self, "box", box)


@dataclass(frozen=True)
class RemovePrompt:
    """Stop tracking an object from this frame on.

    Attributes:
        frame: the frame index (an int >= 0; -1 for a prompt not yet on a frame).
        object_id: the object to stop tracking (an int >= 1).
        source: which source of a several-source run: a source's name, or its number (from 0)
            as text; None for the only source or, in a several-source run, every source.
            Keyword only.
    """

    frame: int
    object_id: int
    source: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_record(self)


@dataclass(frozen=True)
class TextPrompt:
    """Words that select one object on one frame: the segment whose CLIP embedding matches best.

    Attributes:
        frame: the frame index (an int >= 0; -1 for a prompt not yet on a frame).
        object_id: the object it selects (an int >= 1).
        text: what to look for, e.g. "a red cup"; stripped of surrounding spaces, never empty.
        source: which source of a several-source run: a source's name, or its number (from 0)
            as text; None for the only source or, in a several-source run, every source (each
            looks for the words on its own). Keyword only.
    """

    frame: int
    object_id: int
    text: str
    source: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_record(self)
        if not isinstance(self.text, str) or not self.text.strip():
            raise PromptError(f"TextPrompt text must be a non-empty string, got {_describe(self.text)}")
        object.__setattr__(self, "text", self.text.strip())


@dataclass(frozen=True)
class MaskPrompt:
    """A mask that selects one object on one frame (what a text prompt resolves to).

    Attributes:
        frame: the frame index (an int >= 0; -1 for a prompt not yet on a frame).
        object_id: the object it selects (an int >= 1).
        mask: (h, w) bool at mask resolution (see ``SegmentedFrame``); numbers are converted,
            non-zero is True.
        source: which source of a several-source run the mask is for: a source's name, or its
            number (from 0) as text; None for the only source. Keyword only.
    """

    frame: int
    object_id: int
    mask: np.ndarray
    source: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_record(self)
        try:
            mask = np.asarray(self.mask)
        except (TypeError, ValueError, OverflowError) as error:
            raise PromptError(f"MaskPrompt mask must be (h, w) bool, got {_describe(self.mask)}") from error
        if mask.ndim != 2 or mask.dtype.kind not in "biuf":
            raise PromptError(f"MaskPrompt mask must be (h, w) bool, got {_describe(mask)}")
        object.__setattr__(self, "mask", mask.astype(bool, copy=False))


Prompt = PointPrompt | BoxPrompt | TextPrompt | MaskPrompt | RemovePrompt
