"""Looking for an object among the frame's free segments: one the flow lost, or one lost and coming back.

A lost object is taken back only by segments near where it was last seen (the search widens with
time), of its typical size, whose colours agree with it and that appeared after it was last seen (or
were its parts; a fast object the flow lost while carrying it turns up in such a track before it is
lost): a look-alike in view all along is not it. One that left the frame comes back through
the frame's edge. One that moved across the scene when last seen comes back moving across it, the
way it went (either way along that line if it left the frame); its colours then need to agree less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from fastsam_track.trackers.association import few_overlaps, sparse_rows
from fastsam_track.trackers.explain import Segments
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.trackers.lifecycle import TrackedObject
from fastsam_track.trackers.motion import grow, shift
from fastsam_track.trackers.params import ObjectParams

__all__ = ["Query", "astray", "comeback", "crosses", "goes", "search"]


@dataclass(frozen=True)
class Query:
    """Where and what to look for.

    Attributes:
        near: (h, w) bool where to look: a segment mostly inside it qualifies.
        expected: (h, w) bool where it should be: of two alike segments, the one more inside it wins.
        size: its size in cells: what is found must be at most ``search_size`` times that.
        smallest: the share of ``size`` what is found must have at least.
        colours: the colour agreement a segment needs.
        allowed: (N,) bool the segments it may be (None: any).
        joins: (N,) bool the segments that may join the one found, touching it (None: ``allowed``).
        crossed: it was taken back by its motion across the scene (it goes on trial).
    """

    near: np.ndarray
    expected: np.ndarray
    size: float
    smallest: float
    colours: float
    allowed: np.ndarray | None = None
    joins: np.ndarray | None = None
    crossed: bool = False


def astray(obj: TrackedObject, warped: np.ndarray, p: ObjectParams) -> Query:
    """Where to look for an object whose moved mask ``warped`` lies on colours unlike it: close by, and where its
    own velocity would have taken it (the flow misses fast, small objects)."""
    ahead = warped | shift(obj.mask, *obj.look.velocity)
    # Its velocity is an estimate: the farther it coasted, the farther from there it may be.
    reach = int(np.sqrt(obj.look.area) * p.search_reach + np.hypot(*obj.look.velocity) * (1 + obj.carried)) + 1
    size = max(float(np.count_nonzero(obj.mask)), obj.look.area)
    return Query(grow(ahead, reach), warped, size, p.search_smallest, p.objectness)


def comeback(obj: TrackedObject, segs: Segments, cues: FrameCues | None, p: ObjectParams) -> Query:
    """Where and what to look for to take a lost object back (remembers the tracks that came in at the edge)."""
    assert obj.last_seen is not None
    # The search widens the longer it has been gone, from where it was last seen, and where its motion went.
    reach = int(np.ceil(np.sqrt(obj.look.area) * (1.0 + p.reach_widen * obj.lost)))
    ahead = obj.last_seen | shift(obj.last_seen, *(obj.look.velocity * obj.lost))
    # Its typical size: it was lost shrinking (going behind something, leaving), and comes back whole.
    seen = max(float(np.count_nonzero(obj.last_seen)), obj.look.area)
    ids = segs.track_ids
    new = (ids < 0) | (ids > obj.lost_after) | np.isin(ids, list(obj.parts))
    back = new.copy()
    crossed = cues is not None and cues.flow is not None and np.hypot(*obj.drift) >= p.motion
    if crossed:
        assert cues is not None and cues.flow is not None  # crossed says so
        area = segs.area.astype(float)  # (the cells' counts)
        back &= goes(obj.drift, relative(segs.cells, cues.flow, area, cues.scene), obj.left, p)
    first = back
    if obj.left:
        # What left the frame comes back through its edge: segments at it, or that were at it since it left (the
        # segment tracker follows them in), and the pieces of it that touch one.
        edge = new & (np.asarray(segs.cells @ _border(segs.masks.shape[1:])) > 0)
        obj.entered |= set(ids[edge & (ids >= 0)].tolist())
        first = back & (edge | np.isin(ids, list(obj.entered)))
    return Query(
        grow(ahead, reach),
        ahead,
        seen,
        p.reentry if obj.left else p.search_smallest,
        p.alike if crossed else p.objectness,
        first,
        back,
        bool(crossed),
    )


def search(
    obj: TrackedObject, segs: Segments, cues: FrameCues, held: np.ndarray, query: Query, p: ObjectParams
) -> np.ndarray | None:
    """(h, w) bool: the object among free segments that look like it, mostly inside ``query.near`` (None: not
    there); ``held`` (h, w) bool the cells other objects hold."""
    masks, cells = segs.masks, segs.cells
    if len(masks) == 0:
        return None
    # The segments' cells in the three masks, counted, and their sums of the object's colour likelihood.
    inter, area = few_overlaps(np.stack([held, query.near, query.expected]), cells)[0], segs.area
    liking = np.asarray(cells @ obj.look.likelihood(cues.colors, p).astype(np.float32).reshape(-1), np.float32)
    free = (inter[0] < p.search_free * area) & (area > 0)
    likeness = np.divide(liking, area, out=np.zeros_like(liking), where=area > 0)
    close = inter[1] > p.search_close * area
    like = free & close & (likeness >= query.colours) & (area <= p.search_size * query.size)
    seeds = np.flatnonzero(like if query.allowed is None else like & query.allowed)
    if len(seeds) == 0:
        return None
    # The seed that looks most like it and lies most where it should be, and the like segments that touch it.
    seed = seeds[np.argmax(likeness[seeds] + p.seed_inside * inter[2, seeds] / area[seeds])]
    others = seeds if query.joins is None else np.flatnonzero(like & query.joins)
    touching = few_overlaps(grow(masks[seed], 1)[None], cells)[0][0, others] > 0
    found = masks[others[touching]].any(axis=0) | masks[seed]
    return found if query.smallest * query.size <= np.count_nonzero(found) <= p.search_size * query.size else None


def relative(cells: sparse.csr_matrix, flow: np.ndarray, seg_area: np.ndarray, scene: np.ndarray) -> np.ndarray:
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


def crosses(mask: np.ndarray, flow: np.ndarray, scene: np.ndarray) -> np.ndarray:
    """(2,) float (dx, dy): how an (h, w) bool mask moves across the scene (its mean flow less the ``scene``'s)."""
    return relative(sparse_rows(mask[None]), flow, np.array([mask.sum()], float), scene)[0]


def goes(drift: np.ndarray, motion: np.ndarray, left: bool, p: ObjectParams) -> np.ndarray:
    """(N,) bool: motions across the scene that may be an object's coming back (``drift``: its own when last seen).

    The way it went, at least fast enough for motion to tell (it may have slowed down); for one that left the
    frame, either way along that line (it comes back through the edge it left by, or the camera turns back to
    it). Things at rest in the scene, and in a panning shot the blur of the background, go otherwise.

    Args:
        drift: (2,) (dx, dy) its flow less the scene's when it was last seen; at least ``motion`` long.
        motion: (N, 2) flows less the scene's (``relative``).
        left: it left the frame.
        p: the parameters (``cross``).
    """
    along = motion @ (drift / np.hypot(*drift))
    return np.asarray((np.abs(along) if left else along) >= p.cross)


def _border(shape: tuple[int, ...]) -> np.ndarray:
    """(h * w,) float32: 1 on the grid's outermost cells."""
    border = np.ones(shape, np.float32)
    border[1:-1, 1:-1] = 0
    return border.reshape(-1)
