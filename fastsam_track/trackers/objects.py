"""Prompted objects carried through a video by optical flow, confirmed by the frame's segments.

Each frame, every object's last mask is moved by the dense optical flow (``FrameFlow``): that is where
it should be now. What of this frame's segments explains the moved mask is the object (``explain``);
when nothing does, the moved mask itself is its output for a while (``lifecycle``: the states and the
transitions, drawn in the README); a lost object is searched for (``search``); colours, size and
velocity are learnt from the views the segments confirm (``appearance``); prompts start objects
(``prompting``). Every threshold is a field of ``ObjectParams``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import supervision as sv
from scipy import sparse

from fastsam_track.errors import UsageError
from fastsam_track.trackers import lifecycle
from fastsam_track.trackers.appearance import Appearance
from fastsam_track.trackers.association import few_overlaps, sparse_rows
from fastsam_track.trackers.explain import Segments, explain, likelihoods, likely_sums, median_flow, weigh
from fastsam_track.trackers.flow import FrameCues, warp
from fastsam_track.trackers.lifecycle import TrackedObject
from fastsam_track.trackers.motion import boxes_of, touches_edge
from fastsam_track.trackers.params import ObjectParams
from fastsam_track.trackers.prompting import PromptResolver
from fastsam_track.trackers.search import astray, comeback, crosses, goes, search
from fastsam_track.types import OBJECT_STATE, PROPAGATED, SEGMENTS, ObjectState, Prompt

__all__ = ["ObjectParams", "ObjectTracker"]

SEEN, CARRIED, SEARCHING, TRIAL, LOST = ObjectState


class ObjectTracker:
    """Follow prompted objects through a video.

    Args:
        params: every threshold and weight (``ObjectParams``); None for the defaults.
        smooth: morphological close/open reach (in mask cells) applied to prompted masks.
        **changes: ``ObjectParams`` fields that differ from ``params`` (``pending_frames=0``).

    Example:
        >>> from fastsam_track.types import PointPrompt
        >>> masks = np.zeros((1, 8, 8), bool); masks[0, 2:6, 2:6] = True
        >>> segments = sv.Detections(xyxy=np.array([[20, 20, 60, 60]], np.float32), mask=masks)
        >>> tracker = ObjectTracker()
        >>> prompt = PointPrompt(0, 7, np.array([[40.0, 40.0]]), np.array([1]))
        >>> tracker.update(segments, (80, 80), [prompt]).tracker_id.tolist()
        [7]
    """

    def __init__(self, params: ObjectParams | None = None, smooth: int = 0, **changes: Any):
        if smooth < 0:
            raise UsageError(f"smooth must be 0 or more, got {smooth}")
        self.params = replace(params or ObjectParams(), **changes)
        self.prompts = PromptResolver(self.params, smooth)
        self.objects: dict[int, TrackedObject] = {}
        # Recent segment tracks' ids, ascending, and their areas when last seen.
        self._tracks, self._areas = np.zeros(0, int), np.zeros(0)
        self._newest = -1  # the newest segment track id seen

    def reset(self) -> None:
        """Forget every object and pending prompt."""
        self.objects.clear()
        self.prompts.reset()
        self._tracks, self._areas = np.zeros(0, int), np.zeros(0)
        self._newest = -1

    def update(
        self,
        segments: sv.Detections,
        frame_shape: tuple[int, int],
        prompts: Sequence[Prompt] = (),
        cues: FrameCues | None = None,
        keyframe: bool = True,
        cells: sparse.csr_matrix | None = None,
    ) -> sv.Detections:
        """Carry the objects into this frame, then apply this frame's prompts.

        Args:
            segments: the frame's N segments, ``mask`` (N, h, w) bool.
            frame_shape: (H, W) of the frame, to place prompt coordinates on the mask grid.
            prompts: prompts given on this frame.
            cues: the frame's flow and colours (``FrameFlow.update``); without them objects do
                not move between segments' confirmations and a lost object is not taken back.
            keyframe: False for a frame the network did not see, whose ``segments`` are the last
                keyframe's carried by the flow: they may confirm an object, but are no evidence
                against one (it is not lost, and the frame does not count towards ``max_carried``),
                and its colours are not learnt there (a carried mask may have slid off it).
            cells: ``segments``' masks as ``association.sparse_rows`` when the caller has them (the segment
                tracker's), None to make them here.

        Returns:
            One row per object on this frame: ``mask`` (K, h, w) bool, ``xyxy`` (K, 4) float32
            frame pixels, ``tracker_id`` (K,) the object ids, ``data["segments"]`` a (K, N) bool
            matrix saying which of the frame's segments make up each object, ``data["propagated"]``
            (K,) bool, True where no segment confirmed the mask (the flow carried it), and
            ``data["object_state"]`` (K,) int8 ``ObjectState``.

        Warns:
            PromptWarning: a prompt selects nothing, and a point prompt still hits no segment
                ``pending_frames`` frames later (the message names the object and frame).
        """
        masks = np.asarray(segments.mask)
        mask_shape = (int(masks.shape[1]), int(masks.shape[2]))
        if cues is not None and cues.colors.shape != mask_shape:
            raise UsageError(f"cues are for a {cues.colors.shape} grid, the segments' masks are {mask_shape}")
        if cells is None or cells.shape != (len(masks), mask_shape[0] * mask_shape[1]):
            cells = sparse_rows(masks)  # every overlap of this frame's segments is a product with these
        track_ids = np.asarray(segments.tracker_id) if segments.tracker_id is not None else np.full(len(masks), -1)
        self._newest = max(self._newest, int(track_ids.max(initial=-1)))
        covered = np.zeros(mask_shape, bool)
        covered.reshape(-1)[cells.indices] = True
        before = np.full(len(masks), np.nan)  # each segment's track's area when last seen (NaN: a new track)
        if len(self._tracks):
            at = np.minimum(np.searchsorted(self._tracks, track_ids), len(self._tracks) - 1)
            found = self._tracks[at] == track_ids
            before[found] = self._areas[at[found]]
        segs = Segments(masks, cells, np.diff(cells.indptr).astype(np.float32), track_ids, before, covered)
        rows, carried = self._follow(segs, cues, keyframe)
        confirmed = {i: m for i, m in rows.items() if i not in carried}
        for object_id, whole in self.prompts.grow(confirmed, masks, cues).items():
            obj, grown = self.objects[object_id], Appearance.of(whole, cues, self.params)  # a point's part grown
            rows[object_id] = obj.mask = whole  # to what moves with it: its size and colours are the whole's
            obj.look.area, obj.look.inside, obj.look.around = grown.area, grown.inside, grown.around
        for object_id, mask in self.prompts.resolve(masks, frame_shape, prompts, cues).items():
            if mask is None:
                self.objects.pop(object_id, None)
                continue
            look = Appearance.of(mask, cues, self.params)
            self.objects[object_id] = TrackedObject(mask, look, seen_after=self._newest)
            rows[object_id] = mask
        rows = {i: mask for i, mask in rows.items() if i in self.objects}  # removed by a prompt
        for object_id, obj in self.objects.items():
            seen = object_id in rows and object_id not in carried
            if seen:  # colours only from keyframes, and not from a part clipped from a merge (it holds some neighbour)
                obj.look.learn(rows[object_id], cues, self.params, colors=keyframe and not obj.clipped)
            lifecycle.end_frame(obj, seen)
        ids = np.array(sorted(rows), int)
        stack = np.array([rows[i] for i in ids], bool).reshape(len(ids), *mask_shape)
        inter = few_overlaps(stack, cells)[0]
        part_of = np.divide(inter, segs.area[None], out=np.zeros_like(inter), where=segs.area[None] > 0)
        self._remember(ids, stack, inter, part_of >= self.params.part_share, segs, carried)
        return sv.Detections(
            xyxy=boxes_of(stack, frame_shape),
            mask=stack,
            tracker_id=ids,
            data={
                SEGMENTS: part_of >= self.params.part_share,
                PROPAGATED: np.array([i in carried for i in ids], bool),
                OBJECT_STATE: np.array([self.objects[i].state for i in ids], np.int8),
            },
        )

    def lost(self) -> tuple[int, ...]:
        """Ids of the objects searched for that have no mask now (``ObjectState.LOST``), ascending."""
        return tuple(sorted(i for i, obj in self.objects.items() if obj.state is LOST))

    def _remember(
        self,
        ids: np.ndarray,
        stack: np.ndarray,
        inter: np.ndarray,
        parts_of: np.ndarray,
        segs: Segments,
        carried: set[int],
    ) -> None:
        """Keep each object's segment tracks (its parts, and one that holds most of it: a merge it was clipped
        from) and the areas of recent segment tracks; ``inter`` (K, N) the objects' overlaps with the segments,
        ``parts_of`` (K, N) bool which are their parts."""
        holds = inter >= self.params.holder_share * stack.sum(axis=(1, 2))[:, None]
        track_ids = segs.track_ids
        for object_id, parts, holders in zip(ids, parts_of, holds, strict=True):
            obj = self.objects[object_id]
            obj.tracks = set(track_ids[(parts | holders) & (track_ids >= 0)].tolist())
            if object_id not in carried and not obj.clipped:
                obj.parts = set(track_ids[parts & (track_ids >= 0)].tolist())
        known = track_ids >= 0
        # Tracks the segment tracker takes back after a miss keep their last area: they are not new.
        recent = self._tracks > self._newest - self.params.recent_tracks
        tracks = np.concatenate([self._tracks[recent], track_ids[known]])
        areas = np.concatenate([self._areas[recent], segs.area[known].astype(float)])
        order = np.argsort(tracks, kind="stable")  # a track on this frame comes after its older area: it wins
        tracks, areas = tracks[order], areas[order]
        last = np.ones(len(tracks), bool)
        last[:-1] = tracks[1:] != tracks[:-1]
        self._tracks, self._areas = tracks[last], areas[last]

    def _follow(self, segs: Segments, cues: FrameCues | None, keyframe: bool) -> tuple[dict[int, np.ndarray], set[int]]:
        """Each followed object's mask on this frame, and the ids of those no segment confirmed; between keyframes
        an object that would be lost is carried by the flow instead (the next keyframe judges it)."""
        flow = cues.flow if cues is not None else None
        ids = list(self.objects)
        objects = [self.objects[i] for i in ids]
        warped = warp(np.array([o.mask for o in objects], bool).reshape(len(ids), *segs.masks.shape[1:]), flow)
        inter, warped_area = few_overlaps(warped, segs.cells)
        # A segment goes to the object that holds most of it.
        owner = np.argmax(inter, axis=0) if len(ids) else np.zeros(len(segs.masks), int)
        p = self.params
        # What every followed object reads of the segments, worked out for all of them at once.
        active = [k for k, obj in enumerate(objects) if obj.state is not LOST]
        likely = likelihoods([objects[k] for k in active], segs.covered.shape, cues, p)
        sums = likely_sums(segs.cells, likely, warped[active])
        known = np.zeros(self._newest + 2, bool)  # by track id; the last (-1: no track) never set
        rows: dict[int, np.ndarray] = {}
        carried: set[int] = set()
        for j, k in enumerate(active):
            object_id, obj = ids[k], objects[k]
            if warped_area[k] < p.gone_area * obj.look.area and (keyframe or not warped[k].any()):  # vanished
                self.objects[object_id] = lifecycle.lose(obj, p)
                continue
            known[:] = False
            known[list(obj.tracks | obj.parts)] = True
            was_part = known[segs.track_ids]
            evidence = weigh(
                obj, warped[k], np.where(owner == k, inter[k], 0.0), segs, cues, p, likely[j], sums[j], was_part
            )
            mask, clipped = explain(segs, evidence, p)
            obj.clipped = clipped and mask is not None
            # The moved mask lies on what does not look like the object: the flow lost it (fast, small, or drifted)
            # or it went behind something, rather than the segmenter missing it.
            off = cues is not None and obj.look.off(evidence.likely, warped[k], p)
            if mask is None and cues is not None and off:
                others = np.asarray(np.delete(warped, k, axis=0).any(axis=0))
                mask = search(obj, segs, cues, others, astray(obj, warped[k], p), p)
            seen_as = SEEN
            if mask is None:
                if keyframe and self._lets_go(obj, warped[k], warped_area[k], cues):
                    self.objects[object_id] = lifecycle.lose(obj, p)
                    continue
                # Carried by the flow; where the flow has lost it, by its own motion (coasting behind an occluder).
                mask = lifecycle.coast(obj) if off else warped[k]
                seen_as = SEARCHING if off else CARRIED
                carried.add(object_id)
            elif flow is not None and np.count_nonzero(mask) >= p.whole_view * obj.look.area and obj.state is not TRIAL:
                # Its motion across the scene, not over a partial view; nor while what was taken back is on trial.
                obj.drift = median_flow(flow, mask) - cues.scene  # type: ignore[union-attr]
            if obj.state is TRIAL and flow is not None:
                # Taken back moving across the scene, it goes on doing so: what comes to rest with the scene or turns
                # at once was something else (a piece of what it went behind, of the background that moved with it).
                assert obj.before is not None and cues is not None
                if keyframe and not goes(obj.drift, crosses(mask, flow, cues.scene)[None], obj.before.left, p)[0]:
                    carried.discard(object_id)
                    self.objects[object_id] = lifecycle.lose(obj, p)
                    continue
            lifecycle.observe(obj, seen_as, mask, self._newest, judged=flow is not None, counts=keyframe)
            rows[object_id] = mask
        self._reacquire(segs, cues, rows)
        return rows, carried

    def _lets_go(self, obj: TrackedObject, warped: np.ndarray, area: float, cues: FrameCues | None) -> bool:
        """Whether an object no segment confirms is lost rather than carried: it is mostly out of the frame (what
        the flow leaves at the edge is no view of it), the flow carries its mask back against the way it went
        across the scene (the mask went with what passed in front of it), or it was carried long enough."""
        p = self.params
        leaving = touches_edge(warped) and area < p.leaving_area * obj.look.area
        speed = float(np.hypot(*obj.drift))
        hidden = (
            cues is not None
            and cues.flow is not None
            and speed >= p.motion
            and float(crosses(warped, cues.flow, cues.scene) @ obj.drift) / speed <= -p.cross
        )
        return leaving or hidden or obj.carried >= p.max_carried

    def _reacquire(self, segs: Segments, cues: FrameCues | None, rows: dict[int, np.ndarray]) -> None:
        """Take lost objects back where free segments look like them (``search.comeback``); drop those searched
        for ``max_lost`` frames."""
        lost = [i for i, o in self.objects.items() if o.state is LOST]
        if not lost:
            return
        held = np.asarray(np.array(list(rows.values()), bool).reshape(-1, *segs.masks.shape[1:]).any(axis=0))
        for object_id in lost:
            obj = self.objects[object_id]
            query = comeback(obj, segs, cues, self.params)
            found = None if cues is None else search(obj, segs, cues, held, query, self.params)
            if found is None:
                if lifecycle.miss(obj, self.params):
                    del self.objects[object_id]
                continue
            lifecycle.retake(obj, found, query.crossed, self._newest, self.params)
            rows[object_id] = found
            held |= found
