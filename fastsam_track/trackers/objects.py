"""Prompted objects carried through a video by optical flow, confirmed by the frame's segments.

Each frame, every object's last mask is warped by the dense optical flow between the two
frames (``FrameFlow``): that is where the object should be now. The object on the new frame
is what of this frame's segments best explains the warped mask. FastSAM splits an object
into parts on some frames and merges it with a neighbour on others, so an object is never
one segment:

- whole segments: those mostly inside the warped mask with little outside it, one that took
  the object in and holds much of it at about its size with the object's colours outside
  (regrown after a partial view), or a larger one of the object's own segment tracks whose
  part outside has the object's colours (it is coming closer; a neighbour's track that took it
  in is a merge, however alike), and none new to it that moves with the scene while it moves
  across it (the background beside it), nor a part of it that has moved with the scene two frames
  in a row (background taken in once); their union is the prefix, by cells inside over cells
  outside, with the best IoU against the warped mask;
- a segment that holds the rest merged with a neighbour, clipped to the warped mask (and, while
  the object is smaller than it was, the ring around it with its colours), if it took the
  object in (a new segment track, one the object was made of, or one that grew by a good part
  of it; one that was there and did not grow passed in front) and its clipped part has the
  object's colours and moves with it (for a mask the flow alone has carried, as the object moved
  when last seen: the flow may have carried the mask off with what passed in front of it);
- cells of the warped mask no segment covers whose colours are the object's (a part left out).

Colours are a histogram of the object against the ring around it, learnt while it is seen
(not from a view with a clipped merge, which may hold some of the neighbour). Its velocity is
the motion of its centre, kept as it was through partial views. When the segments do not explain the
warped mask, the object's output is the warped mask itself, marked ``propagated``, for at most
``max_propagated`` frames, unless the warped mask lies on colours unlike the object's (the flow
lost a fast or small object, or it went behind something): then segments that look like it are
searched for close by and where its own velocity would have taken it, and the output coasts
with that velocity. After that, when it leaves the frame, or when the flow carries its mask back
against the way it was moving across the scene (it went behind something moving otherwise), it is
lost, and taken back only by segments near where it was last seen, of its typical size, whose
colours agree with it and that appeared after it was lost (or were its parts): a look-alike in view
all along is not it. One that left the frame comes back through the frame's edge, as segments that
came in there and the pieces that touch them, and may come back partly in view. One that moved
across the scene when last seen comes back moving across it (along the line it went, the way it
went unless it left the frame): the background moves with the scene. Motion then tells more than
colour, which needs to agree less; and what is taken back so must go on moving across the scene
for a few frames, or it was something else and the object is lost as it was.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import supervision as sv
from scipy import sparse

from fastsam_track.errors import UsageError
from fastsam_track.trackers.association import overlaps_of, sparse_rows
from fastsam_track.trackers.flow import COLOR_BINS, FrameCues, warp
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
from fastsam_track.types import (
    OBJECT_STATE,
    PROPAGATED,
    SEGMENTS,
    BoxPrompt,
    MaskPrompt,
    ObjectState,
    PointPrompt,
    Prompt,
    RemovePrompt,
    TextPrompt,
)

__all__ = ["ObjectTracker"]

_CONFIRM = 0.4  # the segments explain the warped mask when they cover this share of it
_PROPAGATED_CONFIRM = 0.3  # the same for a mask the flow alone has carried
_MERGE_SHARE = 0.5  # a segment holding this share of the unexplained rest is the object merged: clipped
_GONE_AREA = 0.25  # a warped mask below this share of the object's typical area has left or vanished
_OBJECTNESS = 0.6  # colour agreement a segment needs to bring a lost object back
_ALIKE = 0.45  # colour agreement below which a segment is the object's surroundings, not a part of it
_MOTION = 2.0  # cells per frame the object must move across the scene for motion to tell it from the scene
_MOTION_SHARE = 0.5  # share of that motion a segment needs to be taken as moving with the object
_STRAYED = 2  # frames in a row a part must move with the scene to be taken for the scene
_CROSS = _MOTION_SHARE * _MOTION  # cells per frame a segment must move across the scene the way the object went
_TRIAL = 5  # frames an object taken back by its motion across the scene must go on moving so
_REENTRY = 0.25  # share of its typical size a view of an object coming back through the frame's edge may have
_RING = 4  # cells around an object whose colours stand for its surroundings
_RECENT_TRACKS = 2000  # segment track ids whose last area is remembered, counted back from the newest


@dataclass
class _Object:
    """One prompted object's state, at mask resolution."""

    mask: np.ndarray  # (h, w) bool: the last output (seen or propagated)
    area: float  # typical area in cells, from frames it was seen whole
    inside: np.ndarray  # (COLOR_BINS,) float colour histogram of the object
    around: np.ndarray  # (COLOR_BINS,) float colour histogram of its surroundings
    propagated: int = 0  # frames in a row carried by the flow alone
    lost: int = 0  # frames since it was lost (0: not lost)
    last_seen: np.ndarray | None = None  # (h, w) bool: where it was when it was lost
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # (2,) (dy, dx) cells per frame
    seen_at: np.ndarray | None = None  # (2,) (y, x) centre when it was last seen
    unseen: int = 0  # frames since it was last seen (propagated or lost)
    tracks: set[int] = field(default_factory=set)  # segment track ids it was made of on its last frame
    parts: set[int] = field(default_factory=set)  # segment track ids of its parts when last seen unmerged
    lost_after: int = -1  # the newest segment track id when it was lost
    left: bool = False  # it was lost at the frame's edge: it left
    clipped: bool = False  # its last output holds a part clipped from a merged segment
    # (2,) (dx, dy) its flow less the scene's, cells per frame, when last seen whole
    drift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    entered: set[int] = field(default_factory=set)  # segment tracks that came in at the frame's edge since it left
    trial: int = 0  # frames what was taken back by its motion must go on moving so
    before: _Object | None = None  # its state when it was taken back, while on trial
    strays: dict[int, int] = field(default_factory=dict)  # part track id: frames in a row it moved with the scene


@dataclass
class _Pending:
    """A point prompt that hit no segment on its frame, carried by the flow a few more frames."""

    prompt: PointPrompt
    frames_left: int


class ObjectTracker:
    """Follow prompted objects through a video.

    Args:
        max_propagated: frames an object missed by the segmenter is carried by the flow alone.
        max_lost: frames a lost object is searched for before it is dropped.
        pending_frames: frames a point prompt that hits no segment waits for one.
        smooth: morphological close/open reach (in mask cells) applied to prompted masks.

    Example:
        >>> masks = np.zeros((1, 8, 8), bool); masks[0, 2:6, 2:6] = True
        >>> segments = sv.Detections(xyxy=np.array([[20, 20, 60, 60]], np.float32), mask=masks)
        >>> tracker = ObjectTracker()
        >>> prompt = PointPrompt(0, 7, np.array([[40.0, 40.0]]), np.array([1]))
        >>> tracker.update(segments, (80, 80), [prompt]).tracker_id.tolist()
        [7]
    """

    def __init__(self, max_propagated: int = 8, max_lost: int = 90, pending_frames: int = 5, smooth: int = 0):
        if min(max_propagated, max_lost, pending_frames, smooth) < 0:
            raise UsageError(
                "max_propagated, max_lost, pending_frames and smooth must be 0 or more, got "
                f"{max_propagated}, {max_lost}, {pending_frames}, {smooth}"
            )
        self.max_propagated, self.max_lost = max_propagated, max_lost
        self.pending_frames, self.smooth = pending_frames, smooth
        self.objects: dict[int, _Object] = {}
        self._pending: dict[int, _Pending] = {}
        self._areas: dict[int, float] = {}  # segment track id: its area when last seen (recent tracks)
        self._newest = -1  # the newest segment track id seen

    def reset(self) -> None:
        """Forget every object and pending prompt."""
        self.objects.clear()
        self._pending.clear()
        self._areas.clear()
        self._newest = -1

    def update(
        self,
        segments: sv.Detections,
        frame_shape: tuple[int, int],
        prompts: list[Prompt] | tuple[Prompt, ...] = (),
        cues: FrameCues | None = None,
    ) -> sv.Detections:
        """Carry the objects into this frame, then apply this frame's prompts.

        Args:
            segments: the frame's N segments, ``mask`` (N, h, w) bool.
            frame_shape: (H, W) of the frame, to place prompt coordinates on the mask grid.
            prompts: prompts given on this frame.
            cues: the frame's flow and colours (``FrameFlow.update``); without them objects do
                not move between segments' confirmations and a lost object is not taken back.

        Returns:
            One row per object on this frame: ``mask`` (K, h, w) bool, ``xyxy`` (K, 4) float32
            frame pixels, ``tracker_id`` (K,) the object ids, ``data["segments"]`` a (K, N) bool
            matrix saying which of the frame's segments make up each object, and
            ``data["propagated"]`` (K,) bool, True where the mask is the last one moved by the
            flow because no segment confirmed it.

        Warns:
            PromptWarning: a prompt selects nothing, and a point prompt still hits no segment
                ``pending_frames`` frames later (the message names the object and frame).
        """
        masks = np.asarray(segments.mask)
        mask_shape = (int(masks.shape[1]), int(masks.shape[2]))
        if cues is not None and cues.colors.shape != mask_shape:
            raise UsageError(f"cues are for a {cues.colors.shape} grid, the segments' masks are {mask_shape}")
        cells = sparse_rows(masks)  # every overlap of this frame's segments is a product with these
        track_ids = np.asarray(segments.tracker_id) if segments.tracker_id is not None else np.full(len(masks), -1)
        self._newest = max(self._newest, int(track_ids.max(initial=-1)))
        rows, propagated = self._follow(masks, cells, track_ids, cues)
        rows.update(self._prompted(masks, frame_shape, prompts, cues))
        rows = {i: mask for i, mask in rows.items() if i in self.objects}  # removed by a prompt
        for object_id, state in self.objects.items():
            if object_id in rows and object_id not in propagated:
                # A part clipped from a merge may hold some of the neighbour: its colours are not learnt.
                self._learn(state, rows[object_id], cues, colors=not state.clipped)
            else:
                state.unseen += 1
        ids = np.array(sorted(rows), int)
        stack = np.array([rows[i] for i in ids], bool).reshape(len(ids), *mask_shape)
        inter, _, seg_areas = overlaps_of(sparse_rows(stack), cells)
        part_of = np.divide(inter, seg_areas[None], out=np.zeros_like(inter), where=seg_areas[None] > 0) >= 0.5
        # The segments it is made of: its parts, and one that holds most of it (a merge it was clipped from).
        holds = inter >= 0.5 * stack.sum(axis=(1, 2))[:, None]
        for object_id, parts, holders in zip(ids, part_of, holds, strict=True):
            state = self.objects[object_id]
            state.tracks = set(track_ids[(parts | holders) & (track_ids >= 0)].tolist())
            if object_id not in propagated and not state.clipped:
                state.parts = set(track_ids[parts & (track_ids >= 0)].tolist())
        known = track_ids >= 0
        # Tracks the segment tracker takes back after a miss keep their last area: they are not new.
        recent = {t: a for t, a in self._areas.items() if t > self._newest - _RECENT_TRACKS}
        self._areas = recent | dict(zip(track_ids[known].tolist(), seg_areas[known].tolist(), strict=True))
        return sv.Detections(
            xyxy=_boxes(stack, frame_shape),
            mask=stack,
            tracker_id=ids,
            data={
                SEGMENTS: part_of,
                PROPAGATED: np.isin(ids, list(propagated)),
                OBJECT_STATE: np.array([self._state_of(self.objects[i]) for i in ids], np.int8),
            },
        )

    def lost(self) -> tuple[int, ...]:
        """Ids of the objects searched for that have no mask now (``ObjectState.LOST``), ascending."""
        return tuple(sorted(i for i, state in self.objects.items() if state.lost))

    @staticmethod
    def _state_of(state: _Object) -> ObjectState:
        """The ``ObjectState`` of an object with a mask on this frame."""
        if state.trial:
            return ObjectState.TRIAL
        if state.propagated:
            return ObjectState.CARRIED
        return ObjectState.SEEN

    # Following objects from frame to frame.

    def _follow(
        self, masks: np.ndarray, cells: sparse.csr_matrix, track_ids: np.ndarray, cues: FrameCues | None
    ) -> tuple[dict[int, np.ndarray], set[int]]:
        """Each object's mask on this frame (seen or propagated), and the ids of the propagated ones.

        ``track_ids`` (N,) are the segments' track ids from a ``SegmentTracker`` (-1: none).
        """
        flow = cues.flow if cues is not None else None
        scene = cues.scene if cues is not None else np.zeros(2, np.float32)
        ids = list(self.objects)
        objects = [self.objects[i] for i in ids]
        warped = warp(np.array([o.mask for o in objects], bool).reshape(len(ids), *masks.shape[1:]), flow)
        inter, warped_area, seg_area = overlaps_of(sparse_rows(warped), cells)
        # A segment goes to the object that holds most of it.
        owner = np.argmax(inter, axis=0) if len(ids) else np.zeros(len(masks), int)
        covered = np.zeros(masks.shape[1:], bool)
        covered.reshape(-1)[cells.indices] = True
        before = np.array([self._areas.get(t, np.nan) for t in track_ids.tolist()], float).reshape(len(masks))
        rows: dict[int, np.ndarray] = {}
        propagated: set[int] = set()
        for k, (object_id, state) in enumerate(zip(ids, objects, strict=True)):
            if state.lost:
                continue
            # Vanished under the flow.
            if warped_area[k] < _GONE_AREA * state.area:
                self._lose(object_id, state)
                continue
            mine = np.where(owner == k, inter[k], 0.0)
            # Colours tell the object from its surroundings: segments and uncovered cells that look
            # like the surroundings stay out.
            likely = _likelihood(state, cues.colors) if cues is not None else np.ones(masks.shape[1:])
            alike = _objectness(cells, likely, seg_area) >= _ALIKE
            along = None
            gaps = warped[k] & ~covered & (likely >= 0.5)
            # A mask carried by the flow alone drifts: the segments need to agree less with it.
            confirm = _CONFIRM if not state.propagated else _PROPAGATED_CONFIRM
            # A segment that holds it merged with a neighbour took it in: it is new, or was part of it, or grew
            # by a good part of it. One that was there before and did not grow passed in front of it.
            was_part = np.isin(track_ids, list(state.tracks | state.parts))
            took_in = np.isnan(before) | was_part | (seg_area - before >= 0.3 * warped_area[k])
            if flow is not None:
                # ... and a segment new to it that moves with the scene is the scene (its own parts may move
                # otherwise: limbs, wheels, a turning car's near end, for a frame).
                share = _motion_share(warped[k], flow, scene)
                moving = _moves_with(share, cells, seg_area)
                # Carried by the flow alone, its mask may have gone with what passed in front of it: a part clipped
                # from a merge moves as it did when last seen.
                along = _motion_share(warped[k], flow, scene, state.drift) if state.propagated else share
                alike &= (was_part & ~self._strayed(state, track_ids, inter[k] > 0, moving)) | moving
            mask, clipped = _explain(
                warped[k],
                masks,
                cells,
                mine,
                alike,
                was_part,
                took_in,
                likely,
                seg_area,
                gaps,
                state.area,
                confirm,
                along,
            )
            state.clipped = clipped and mask is not None
            # The moved mask lies on what does not look like the object: the flow lost it (fast, small, or
            # drifted) or it went behind something, rather than the segmenter missing it.
            astray = cues is not None and likely[warped[k]].mean() < _OBJECTNESS
            if mask is None and cues is not None and astray:
                # Look for it close by, by its colours.
                others = np.asarray(np.delete(warped, k, axis=0).any(axis=0))
                # Also where its own motion would have taken it: the flow misses fast, small objects.
                ahead = warped[k] | _shift(state.mask, *state.velocity)
                reach = int(np.sqrt(state.area) / 2 + np.hypot(*state.velocity)) + 1
                size = max(float(state.mask.sum()), state.area)
                mask = self._search(state, masks, cells, cues, others, _grow(ahead, reach), warped[k], size, None)
            if mask is None:
                # Mostly out of the frame, unconfirmed: what the flow leaves at the edge is no view of it.
                leaving = _touches_edge(warped[k]) and warped_area[k] < 2 * _GONE_AREA * state.area
                # The flow carries its mask back against the way it went across the scene: the mask went with
                # what passed in front of it.
                speed = float(np.hypot(*state.drift))
                hidden = (
                    flow is not None
                    and speed >= _MOTION
                    and float(_crosses(warped[k], flow, scene) @ state.drift) / speed <= -_CROSS
                )
                if leaving or hidden or state.propagated >= self.max_propagated:
                    self._lose(object_id, state)
                    continue
                # Carried by the flow; where the flow has lost it, by its own motion (coasting behind an occluder).
                mask = _shift(state.mask, *state.velocity) if astray else warped[k]
                state.propagated += 1
                propagated.add(object_id)
            else:
                state.propagated = 0
                # As its velocity, not over a partial view; nor while what was taken back is on trial.
                if flow is not None and float(mask.sum()) >= 0.75 * state.area and not state.trial:
                    state.drift = np.median(flow[mask], axis=0) - scene
            if state.trial and flow is not None:
                # Taken back moving across the scene, it goes on doing so: what comes to rest with the scene or turns
                # at once was something else (a piece of what it went behind, of the background that moved with it).
                assert state.before is not None
                if not _goes(state.drift, _crosses(mask, flow, scene)[None], state.before.left)[0]:
                    propagated.discard(object_id)
                    self._lose(object_id, state)
                    continue
                state.trial -= 1
            state.mask = rows[object_id] = mask
        self._reacquire(masks, cells, track_ids, cues, rows)
        return rows, propagated

    @staticmethod
    def _strayed(state: _Object, track_ids: np.ndarray, touching: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """(N,) bool: segments at it that have moved with the scene, not with it, on this frame and the one before.

        A part of the background taken in once (the flow's smoothing lent it some of the object's motion, or
        it was clipped from a merge) goes on moving with the scene; a limb or a wheel only does so for a frame.
        """
        counts = {
            int(t): state.strays.get(int(t), 0) + 1 for t in track_ids[touching & ~moving & (track_ids >= 0)].tolist()
        }
        state.strays = counts
        return np.array([counts.get(int(t), 0) >= _STRAYED for t in track_ids.tolist()], bool).reshape(len(track_ids))

    def _lose(self, object_id: int, state: _Object) -> None:
        if state.trial and state.before is not None:  # what was taken back on trial was not it: lost as it was
            self.objects[object_id] = replace(state.before, lost=state.before.lost + 1 + _TRIAL - state.trial)
            return
        state.lost, state.last_seen, state.propagated, state.lost_after = 1, state.mask, 0, self._newest
        state.entered = set()
        state.left = _touches_edge(state.mask)

    def _reacquire(
        self,
        masks: np.ndarray,
        cells: sparse.csr_matrix,
        track_ids: np.ndarray,
        cues: FrameCues | None,
        rows: dict[int, np.ndarray],
    ) -> None:
        """Take lost objects back where segments that no object holds agree with their colours.

        Only segments that appeared after it was lost (a new segment track) or that were its parts
        qualify, and for an object that left the frame, only those that came in at its edge (and the
        pieces touching one): a look-alike that was in view all along is not it coming back. For an
        object that moved across the scene, only those that move across it as it went (``_goes``).
        """
        lost = [i for i, o in self.objects.items() if o.lost]
        if not lost:
            return
        held = np.asarray(np.array(list(rows.values()), bool).reshape(-1, *masks.shape[1:]).any(axis=0))
        area = np.asarray(cells.sum(axis=1), float).reshape(-1)
        for object_id in lost:
            state = self.objects[object_id]
            # The search widens the longer the object has been gone, from where it was last seen.
            assert state.last_seen is not None
            reach = int(np.ceil(np.sqrt(state.area) * (1.0 + 0.25 * state.lost)))
            # Also where its motion would have taken it.
            ahead = state.last_seen | _shift(state.last_seen, *(state.velocity * state.lost))
            # Its typical size: it was lost shrinking (going behind something, leaving), and comes back whole.
            seen = max(float(state.last_seen.sum()), state.area)
            new = (track_ids < 0) | (track_ids > state.lost_after) | np.isin(track_ids, list(state.parts))
            back = new.copy()
            crossed = cues is not None and cues.flow is not None and np.hypot(*state.drift) >= _MOTION
            if crossed:
                # What moved across the scene when last seen comes back moving across it (``_goes``): the background
                # at its edge or beside where it went moves with the scene. Its colours then need to agree less (its
                # look changes).
                assert cues is not None and cues.flow is not None  # crossed says so
                back &= _goes(state.drift, _relative(cells, cues.flow, area, cues.scene), state.left)
            # What left the frame comes back through its edge: segments at it, or that were at it since it
            # left (the segment tracker follows them in), and the pieces of it that touch one.
            first = back
            if state.left:
                edge = new & (np.asarray(cells @ _border(masks.shape[1:])) > 0)
                state.entered |= set(track_ids[edge & (track_ids >= 0)].tolist())
                first = back & (edge | np.isin(track_ids, list(state.entered)))
            found = (
                None
                if cues is None
                else self._search(
                    state,
                    masks,
                    cells,
                    cues,
                    held,
                    _grow(ahead, reach),
                    ahead,
                    seen,
                    first,
                    _REENTRY if state.left else 0.5,
                    back,
                    _ALIKE if crossed else _OBJECTNESS,
                )
            )
            if found is None:
                state.lost += 1
                if state.lost > self.max_lost:
                    del self.objects[object_id]
                continue
            if crossed:  # on trial: taken back by its motion, it must go on moving so
                state.before, state.trial = replace(state, before=None, entered=set(state.entered)), _TRIAL
            state.lost, state.mask, state.propagated, state.clipped = 0, found, 0, False
            # Its size from here is at most what was found: a part coming back through the edge, or it is
            # farther away (the flow carries that view; a view below a quarter of its size is a vanished one).
            state.area = min(state.area, float(found.sum()))
            rows[object_id] = found
            held |= found

    @staticmethod
    def _search(
        state: _Object,
        masks: np.ndarray,
        cells: sparse.csr_matrix,
        cues: FrameCues,
        held: np.ndarray,
        near: np.ndarray,
        expected: np.ndarray,
        size: float,
        allowed: np.ndarray | None,
        smallest: float = 0.5,
        joins: np.ndarray | None = None,
        objectness: float = _OBJECTNESS,
    ) -> np.ndarray | None:
        """The object among free segments that look like it, mostly inside ``near`` (None: not there).

        Args:
            state: the object.
            masks: (N, h, w) bool the frame's segments; ``cells`` the same as ``sparse_rows``.
            cues: the frame's colours.
            held: (h, w) bool cells other objects hold.
            near: (h, w) bool where to look.
            expected: (h, w) bool where it should be: of two alike segments, the one more inside it wins.
            size: its last size in cells: what is found must be half to twice that (a look-alike part
                of the scene is not taken for it).
            allowed: (N,) bool the segments it may be (None: any).
            smallest: the share of ``size`` what is found must have at least.
            joins: (N,) bool the segments that may join the one found, touching it (None: ``allowed``).
            objectness: the colour agreement a segment needs.
        """
        if len(masks) == 0:
            return None
        inter, _, area = overlaps_of(sparse_rows(np.array([held, near, expected])), cells)
        free = (inter[0] < 0.5 * area) & (area > 0)
        likeness = _objectness(cells, _likelihood(state, cues.colors), area)
        close = inter[1] > 0.5 * area
        like = free & close & (likeness >= objectness) & (area <= 2 * size)
        seeds = np.flatnonzero(like if allowed is None else like & allowed)
        if len(seeds) == 0:
            return None
        # The seed that looks most like it and lies most where it should be, and the like segments that touch it.
        seed = seeds[np.argmax(likeness[seeds] + 0.5 * inter[2, seeds] / area[seeds])]
        others = seeds if joins is None else np.flatnonzero(like & joins)
        touching = overlaps_of(sparse_rows(_grow(masks[seed], 1)[None]), cells[others])[0][0] > 0
        found = masks[others[touching]].any(axis=0) | masks[seed]
        return found if smallest * size <= found.sum() <= 2 * size else None

    @staticmethod
    def _learn(state: _Object, mask: np.ndarray, cues: FrameCues | None, colors: bool = True) -> None:
        """Update an object seen on this frame: its typical area, velocity and (with ``colors``) colours."""
        centre = _centroid(mask)
        # The motion of its centre (the flow under-estimates small, fast objects), except over a partial
        # view (going behind something, leaving), whose centre moves otherwise: kept as it was.
        if state.seen_at is not None and float(mask.sum()) >= 0.75 * state.area:
            state.velocity = 0.5 * state.velocity + 0.5 * (centre - state.seen_at) / (state.unseen + 1)
        state.seen_at, state.unseen = centre, 0
        # Slowly: partial views (parts missed, occlusions) must not make it forget its size.
        state.area = 0.9 * state.area + 0.1 * float(mask.sum())
        if cues is not None and colors:
            inside, around = _histograms(mask, cues.colors)
            state.inside = 0.8 * state.inside + 0.2 * inside
            state.around = 0.8 * state.around + 0.2 * around

    # Prompts.

    def _prompted(
        self,
        masks: np.ndarray,
        frame_shape: tuple[int, int],
        prompts: list[Prompt] | tuple[Prompt, ...],
        cues: FrameCues | None,
    ) -> dict[int, np.ndarray]:
        """Masks of the objects this frame's prompts (and pending point prompts) select; starts them."""
        self._carry_pending(frame_shape, masks.shape[1:], cues)
        new: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # object id: (mask, (2,) (y, x) grid anchor)
        for prompt in [p.prompt for p in self._pending.values()] + list(prompts):
            if isinstance(prompt, RemovePrompt):
                self.objects.pop(prompt.object_id, None)
                self._pending.pop(prompt.object_id, None)
                new.pop(prompt.object_id, None)
                continue
            try:
                mask = self._resolve(prompt, masks, frame_shape, cues)
            except PromptMiss as miss:
                if isinstance(prompt, PointPrompt) and self.pending_frames and prompt.object_id not in self._pending:
                    self._pending[prompt.object_id] = _Pending(prompt, self.pending_frames)
                elif prompt.object_id not in self._pending:
                    warnings.warn(PromptWarning(prompt.object_id, prompt.frame, str(miss)), stacklevel=3)
                continue
            self._pending.pop(prompt.object_id, None)
            new[prompt.object_id] = (mask, _anchor(prompt, frame_shape, masks.shape[1:]))
        if not new:
            return {}
        shared = _share(np.array([m for m, _ in new.values()]), np.array([a for _, a in new.values()]))
        rows = {}
        for object_id, mask in zip(new, shared, strict=True):
            inside, around = _histograms(mask, cues.colors) if cues is not None else (_flat(), _flat())
            self.objects[object_id] = _Object(mask, float(mask.sum()), inside, around)
            rows[object_id] = mask
        return rows

    def _carry_pending(self, frame_shape: tuple[int, int], grid: tuple[int, int], cues: FrameCues | None) -> None:
        """Move pending point prompts with the flow; give up on those out of frames."""
        for object_id, pending in list(self._pending.items()):
            if pending.frames_left == 0:
                del self._pending[object_id]
                reason = f"no segment contains a foreground point on that frame or the {self.pending_frames} after it"
                warnings.warn(PromptWarning(object_id, pending.prompt.frame, reason), stacklevel=4)
                continue
            pending.frames_left -= 1
            if cues is not None and cues.flow is not None:
                points = pending.prompt.points - _flow_at(cues.flow, pending.prompt.points, frame_shape, grid)
                pending.prompt = replace(pending.prompt, points=points)

    def _resolve(
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
            mask = _fill_box(masks, box, cues)
        return smooth_mask(mask, self.smooth) if self.smooth else mask


def _explain(
    warped: np.ndarray,
    masks: np.ndarray,
    cells: sparse.csr_matrix,
    inter: np.ndarray,
    alike: np.ndarray,
    was_part: np.ndarray,
    took_in: np.ndarray,
    likely: np.ndarray,
    seg_area: np.ndarray,
    gaps: np.ndarray,
    typical: float,
    confirm: float = _CONFIRM,
    along: np.ndarray | None = None,
) -> tuple[np.ndarray | None, bool]:
    """The object's mask: the segments that best explain where the flow says it is (None: they do not).

    Args:
        warped: (h, w) bool the object's last mask moved by the flow.
        masks: (N, h, w) bool the frame's segments.
        cells: the same as ``sparse_rows``.
        inter: (N,) float cells each segment shares with ``warped`` (0 for segments another object holds).
        alike: (N,) bool segments whose colours may be the object's: only they are taken whole.
        was_part: (N,) bool segments whose track the object was made of on the last frame: only they
            may grow into it (a neighbour's track that took it in is a merge, however alike).
        took_in: (N,) bool segments that may hold it merged with a neighbour: only they are clipped.
        likely: (h, w) float how much each cell's colour is the object's: a merged segment is clipped
            only when its part inside ``warped`` looks like the object.
        seg_area: (N,) float cells of each segment.
        gaps: (h, w) bool cells of ``warped`` that no segment covers and that may be the object's.
        typical: the object's typical area in cells.
        confirm: the IoU with ``warped`` at which the segments confirm it.
        along: (h, w) float ``_motion_share`` (None: no flow): a merged segment is clipped only when its
            part inside ``warped`` moves with the object (not the background it passes, taken in).

    Returns:
        The union of segments mostly inside ``warped`` with the highest IoU with it (for disjoint
        segments, a prefix of them ordered by cells inside over cells outside), a segment holding
        most of the rest clipped to ``warped`` (a merge), and ``gaps``; None when that union's
        IoU with ``warped`` is below ``confirm``; and whether a merged segment was clipped into it.
    """
    area = float(warped.sum())
    touching = np.flatnonzero(inter > 0)
    # Whole segments only when mostly inside with little outside, or when one holds much of it at about
    # its size (regrown after a partial view), or larger when what lies outside has the object's colours
    # (it is coming closer; a merged neighbour has its own): any other would let it grow without bound.
    size = max(typical, area)
    outside = seg_area - inter
    weights = likely.reshape(-1).astype(np.float32)
    like_all, like_inside = (cells @ np.stack([weights, weights * warped.reshape(-1)], axis=1)).T
    outside_like = np.divide(like_all - like_inside, outside, out=np.zeros_like(outside), where=outside > 0)
    holds = inter >= 0.4 * area
    whole = (
        ((outside <= inter) & (outside <= 0.25 * size))
        | (holds & (seg_area <= 1.25 * size) & (outside_like >= _ALIKE) & took_in)
        | (holds & (seg_area <= 2.5 * size) & (outside_like >= 0.5) & was_part)
    )
    inside = touching[(whole & alike)[touching]]
    order = inside[np.argsort(-(inter[inside] / np.maximum(seg_area[inside] - inter[inside], 0.5)), kind="stable")]
    iou = np.cumsum(inter[order]) / (area + np.cumsum(seg_area[order] - inter[order]))
    chosen = order[: int(np.argmax(iou)) + 1] if len(order) else order
    mask = masks[chosen].any(axis=0) if len(chosen) else np.zeros(warped.shape, bool)
    rest = warped & ~mask
    left = inter > 0
    left[chosen] = False
    others = np.flatnonzero(left)
    took_part = False
    if rest.sum() >= 0.2 * area and len(others):
        holder = others[np.argmax((cells @ rest.reshape(-1).astype(np.float32))[others])]
        # Clipped to where it should be, and while it is smaller than it was (growing back) the ring of
        # cells around that with its colours; if what is clipped looks like the object.
        reach = warped | (_grow(warped, 1) & (likely >= 0.5)) if area < typical else warped
        clipped = masks[holder] & reach
        merged = took_in[holder] and (clipped & rest).sum() >= _MERGE_SHARE * rest.sum()
        moves = along is None or along[clipped].mean() >= _MOTION_SHARE
        if merged and moves and likely[clipped].mean() >= _ALIKE:
            mask, took_part = mask | clipped, True
    # Confirmed by the segments alone (they explain enough of it); the gaps only complete a confirmed view.
    return (mask | gaps if (mask & warped).sum() >= confirm * area else None), took_part


def _motion_share(
    warped: np.ndarray, flow: np.ndarray, scene: np.ndarray, drift: np.ndarray | None = None
) -> np.ndarray:
    """(h, w) float: how far each cell moves from the scene's motion towards the object's (1 everywhere when
    the object moves with the scene: motion tells nothing).

    A segment of the background beside the object, with colours like it, lies inside its moved mask
    while the object moves across the scene; taken in, it moves with the scene and drags the mask off
    the object (bmx-bumps: the rider rides off the frame, the mask stays on the dirt behind him). The
    flow's smoothing bleeds the object's motion into a few cells around it, so cells count as moving
    with the object when they go at least ``_MOTION_SHARE`` of the way from the scene's motion to the
    object's (along it: parts of an object that turns or comes closer move faster than its middle).

    Args:
        warped: (h, w) bool the object's last mask moved by the flow.
        flow: (h, w, 2) float backward flow (dx, dy) in cells.
        scene: (2,) the scene's motion (``FrameCues.scene``).
        drift: (2,) the object's flow less the scene's, when not that of ``warped`` (None: that of ``warped``).
    """
    everything = np.ones(flow.shape[:2], np.float32)
    if not warped.any():
        return everything
    mine = np.median(flow[warped], axis=0) if drift is None else scene + drift
    relative = float(np.hypot(*(mine - scene)))
    if relative < _MOTION:
        return everything
    return ((flow - scene) @ ((mine - scene) / relative**2)).astype(np.float32)


def _moves_with(share: np.ndarray, cells: sparse.csr_matrix, seg_area: np.ndarray) -> np.ndarray:
    """(N,) bool: segments whose cells move on average with the object (``_motion_share``), not the scene."""
    mean = np.asarray(cells @ share.reshape(-1)) / np.maximum(seg_area, 1)
    return np.asarray(mean >= _MOTION_SHARE)


def _relative(cells: sparse.csr_matrix, flow: np.ndarray, seg_area: np.ndarray, scene: np.ndarray) -> np.ndarray:
    """(N, 2) float (dx, dy): each segment's mean flow less the scene's (its median), in cells per frame.

    Args:
        cells: N segments as ``sparse_rows``.
        flow: (h, w, 2) float backward flow (dx, dy) in cells.
        seg_area: (N,) float cells of each segment.
        scene: (2,) the scene's motion (``FrameCues.scene``).
    """
    vectors = flow.reshape(-1, 2).astype(np.float32)
    mean = np.asarray(cells @ vectors) / np.maximum(seg_area, 1)[:, None]
    return np.asarray(mean - scene, float)


def _crosses(mask: np.ndarray, flow: np.ndarray, scene: np.ndarray) -> np.ndarray:
    """(2,) float (dx, dy): how an (h, w) bool mask moves across the scene (its mean flow less the ``scene``'s)."""
    return _relative(sparse_rows(mask[None]), flow, np.array([mask.sum()], float), scene)[0]


def _goes(drift: np.ndarray, relative: np.ndarray, left: bool) -> np.ndarray:
    """(N,) bool: motions across the scene that may be an object's coming back (``drift``: its own when last seen).

    The way it went, at least fast enough for motion to tell (it may have slowed down); for one that left
    the frame, either way along that line (it comes back through the edge it left by, or the camera turns
    back to it). Things at rest in the scene, and in a panning shot the blur of the background, go otherwise.

    Args:
        drift: (2,) (dx, dy) its flow less the scene's when it was last seen; at least ``_MOTION`` long.
        relative: (N, 2) flows less the scene's (``_relative``).
        left: it left the frame.
    """
    along = relative @ (drift / np.hypot(*drift))
    return np.asarray((np.abs(along) if left else along) >= _CROSS)


def _fill_box(masks: np.ndarray, box: np.ndarray, cues: FrameCues | None) -> np.ndarray:
    """The object a box selects: the segments inside it that look like its inside, not its surroundings.

    Without colours, FastSAM's choice: the segment with the highest IoU with the box.

    Args:
        masks: (N, h, w) bool segments.
        box: (4,) float xyxy on the mask grid.
        cues: the frame's colours, or None.
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
    likelihood = _ratio(*_histograms(inside, cues.colors, ring=max(2, round(0.2 * max(x2 - x1, y2 - y1)))))
    likeness = _objectness(sparse_rows(masks), likelihood[cues.colors], area)
    chosen = (held >= 0.8) & (likeness >= 0.5) & (area > 0)
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


def _flat() -> np.ndarray:
    return np.full(COLOR_BINS, 1.0 / COLOR_BINS)


def _histograms(mask: np.ndarray, colors: np.ndarray, ring: int = _RING) -> tuple[np.ndarray, np.ndarray]:
    """(COLOR_BINS,) normalised colour histograms of an (h, w) mask and of the ring of cells around it."""
    around = _grow(mask, ring) & ~mask
    inside = np.bincount(colors[mask], minlength=COLOR_BINS).astype(float)
    outside = np.bincount(colors[around], minlength=COLOR_BINS).astype(float)
    return inside / max(inside.sum(), 1.0), outside / max(outside.sum(), 1.0)


def _ratio(inside: np.ndarray, around: np.ndarray) -> np.ndarray:
    """(COLOR_BINS,) float in [0, 1]: how much more a colour belongs to the object than around it."""
    return (inside + 1e-3) / (inside + around + 2e-3)


def _likelihood(state: _Object, colors: np.ndarray) -> np.ndarray:
    """(h, w) float: each cell's colour's share of the object against its surroundings."""
    return _ratio(state.inside, state.around)[colors]


def _objectness(cells: sparse.csr_matrix, likelihood: np.ndarray, area: np.ndarray) -> np.ndarray:
    """(N,) float mean of an (h, w) likelihood over each of N masks given as ``sparse_rows``."""
    sums = np.asarray(cells @ likelihood.reshape(-1).astype(np.float32), np.float32)
    return np.divide(sums, area, out=np.zeros_like(sums), where=area > 0)


def _flow_at(flow: np.ndarray, points: np.ndarray, frame_shape: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """(K, 2) frame-pixel (dx, dy) of the backward flow at (K, 2) frame-pixel points."""
    cells = np.clip(np.floor(to_grid(points, frame_shape, grid)).astype(int), 0, [grid[1] - 1, grid[0] - 1])
    return flow[cells[:, 1], cells[:, 0]] * np.array([frame_shape[1] / grid[1], frame_shape[0] / grid[0]])


def _anchor(prompt: Prompt, frame_shape: tuple[int, int], mask_shape: tuple[int, int]) -> np.ndarray:
    """(2,) float (y, x) grid position of a prompt: its foreground points' mean, its box's centre
    or its mask's centroid (NaN for a prompt without a position)."""
    if isinstance(prompt, PointPrompt):
        xy = to_grid(prompt.points, frame_shape, mask_shape)[np.asarray(prompt.labels) == 1]
    elif isinstance(prompt, BoxPrompt):
        xy = to_grid(prompt.box.reshape(2, 2), frame_shape, mask_shape)
    elif isinstance(prompt, MaskPrompt) and prompt.mask.any():
        return _centroid(prompt.mask) + 0.5
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


def _border(shape: tuple[int, ...]) -> np.ndarray:
    """(h * w,) float32: 1 on the grid's outermost cells."""
    border = np.ones(shape, np.float32)
    border[1:-1, 1:-1] = 0
    return border.reshape(-1)


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
