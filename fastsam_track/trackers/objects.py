"""Prompted objects carried through a video as sets of segments.

FastSAM splits an object into parts on some frames and merges it with a neighbour on
others, so an object is not one segment. Each frame, every object's mask is predicted
from its motion (the last mask, shifted by its velocity); the segments that lie mostly
inside the prediction make up the object. When the object was merged into a larger
segment, that segment is clipped to the prediction. An object that vanishes (occlusion,
exit) is kept as lost for ``max_lost`` frames and picked up again by a segment of like
size and shape near where it is expected.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from fastsam_track.trackers.association import mask_overlaps
from fastsam_track.trackers.motion import centroid as _centroid
from fastsam_track.trackers.motion import grow as _grow
from fastsam_track.trackers.motion import shift as _shift
from fastsam_track.trackers.prompting import (
    PromptMiss,
    PromptWarning,
    select_by_box,
    select_by_points,
    smooth_mask,
    to_grid,
)
from fastsam_track.trackers.segment_tracker import TrackState
from fastsam_track.types import BoxPrompt, MaskPrompt, PointPrompt, Prompt, RemovePrompt, TextPrompt

__all__ = ["ObjectTracker"]


@dataclass
class _Object:
    """One prompted object's state, at mask resolution."""

    mask: np.ndarray  # (h, w) bool: the last mask seen
    full: np.ndarray  # (h, w) bool: the last mask seen whole (not occluded)
    area: float  # typical area in cells
    velocity: np.ndarray  # (2,) float (dy, dx) cells per frame
    missed: int = 0  # frames since last seen
    since_full: int = 0  # frames since ``full`` was seen
    neighbours: set[int] = field(default_factory=set)  # segment track ids that touch it but are not it
    color: np.ndarray | None = None  # (3,) float mean colour, when segments carry ``data["color"]``
    known_motion: bool = False  # False until seen on two frames in a row (new, or just picked up again)
    shape: np.ndarray | None = None  # (h, w) bool: the last whole view clear of the frame's edge
    tracks: set[int] = field(default_factory=set)  # segment track ids it was made of when last seen


@dataclass
class _Frame:
    """A frame's N segments and their overlaps with the K objects' predicted masks."""

    masks: np.ndarray  # (N, h, w) bool
    track_ids: np.ndarray  # (N,) int segment track ids, -1 untracked
    inter: np.ndarray  # (K, N) float cells each predicted mask shares with each segment
    predicted_area: np.ndarray  # (K,) float
    seg_area: np.ndarray  # (N,) float
    cover: np.ndarray = field(init=False)  # (K, N) float fraction of each segment inside each prediction

    def __post_init__(self) -> None:
        area = self.seg_area[None]
        self.cover = np.divide(self.inter, area, out=np.zeros_like(self.inter), where=area > 0)


class ObjectTracker:
    """Follow prompted objects through a video.

    Args:
        cover_threshold: a segment joins an object when at least this fraction of it lies
            inside the object's predicted mask.
        min_area_ratio: an object is seen only while its mask keeps this fraction of its
            typical area; below, it is lost (occluded or gone).
        max_lost: frames a lost object is searched for before it is dropped.
        smooth: morphological close/open reach (in mask cells) applied to prompted masks.

    Example:
        >>> masks = np.zeros((1, 8, 8), bool); masks[0, 2:6, 2:6] = True
        >>> segments = sv.Detections(xyxy=np.array([[20, 20, 60, 60]], np.float32), mask=masks)
        >>> tracker = ObjectTracker()
        >>> prompt = PointPrompt(0, 7, np.array([[40.0, 40.0]]), np.array([1]))
        >>> tracker.update(segments, (80, 80), [prompt]).tracker_id.tolist()
        [7]
    """

    def __init__(self, cover_threshold: float = 0.5, min_area_ratio: float = 0.2, max_lost: int = 60, smooth: int = 0):
        self.cover_threshold, self.min_area_ratio = cover_threshold, min_area_ratio
        self.max_lost, self.smooth = max_lost, smooth
        self.objects: dict[int, _Object] = {}
        self._areas: dict[int, float] = {}  # segment track id: its area on the last frame

    def reset(self) -> None:
        """Forget every object."""
        self.objects.clear()
        self._areas.clear()

    def update(
        self, segments: sv.Detections, frame_shape: tuple[int, int], prompts: list[Prompt] | tuple[Prompt, ...] = ()
    ) -> sv.Detections:
        """Carry the objects into this frame, then apply this frame's prompts.

        Args:
            segments: the frame's N segments, ``mask`` (N, h, w) bool, and ``tracker_id`` from a
                ``SegmentTracker`` when there is one: it tells a neighbour that merged into
                the object (and comes apart again) from a part of the object.
            frame_shape: (H, W) of the frame, to place prompt coordinates on the mask grid.
            prompts: prompts given on this frame.

        Returns:
            One row per object seen on this frame: ``mask`` (K, h, w) bool, ``xyxy`` (K, 4)
            float32 frame pixels, ``tracker_id`` (K,) the object ids, ``data["segments"]``
            a (K, N) bool matrix saying which of the frame's segments make up each object.

        Warns:
            PromptWarning: a prompt selects nothing (the message names the object and frame);
                that object is not created and the run goes on.
        """
        masks = np.asarray(segments.mask)
        mask_shape = masks.shape[1:]
        track_ids = np.asarray(segments.tracker_id if segments.tracker_id is not None else np.full(len(masks), -1))
        colors = np.asarray(segments.data["color"], float) if "color" in segments.data else None
        # Segments seen on one frame only (spurious blobs, mostly) never bring a lost object back nor regrow one.
        steady = segments.data.get("track_state", np.full(len(masks), TrackState.CONFIRMED)) == TrackState.CONFIRMED
        members = self._propagate(masks, track_ids, colors, np.asarray(steady, bool))
        self._remember_areas(masks, track_ids)
        new: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # object id: (mask, (2,) (y, x) grid anchor)
        for prompt in prompts:
            if isinstance(prompt, RemovePrompt):
                self.objects.pop(prompt.object_id, None)
                members.pop(prompt.object_id, None)
                new.pop(prompt.object_id, None)
                continue
            try:
                new[prompt.object_id] = (
                    self._resolve(prompt, masks, frame_shape),
                    _anchor(prompt, frame_shape, mask_shape),
                )
            except PromptMiss as miss:
                warnings.warn(str(miss), PromptWarning, stacklevel=2)
        if new:
            shared = _share(np.array([m for m, _ in new.values()]), np.array([a for _, a in new.values()]))
            for object_id, mask in zip(new, shared, strict=True):
                self.objects[object_id] = self._start(mask, new[object_id][0], masks, track_ids, colors)
                members[object_id] = mask

        ids = np.array(sorted(members), int)
        stack = np.array([members[i] for i in ids], bool).reshape(len(ids), *mask_shape)
        inter, _, seg_areas = mask_overlaps(stack, masks)
        part_of = np.divide(inter, seg_areas[None], out=np.zeros_like(inter), where=seg_areas[None] > 0) >= 0.5
        return sv.Detections(
            xyxy=_boxes(stack, frame_shape),
            mask=stack,
            tracker_id=ids,
            data={"segments": part_of},
        )

    def _resolve(
        self, prompt: PointPrompt | BoxPrompt | MaskPrompt | TextPrompt, masks: np.ndarray, frame_shape: tuple[int, int]
    ) -> np.ndarray:
        mask_shape = masks.shape[1:]
        if isinstance(prompt, TextPrompt):
            raise TypeError("text prompts are resolved to masks first: run them through a TextPrompter")
        try:
            if isinstance(prompt, MaskPrompt):
                if prompt.mask.shape != mask_shape or not prompt.mask.any():
                    raise PromptMiss(f"the mask is empty or not {mask_shape[0]}x{mask_shape[1]}")
                mask = np.asarray(prompt.mask, bool)
            elif isinstance(prompt, PointPrompt):
                mask = select_by_points(masks, to_grid(prompt.points, frame_shape, mask_shape), prompt.labels)
            else:
                mask = select_by_box(masks, to_grid(prompt.box.reshape(2, 2), frame_shape, mask_shape).reshape(4))
        except PromptMiss as miss:
            raise PromptMiss(f"object {prompt.object_id} on frame {prompt.frame}: {miss}") from None
        return smooth_mask(mask, self.smooth) if self.smooth else mask

    @staticmethod
    def _start(
        mask: np.ndarray, selected: np.ndarray, masks: np.ndarray, track_ids: np.ndarray, colors: np.ndarray | None
    ) -> _Object:
        """A new object's state: its (h, w) ``mask``, its prompt's ``selected`` segments before sharing.

        Shared with another prompt, its colour is unknown until it is seen on its own.
        """
        state = _Object(mask, mask, float(mask.sum()), np.zeros(2))
        state.color = _mean_color(mask, masks, colors) if np.array_equal(mask, selected) else None
        inter, _, areas = mask_overlaps(selected[None], masks)
        state.tracks = set(track_ids[(inter[0] >= 0.5 * areas) & (areas > 0)].tolist())
        return state

    def _remember_areas(self, masks: np.ndarray, track_ids: np.ndarray) -> None:
        """Keep this frame's area of each tracked segment, (N, h, w) masks and (N,) ids, for ``_took_in``."""
        tracked = track_ids >= 0
        self._areas = dict(zip(track_ids[tracked].tolist(), masks[tracked].sum(axis=(1, 2)).tolist(), strict=True))

    def _propagate(
        self, masks: np.ndarray, track_ids: np.ndarray, colors: np.ndarray | None, steady: np.ndarray
    ) -> dict[int, np.ndarray]:
        """Each object's mask on this frame, for the objects seen; updates their state."""
        if not self.objects:
            return {}
        ids = list(self.objects)
        objects = [self.objects[i] for i in ids]
        predicted = np.array([self._predict(o) for o in objects], bool).reshape(len(ids), *masks.shape[1:])
        frame = _Frame(masks, track_ids, *mask_overlaps(predicted, masks))
        typical = np.array([o.area for o in objects])[:, None]
        # A segment goes to the object that holds most of it, if it holds enough of it, unless
        # it is larger than the object (an occluder, or a merge) or a known neighbour.
        mine = np.arange(len(ids))[:, None] == np.argmax(frame.inter, axis=0)[None]
        fits = frame.seg_area[None] <= 1.5 * typical
        # A segment larger than the object must lie almost wholly inside it: grown, not merged.
        needed = np.where(frame.seg_area[None] > 1.2 * typical, 0.8, self.cover_threshold)
        foreign = np.array([np.isin(track_ids, list(o.neighbours)) & (track_ids >= 0) for o in objects])
        foreign = foreign.reshape(len(ids), len(masks))
        distance = _color_distance(objects, colors, len(masks))
        # Unknown colours do not tell objects apart; a lost object must look more like itself.
        tolerance = np.array([_LOST_COLOR_TOLERANCE if o.missed else _COLOR_TOLERANCE for o in objects])[:, None]
        alike = ~(distance > tolerance)
        claimed = (frame.cover >= needed) & mine & fits & ~foreign & alike
        # Segments no object claims outright: one may be an object regrown, or several merged.
        free = ~claimed.any(0)
        regrowing = fits & ~foreign & alike & steady & (frame.seg_area[None] <= 1.2 * typical) & (frame.cover >= 0.3)
        regrown = _regrown(np.where(mine & free, frame.inter, 0), regrowing)
        seen: dict[int, np.ndarray] = {}
        lost: list[int] = []
        for k, (object_id, state) in enumerate(zip(ids, objects, strict=True)):
            mask, clean = self._complete(state, k, frame, claimed, int(regrown[k]), free)
            if mask.sum() < self.min_area_ratio * state.area:
                if state.missed:
                    lost.append(k)
                else:
                    self._missed(object_id, state)
                continue
            self._seen(state, mask, clean)
            seen[object_id] = mask
            state.tracks = set(track_ids[claimed[k]].tolist())
            if clean:
                self._look(state, k, frame, mask, claimed[k], colors)
        # Lost objects last: they may only take segments that no object holds on this frame.
        held = np.asarray(np.array(list(seen.values()), bool).reshape(-1, *masks.shape[1:]).any(axis=0))
        free &= mask_overlaps(held[None], masks)[0][0] < 0.5 * frame.seg_area
        for k in lost:
            object_id, state = ids[k], objects[k]
            found = self._reacquire(state, masks, ~(free & alike[k] & steady), distance[k] <= _SAME_COLOR)
            if found < 0:
                self._missed(object_id, state)
                continue
            state.neighbours.discard(int(track_ids[found]))  # what it was found as is no neighbour
            state.tracks = {int(track_ids[found])}
            self._seen(state, masks[found], True)
            seen[object_id] = masks[found]
            free &= mask_overlaps(masks[found][None], masks)[0][0] < 0.5 * frame.seg_area
        return seen

    def _complete(
        self, state: _Object, k: int, frame: _Frame, claimed: np.ndarray, regrown: int, free: np.ndarray
    ) -> tuple[np.ndarray, bool]:
        """Object ``k``'s mask from its claimed segments, made up when too little of it is claimed.

        Args:
            state: the object.
            k: its row in ``frame``'s (K, N) matrices and in ``claimed``.
            frame: the frame's segments and their overlaps with the K predicted masks.
            claimed: (K, N) bool segments each object takes; row ``k`` gains what it takes here.
            regrown: the free segment that is the object grown back, or -1.
            free: (N,) bool segments no object claimed.

        Returns:
            The (h, w) bool mask, and False when it was clipped out of a merge (not a clean view).
        """
        mask = frame.masks[claimed[k]].any(0) if claimed[k].any() else np.zeros(frame.masks.shape[1:], bool)
        # Where it should be whole; the frame's edge hides what has left.
        whole = _shift(state.full, *(state.velocity * (state.since_full + 1)))
        expected = min(state.area, float(whole.sum()))
        if mask.sum() >= 0.7 * expected or not len(frame.masks):
            return mask, True
        if regrown >= 0:  # the object regrown (out of an occlusion, say)
            claimed[k, regrown] = True
            return mask | frame.masks[regrown], True
        holder = int(np.argmax(np.where(free, frame.inter[k], 0)))  # a merge may hold several objects
        merged = (
            not state.missed
            and frame.inter[k, holder] >= 0.5 * min(frame.predicted_area[k], state.area)
            and frame.seg_area[holder] <= 4 * state.area
            and self._took_in(state, int(frame.track_ids[holder]), float(frame.seg_area[holder]), expected - mask.sum())
        )
        if not merged:
            return mask, True
        # Merged with a neighbour: clip to the last clean whole view, moved to where it should be.
        claimed[k, holder] = True
        return mask | (frame.masks[holder] & whole), False

    def _took_in(self, state: _Object, track_id: int, area: float, hidden: float) -> bool:
        """Whether segment track ``track_id``, of ``area`` cells, took in ``hidden`` cells of the object.

        It did if it was part of the object on the last frame, or grew by half of that since:
        a neighbour that took the object in grows, one that passes in front of it does not.
        Unknown tracks (new, or no segment tracker) are taken to have.
        """
        return track_id in state.tracks or track_id not in self._areas or area - self._areas[track_id] >= 0.5 * hidden

    @staticmethod
    def _look(
        state: _Object, k: int, frame: _Frame, mask: np.ndarray, claimed: np.ndarray, colors: np.ndarray | None
    ) -> None:
        """Learn object ``k``'s colour and neighbours from a clean (h, w) view made of the (N,) ``claimed`` segments."""
        color = _mean_color(mask, frame.masks, colors)
        if color is not None:
            state.color = color if state.color is None else 0.8 * state.color + 0.2 * color
        # Segments touching the object but mostly outside it are its neighbours.
        track_ids = frame.track_ids
        touching = (frame.inter[k] > 0) & (frame.cover[k] < 0.5) & (frame.seg_area <= 4 * state.area) & (track_ids >= 0)
        known = (state.neighbours | set(track_ids[touching].tolist())) - set(track_ids[claimed].tolist())
        # Track ids only grow: keeping the newest bounds memory on endless streams.
        state.neighbours = set(sorted(known)[-_MAX_NEIGHBOURS:])

    @staticmethod
    def _predict(state: _Object) -> np.ndarray:
        """Where the object should be: its last view moved by its velocity, a cell wider.

        Not its last whole view: while it is partly hidden, that would take in the occluder.
        """
        margin = 1 if state.known_motion else 3  # wider while its velocity is unknown
        return _grow(_shift(state.mask, *(state.velocity * (state.missed + 1))), margin)

    def _reacquire(self, state: _Object, masks: np.ndarray, taken: np.ndarray, same: np.ndarray) -> int:
        """A free segment of the lost object's size and shape, the nearest to where it was last seen (-1: none)."""
        areas = masks.sum(axis=(1, 2))
        shape = state.shape if state.shape is not None else state.full
        size = max(state.area, float(shape.sum()))
        sized = (areas >= self.min_area_ratio * size) & (areas <= 2.0 * size)
        candidates = np.flatnonzero(~taken & sized)
        if len(candidates) == 0:
            return -1
        anchor = _centroid(shape)
        # Where its motion would have taken it, held at the border: what left comes back there.
        expected = np.clip(_centroid(state.mask) + state.velocity * state.missed, 0, np.array(masks.shape[1:]) - 1)
        # The search widens the longer the object has been gone.
        reach = np.sqrt(size) * (1.0 + 0.25 * state.missed)
        # Its whole shape placed where it is expected: a part of it coming into view lies inside.
        placed = _grow(_shift(shape, *(expected - _centroid(state.mask))), 2)
        best, best_score = -1, 0.0
        for j in candidates:  # few: only free segments of a plausible size
            centre = _centroid(masks[j])
            distance = float(np.linalg.norm(centre - expected))
            if distance > reach:
                continue
            aligned = _shift(masks[j], *(anchor - centre))
            shape_iou = (aligned & shape).sum() / max((aligned | shape).sum(), 1)
            part = (masks[j] & placed).sum() / areas[j] >= 0.8 and distance <= 0.5 * reach
            score = max(shape_iou, 0.7 * part) - 0.5 * distance / reach
            near = distance <= 1.5 * np.sqrt(size)
            score = max(score, 0.5 * (same[j] and near) - 0.5 * distance / reach)
            if (shape_iou >= 0.7 or part or (same[j] and near)) and score > best_score:
                best, best_score = int(j), score
        if best >= 0:
            state.velocity = np.zeros(2)  # its motion before it was lost says little now
            state.known_motion = False
        return best

    def _seen(self, state: _Object, mask: np.ndarray, clean: bool) -> None:
        whole = clean and mask.sum() >= 0.7 * state.area
        moved = (_centroid(mask) - _centroid(state.mask)) / (state.missed + 1)
        # A partial view moves the centroid without the object moving: trust whole views.
        if whole and state.missed == 0:
            state.velocity = moved if not state.known_motion else 0.5 * state.velocity + 0.5 * moved
            state.known_motion = True
        if whole and not _touches_edge(mask):
            state.shape = mask  # what it looks like when nothing cuts it: to know it again
        if whole:
            state.area = 0.5 * state.area + 0.5 * float(mask.sum())
            state.full, state.since_full = mask, 0
        else:
            state.since_full += 1
        state.mask, state.missed = mask, 0

    def _missed(self, object_id: int, state: _Object) -> None:
        state.missed += 1
        state.since_full += 1
        if state.missed > self.max_lost:
            del self.objects[object_id]


_MAX_NEIGHBOURS = 64
_COLOR_TOLERANCE = 50.0  # RGB distance within which two segments may be the same object
_LOST_COLOR_TOLERANCE = 30.0  # the same for a lost object: what comes back near it may be a look-alike
_SAME_COLOR = 25.0  # RGB distance within which a segment looks like the object whatever its shape


def _mean_color(mask: np.ndarray, masks: np.ndarray, colors: np.ndarray | None) -> np.ndarray | None:
    """(3,) area-weighted colour of the segments that make up ``mask``, or None without colours."""
    if colors is None or len(masks) == 0:
        return None
    inter, _, areas = mask_overlaps(mask[None], masks)
    part = (inter[0] >= 0.5 * areas) & (areas > 0)
    weights = areas * part
    return (weights @ colors) / weights.sum() if weights.sum() else colors.mean(0)


def _regrown(held: np.ndarray, regrowing: np.ndarray) -> np.ndarray:
    """(K,) int the segment each object holds most of, if it may be the object grown back, else -1.

    Args:
        held: (K, N) float cells of each segment inside each object's prediction (0: not its to take).
        regrowing: (K, N) bool segments that may be each object grown back.
    """
    if held.shape[1] == 0:
        return np.full(len(held), -1)
    nearest = np.argmax(held, axis=1)
    rows = np.arange(len(held))
    return np.where(regrowing[rows, nearest] & (held[rows, nearest] > 0), nearest, -1)


def _color_distance(objects: list[_Object], colors: np.ndarray | None, count: int) -> np.ndarray:
    """(K, N) float RGB distance from object k's colour to segment n's; NaN where either is unknown."""
    if colors is None:
        return np.full((len(objects), count), np.nan)
    known = np.array([o.color if o.color is not None else np.full(3, np.nan) for o in objects]).reshape(-1, 3)
    return np.linalg.norm(known[:, None, :] - colors[None], axis=2)


def _anchor(prompt: Prompt, frame_shape: tuple[int, int], mask_shape: tuple[int, int]) -> np.ndarray:
    """(2,) float (y, x) grid position of a prompt: its foreground points' mean, its box's centre
    or its mask's centroid (NaN for a prompt without a position)."""
    if isinstance(prompt, PointPrompt):
        xy = to_grid(prompt.points, frame_shape, mask_shape)[np.asarray(prompt.labels) == 1]
    elif isinstance(prompt, BoxPrompt):
        xy = to_grid(prompt.box.reshape(2, 2), frame_shape, mask_shape)
    elif isinstance(prompt, MaskPrompt) and prompt.mask.any():
        return np.argwhere(prompt.mask).mean(0) + 0.5
    else:
        return np.full(2, np.nan)
    return xy.mean(0)[::-1] if len(xy) else np.full(2, np.nan)


def _share(masks: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(K, h, w) masks without overlaps: a cell several hold goes to the one with the nearest anchor.

    Two prompts that select one segment point at two objects the segmenter merged.

    Args:
        masks: (K, h, w) bool prompted masks.
        anchors: (K, 2) float (y, x) grid position of each prompt (NaN: held last).

    Example:
        >>> both = np.ones((2, 1, 4), bool)
        >>> _share(both, np.array([[0.5, 0.5], [0.5, 3.5]])).astype(int).tolist()
        [[[1, 1, 0, 0]], [[0, 0, 1, 1]]]
    """
    h, w = masks.shape[1:]
    cells = np.moveaxis(np.indices((h, w)), 0, -1) + 0.5  # (h, w, 2) cell centres
    distance = np.linalg.norm(cells[None] - anchors[:, None, None], axis=-1)
    distance = np.where(masks & ~np.isnan(distance), distance, np.inf)
    nearest = np.argmin(distance, axis=0)
    return masks & ((np.arange(len(masks))[:, None, None] == nearest[None]) | (masks.sum(0) == 1)[None])


def _touches_edge(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _boxes(stack: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """(K, 4) float32 xyxy frame-pixel boxes of (K, h, w) bool masks."""
    if len(stack) == 0:
        return np.zeros((0, 4), np.float32)
    h, w = stack.shape[1:]
    rows, cols = np.asarray(stack.any(axis=2)), np.asarray(stack.any(axis=1))
    y1, y2 = rows.argmax(1), h - rows[:, ::-1].argmax(1)
    x1, x2 = cols.argmax(1), w - cols[:, ::-1].argmax(1)
    scale = np.array([frame_shape[1] / w, frame_shape[0] / h] * 2)
    return (np.stack([x1, y1, x2, y2], 1) * scale).astype(np.float32)
