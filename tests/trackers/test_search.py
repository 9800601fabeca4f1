"""Looking for an object among free segments: close by when the flow lost it, and a lost one coming back."""

import numpy as np

from fastsam_track.trackers import lifecycle
from fastsam_track.trackers.appearance import Appearance, histograms
from fastsam_track.trackers.association import sparse_rows
from fastsam_track.trackers.explain import Segments
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.trackers.lifecycle import TrackedObject
from fastsam_track.trackers.params import ObjectParams
from fastsam_track.trackers.search import Query, astray, comeback, goes, search

P = ObjectParams()
GRID = (20, 30)


def _rect(y, x, h, w):
    mask = np.zeros(GRID, bool)
    mask[y : y + h, x : x + w] = True
    return mask


def _scene(*objects):
    """Colour bins: background 2, each (mask) painted 5."""
    colors = np.full(GRID, 2, np.intp)
    for mask in objects:
        colors[mask] = 5
    return colors


def _segments(masks, ids):
    stack = np.array(masks, bool)
    return Segments(
        stack,
        sparse_rows(stack),
        stack.sum((1, 2)).astype(np.float32),
        np.array(ids),
        np.full(len(ids), np.nan),
        stack.any(0),
    )


def _object(mask, colors):
    inside, around = histograms(mask, colors, P.ring)
    return TrackedObject(mask, Appearance(float(mask.sum()), inside, around, np.zeros(2)))


def test_search_finds_the_alike_segment_near_and_of_its_size():
    start = _rect(5, 5, 4, 4)
    obj = _object(start, _scene(start))
    there, far, huge = _rect(5, 9, 4, 4), _rect(14, 24, 4, 4), _rect(0, 14, 20, 6)
    segs = _segments([there, far], [1, 2])
    cues = FrameCues(None, _scene(there, far))
    query = Query(_rect(3, 3, 10, 14), start, 16.0, P.search_smallest, P.objectness)
    assert np.array_equal(search(obj, segs, cues, np.zeros(GRID, bool), query, P), there)
    # held by another object, or too large: not it
    assert search(obj, segs, cues, there, query, P) is None
    segs = _segments([huge], [3])
    assert search(obj, segs, FrameCues(None, _scene(huge)), np.zeros(GRID, bool), query, P) is None


def test_astray_looks_around_the_moved_mask_and_where_its_velocity_goes():
    obj = _object(_rect(5, 5, 4, 4), _scene(_rect(5, 5, 4, 4)))
    obj.look.velocity = np.array([0.0, 6.0])
    query = astray(obj, _rect(5, 6, 4, 4), P)
    assert query.near[6, 13] and query.near[6, 16] and not query.near[19, 29]


def test_astray_reaches_farther_the_longer_a_moving_object_went_unconfirmed():
    """Its velocity is an estimate: after three unconfirmed frames at 1.5 cells a frame, the look widens by 4.5."""
    obj = _object(_rect(8, 12, 4, 4), _scene(_rect(8, 12, 4, 4)))
    obj.look.velocity = np.array([0.0, 1.5])
    first = astray(obj, obj.mask, P).near
    obj.carried = 3
    later = astray(obj, obj.mask, P).near
    assert first[9, 20] and not first[9, 23] and not first[9, 4]
    assert later[9, 23] and later[9, 4] and later.sum() > first.sum()
    obj.look.velocity = np.zeros(2)  # an object at rest: no wider after unconfirmed frames
    assert np.array_equal(astray(obj, obj.mask, P).near, astray(_object(obj.mask, _scene(obj.mask)), obj.mask, P).near)


def test_comeback_takes_only_new_tracks_and_for_one_that_left_those_at_the_edge():
    obj = _object(_rect(5, 0, 4, 4), _scene(_rect(5, 0, 4, 4)))
    obj.seen_after = 10
    obj = lifecycle.lose(obj, params=P)
    assert obj.left
    inside, at_edge, old = _rect(5, 8, 4, 4), _rect(5, 0, 4, 3), _rect(12, 0, 4, 3)
    segs = _segments([inside, at_edge, old], [11, 12, 3])
    query = comeback(obj, segs, FrameCues(None, _scene(inside, at_edge, old)), P)
    assert query.allowed.tolist() == [False, True, False] and query.joins.tolist() == [True, True, False]
    assert obj.entered == {12} and query.smallest == P.reentry and not query.crossed


def test_goes_the_way_it_went_or_either_way_for_one_that_left():
    motions = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0], [0.5, 0.0]])
    drift = np.array([4.0, 0.0])
    assert goes(drift, motions, False, P).tolist() == [True, False, False, False]
    assert goes(drift, motions, True, P).tolist() == [True, True, False, False]
