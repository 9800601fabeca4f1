"""Prompts resolved into objects on one frame's segments, at mask resolution.

Points: masks that contain a foreground point are painted in, masks that contain a
background point painted out, largest first, so the smallest mask under a point decides
its pixels (FastSAM's ``point_prompt``). Boxes: the segments inside the box that look like
its inside rather than its surroundings, or else the mask whose IoU with the box region is
highest (FastSAM's ``box_prompt``). ``PromptResolver`` turns a frame's prompts into the masks
of the objects they start, and waits a few frames for a point prompt that hits no segment.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from fastsam_track.errors import PromptMiss, UsageError
from fastsam_track.trackers.appearance import histograms, likelihood, objectness
from fastsam_track.trackers.association import sparse_rows
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.trackers.growing import Growth
from fastsam_track.trackers.motion import centroid
from fastsam_track.trackers.params import ObjectParams
from fastsam_track.types import BoxPrompt, MaskPrompt, PointPrompt, Prompt, RemovePrompt, TextPrompt

__all__ = [
    "PromptMiss",
    "PromptResolver",
    "PromptWarning",
    "anchor",
    "fill_box",
    "flow_at",
    "select_by_box",
    "select_by_points",
    "share",
    "smooth_mask",
    "to_grid",
]


class PromptWarning(UserWarning):
    """A prompt was skipped (it selected nothing); the run goes on without that object.

    Args:
        object_id: the prompt's object.
        frame: the prompt's frame.
        reason: why it selected nothing.

    Example:
        >>> warning = PromptWarning(4, 0, "no segment to match 'red'")
        >>> str(warning), warning.object_id, warning.reason
        ("object 4 on frame 0: no segment to match 'red'", 4, "no segment to match 'red'")
    """

    def __init__(self, object_id: int, frame: int, reason: str):
        super().__init__(f"object {object_id} on frame {frame}: {reason}")
        self.object_id, self.frame, self.reason = object_id, frame, reason


def to_grid(xy: np.ndarray, frame_shape: tuple[int, int], mask_shape: tuple[int, int]) -> np.ndarray:
    """(K, 2) frame-pixel (x, y) coordinates to (K, 2) float coordinates on the mask grid.

    Example:
        >>> to_grid(np.array([[640.0, 360.0]]), (720, 1280), (90, 160)).tolist()
        [[80.0, 45.0]]
    """
    scale = np.array([mask_shape[1] / frame_shape[1], mask_shape[0] / frame_shape[0]])
    return np.asarray(xy, float).reshape(-1, 2) * scale


def select_by_points(masks: np.ndarray, cells: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The object that foreground and background points select.

    Args:
        masks: (N, h, w) bool segments of the frame.
        cells: (K, 2) float (x, y) point positions on the mask grid.
        labels: (K,) int, 1 foreground, 0 background.

    Returns:
        (h, w) bool mask of the object.

    Raises:
        PromptMiss: no segment holds a foreground point, or background points remove all of it.

    Example:
        >>> masks = np.zeros((3, 4, 4), bool); masks[0, :, :2] = True; masks[1, :, 2:] = True; masks[2] = True
        >>> select_by_points(masks, np.array([[0.0, 0.0], [3.0, 3.0]]), np.array([1, 0])).sum(axis=0).tolist()
        [4, 4, 0, 0]
    """
    h, w = masks.shape[1:]
    xy = np.clip(np.floor(cells).astype(int), 0, [w - 1, h - 1])
    hits = masks[:, xy[:, 1], xy[:, 0]]  # (N, K): segment n holds point k
    foreground = (hits & (labels == 1)).any(1)
    background = (hits & (labels == 0)).any(1)
    chosen = np.flatnonzero(foreground | background)
    if not foreground.any():
        raise PromptMiss("no segment contains a foreground point")
    # Largest first: the smallest chosen mask over a pixel decides it (background wins a tie).
    areas = masks[chosen].sum(axis=(1, 2))
    chosen = chosen[np.argsort(-areas, kind="stable")]
    stack = masks[chosen]
    top = np.argmax(stack * np.arange(1, len(chosen) + 1)[:, None, None], axis=0)
    selected = stack.any(0) & (foreground & ~background)[chosen][top]
    if not selected.any():
        raise PromptMiss("background points remove every segment that holds a foreground point")
    return selected


def select_by_box(masks: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The segment whose mask best fills a box.

    Args:
        masks: (N, h, w) bool segments of the frame.
        box: (4,) float xyxy on the mask grid.

    Returns:
        (h, w) bool mask of the segment with the highest IoU against the box region.

    Raises:
        PromptMiss: no segment overlaps the box.

    Example:
        >>> masks = np.zeros((2, 8, 8), bool); masks[0, :4, :4] = True; masks[1] = True
        >>> select_by_box(masks, np.array([0.0, 0, 4, 4])).sum()
        np.int64(16)
    """
    h, w = masks.shape[1:]
    x1, y1 = np.clip(np.floor(box[:2]).astype(int), 0, [w, h])
    x2, y2 = np.clip(np.ceil(box[2:]).astype(int), 0, [w, h])
    inside = masks[:, y1:y2, x1:x2].sum(axis=(1, 2))
    box_area = max((x2 - x1) * (y2 - y1), 1)
    iou = inside / (box_area + masks.sum(axis=(1, 2)) - inside + 1e-9)
    if len(masks) == 0 or inside.max() == 0:
        raise PromptMiss("no segment overlaps the box")
    return masks[int(np.argmax(iou))].copy()


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.logical_or.reduce([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])


def _erode(mask: np.ndarray) -> np.ndarray:
    return ~_dilate(~mask)


def smooth_mask(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    """Morphological close then open with a 3x3 square, as FastSAM smooths a selected mask.

    Args:
        mask: (h, w) bool.
        iterations: the kernel's reach in cells; 0 returns the mask unchanged.

    Example:
        >>> m = np.zeros((9, 9), bool); m[2:7, 2:7] = True; m[4, 4] = False; m[0, 0] = True
        >>> smooth_mask(m).sum()  # the hole is filled, the speck removed
        np.int64(25)
    """
    out = mask
    for _ in range(iterations):
        out = _dilate(out)
    for _ in range(iterations):
        out = _erode(out)
    for _ in range(iterations):
        out = _erode(out)
    for _ in range(iterations):
        out = _dilate(out)
    return out


@dataclass
class _Pending:
    """A point prompt that hit no segment on its frame, carried by the flow a few more frames."""

    prompt: PointPrompt
    frames_left: int


class PromptResolver:
    """Resolves each frame's prompts into the masks of the objects they start, and waits for point prompts
    that hit no segment (carried by the flow up to ``pending_frames`` frames).

    Args:
        params: the tracker's parameters (``pending_frames``, the box's and the colours').
        smooth: morphological close/open reach (in mask cells) applied to prompted masks.
    """

    def __init__(self, params: ObjectParams, smooth: int = 0):
        self.params, self.smooth = params, smooth
        self._pending: dict[int, _Pending] = {}
        self.growth = Growth(params)

    def reset(self) -> None:
        """Forget every pending prompt and growing point."""
        self._pending.clear()
        self.growth.candidates.clear()

    def grow(self, masks: dict[int, np.ndarray], segments: np.ndarray, cues: FrameCues | None) -> dict[int, np.ndarray]:
        """{object id: (h, w) bool mask} of point-prompted objects grown this frame by the segments that moved
        with them (``growing``), given the objects' confirmed masks and the frame's (N, h, w) segments."""
        return self.growth.step(masks, segments, cues)

    def resolve(
        self, masks: np.ndarray, frame_shape: tuple[int, int], prompts: Sequence[Prompt], cues: FrameCues | None
    ) -> dict[int, np.ndarray | None]:
        """{object id: its (h, w) bool mask (None: removed)} of this frame's prompts and pending point prompts.

        Masks that two prompts share go to the prompt whose anchor is nearer (``share``).

        Warns:
            PromptWarning: a prompt selects nothing, and a point prompt still hits no segment ``pending_frames``
                frames later (the message names the object and frame).
        """
        self._carry_pending(frame_shape, masks.shape[1:], cues)
        new: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # object id: (mask, (2,) (y, x) grid anchor)
        removed: dict[int, None] = {}
        points = {
            p.object_id
            for p in [q.prompt for q in self._pending.values()] + list(prompts)
            if isinstance(p, PointPrompt)
        }
        for prompt in [p.prompt for p in self._pending.values()] + list(prompts):
            if isinstance(prompt, RemovePrompt):
                self._pending.pop(prompt.object_id, None)
                new.pop(prompt.object_id, None)
                removed[prompt.object_id] = None
                self.growth.drop(prompt.object_id)
                continue
            try:
                mask = self._select(prompt, masks, frame_shape, cues)
            except PromptMiss as miss:
                waits = self.params.pending_frames and prompt.object_id not in self._pending
                if isinstance(prompt, PointPrompt) and waits:
                    self._pending[prompt.object_id] = _Pending(prompt, self.params.pending_frames)
                elif prompt.object_id not in self._pending:
                    warnings.warn(PromptWarning(prompt.object_id, prompt.frame, str(miss)), stacklevel=3)
                continue
            self._pending.pop(prompt.object_id, None)
            removed.pop(prompt.object_id, None)
            new[prompt.object_id] = (mask, anchor(prompt, frame_shape, masks.shape[1:]))
        if not new:
            return dict(removed)
        shared = share(np.array([m for m, _ in new.values()]), np.array([a for _, a in new.values()]))
        for object_id, mask in zip(new, shared, strict=True):
            if object_id in points and self.params.point_grows:
                self.growth.start(object_id, mask, masks, cues)
            else:
                self.growth.drop(object_id)
        return {**removed, **dict(zip(new, shared, strict=True))}

    def _carry_pending(self, frame_shape: tuple[int, int], grid: tuple[int, int], cues: FrameCues | None) -> None:
        """Move pending point prompts with the flow; give up on those out of frames."""
        for object_id, pending in list(self._pending.items()):
            if pending.frames_left == 0:
                del self._pending[object_id]
                reason = (
                    f"no segment contains a foreground point on that frame or the {self.params.pending_frames} after it"
                )
                warnings.warn(PromptWarning(object_id, pending.prompt.frame, reason), stacklevel=4)
                continue
            pending.frames_left -= 1
            if cues is not None and cues.flow is not None:
                points = pending.prompt.points - flow_at(cues.flow, pending.prompt.points, frame_shape, grid)
                pending.prompt = replace(pending.prompt, points=points)

    def _select(
        self,
        prompt: PointPrompt | BoxPrompt | MaskPrompt | TextPrompt,
        masks: np.ndarray,
        frame_shape: tuple[int, int],
        cues: FrameCues | None,
    ) -> np.ndarray:
        mask_shape = masks.shape[1:]
        if isinstance(prompt, TextPrompt):
            raise UsageError("text prompts are resolved to masks first: run them through a TextPrompter")
        if isinstance(prompt, MaskPrompt):
            if prompt.mask.shape != mask_shape or not prompt.mask.any():
                raise PromptMiss(f"the mask is empty or not {mask_shape[0]}x{mask_shape[1]}")
            mask = np.asarray(prompt.mask, bool)
        elif isinstance(prompt, PointPrompt):
            mask = select_by_points(masks, to_grid(prompt.points, frame_shape, mask_shape), prompt.labels)
        else:
            box = to_grid(prompt.box.reshape(2, 2), frame_shape, mask_shape).reshape(4)
            mask = fill_box(masks, box, cues, self.params)
        return smooth_mask(mask, self.smooth) if self.smooth else mask


def fill_box(masks: np.ndarray, box: np.ndarray, cues: FrameCues | None, params: ObjectParams) -> np.ndarray:
    """The object a box selects: the segments inside it that look like its inside, not its surroundings.

    Without colours, FastSAM's choice: the segment with the highest IoU with the box.

    Args:
        masks: (N, h, w) bool segments.
        box: (4,) float xyxy on the mask grid.
        cues: the frame's colours, or None.
        params: ``box_held``, ``box_alike``, ``box_ring``, ``box_ring_min`` and ``color_prior``.
    """
    best = select_by_box(masks, box)  # raises PromptMiss when nothing overlaps the box
    if cues is None:
        return best
    h, w = masks.shape[1:]
    x1, y1 = np.clip(np.floor(box[:2]).astype(int), 0, [w, h])
    x2, y2 = np.clip(np.ceil(box[2:]).astype(int), 0, [w, h])
    inside = np.zeros((h, w), bool)
    inside[y1:y2, x1:x2] = True
    area = masks.sum(axis=(1, 2)).astype(float)
    held = masks[:, inside].sum(1) / np.maximum(area, 1)
    ring = max(params.box_ring_min, round(params.box_ring * max(x2 - x1, y2 - y1)))
    likely = likelihood(*histograms(inside, cues.colors, ring), cues.colors, params.color_prior)
    likeness = objectness(sparse_rows(masks), likely, area)
    chosen = (held >= params.box_held) & (likeness >= params.box_alike) & (area > 0)
    if not chosen.any():
        return best
    union = masks[chosen].any(axis=0)
    # The object touches the sides of a box drawn around it: a union that spans the box wins.
    return union if _box_iou(union, (x1, y1, x2, y2)) >= _box_iou(best, (x1, y1, x2, y2)) else best


def _box_iou(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """IoU of the box around an (h, w) bool mask with an (x1, y1, x2, y2) cell box."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0.0
    a = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    inter = max(0, min(a[2], box[2]) - max(a[0], box[0])) * max(0, min(a[3], box[3]) - max(a[1], box[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / union if union else 0.0


def flow_at(flow: np.ndarray, points: np.ndarray, frame_shape: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """(K, 2) frame-pixel (dx, dy) of the (h, w, 2) backward flow at (K, 2) frame-pixel points."""
    cells = np.clip(np.floor(to_grid(points, frame_shape, grid)).astype(int), 0, [grid[1] - 1, grid[0] - 1])
    return flow[cells[:, 1], cells[:, 0]] * np.array([frame_shape[1] / grid[1], frame_shape[0] / grid[0]])


def anchor(prompt: Prompt, frame_shape: tuple[int, int], mask_shape: tuple[int, int]) -> np.ndarray:
    """(2,) float (y, x) grid position of a prompt: its foreground points' mean, its box's centre
    or its mask's centroid (NaN for a prompt without a position)."""
    if isinstance(prompt, PointPrompt):
        xy = to_grid(prompt.points, frame_shape, mask_shape)[np.asarray(prompt.labels) == 1]
    elif isinstance(prompt, BoxPrompt):
        xy = to_grid(prompt.box.reshape(2, 2), frame_shape, mask_shape)
    elif isinstance(prompt, MaskPrompt) and prompt.mask.any():
        return centroid(prompt.mask) + 0.5
    else:
        return np.full(2, np.nan)
    return xy.mean(0)[::-1] if len(xy) else np.full(2, np.nan)


def share(masks: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(K, h, w) masks without overlaps: a cell several hold goes to the one with the nearest anchor.

    Two prompts that select one segment point at two objects the segmenter merged.

    Args:
        masks: (K, h, w) bool prompted masks.
        anchors: (K, 2) float (y, x) grid position of each prompt (NaN: held last).

    Example:
        >>> both = np.ones((2, 1, 4), bool)
        >>> share(both, np.array([[0.5, 0.5], [0.5, 3.5]])).astype(int).tolist()
        [[[1, 1, 0, 0]], [[0, 0, 1, 1]]]
    """
    h, w = masks.shape[1:]
    cells = np.moveaxis(np.indices((h, w)), 0, -1) + 0.5  # (h, w, 2) cell centres
    distance = np.linalg.norm(cells[None] - anchors[:, None, None], axis=-1)
    distance = np.where(masks & ~np.isnan(distance), distance, np.inf)
    nearest = np.argmin(distance, axis=0)
    return masks & ((np.arange(len(masks))[:, None, None] == nearest[None]) | (masks.sum(0) == 1)[None])
