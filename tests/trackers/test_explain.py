"""Association of an object's moved mask with the frame's segments, on small drawn grids."""

import numpy as np
import pytest

from fastsam_track.trackers.appearance import Appearance, flat
from fastsam_track.trackers.association import sparse_rows
from fastsam_track.trackers.explain import Evidence, Segments, explain, motion_share, moves_with, weigh
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.trackers.lifecycle import TrackedObject
from fastsam_track.trackers.params import ObjectParams

P = ObjectParams()


def _rect(y, x, h, w, grid=(20, 20)):
    mask = np.zeros(grid, bool)
    mask[y : y + h, x : x + w] = True
    return mask


def _segments(*masks, ids=None):
    stack = np.array(masks, bool)
    cells = sparse_rows(stack)
    ids = np.arange(len(stack)) if ids is None else np.asarray(ids)
    before = np.full(len(stack), np.nan)
    return Segments(stack, cells, stack.sum((1, 2)).astype(np.float32), ids, before, stack.any(0))


def _evidence(segs, warped, alike=None, took_in=None, likely=None, typical=None, confirm=P.confirm):
    n = len(segs.masks)
    inter = segs.masks[:, warped].sum(1).astype(np.float32)
    return Evidence(
        warped,
        inter,
        np.ones(n, bool) if alike is None else np.asarray(alike),
        np.zeros(n, bool),
        np.ones(n, bool) if took_in is None else np.asarray(took_in),
        np.ones(warped.shape) if likely is None else likely,
        np.zeros(warped.shape, bool),
        float(warped.sum()) if typical is None else typical,
        confirm,
        None,
    )


def test_parts_inside_are_taken_together():
    warped = _rect(4, 4, 6, 8)
    segs = _segments(_rect(4, 4, 6, 4), _rect(4, 8, 6, 4), _rect(14, 14, 3, 3))
    mask, clipped = explain(segs, _evidence(segs, warped), P)
    assert mask is not None and np.array_equal(mask, warped) and not clipped


def test_a_merge_with_a_neighbour_is_clipped_to_the_moved_mask():
    warped = _rect(4, 4, 6, 6)
    segs = _segments(_rect(4, 4, 6, 16))  # the object and a neighbour as one segment, too large to take whole
    mask, clipped = explain(segs, _evidence(segs, warped), P)
    assert clipped and np.array_equal(mask, warped)


def test_a_merge_that_did_not_take_the_object_in_is_not_clipped():
    warped = _rect(4, 4, 6, 6)
    segs = _segments(_rect(4, 4, 6, 16))
    mask, clipped = explain(segs, _evidence(segs, warped, took_in=[False]), P)
    assert mask is None and not clipped


@pytest.mark.parametrize(
    ("confirm", "confirmed"),
    [
        (P.confirm, False),  # a third of the moved mask does not confirm a seen object
        (P.carried_confirm, True),  # it does confirm a carried one
    ],
)
def test_the_share_that_confirms(confirm, confirmed):
    warped = _rect(0, 0, 6, 6)
    segs = _segments(_rect(0, 0, 2, 6), _rect(10, 10, 4, 4))  # 12 of 36 cells
    mask, _ = explain(segs, _evidence(segs, warped, confirm=confirm), P)
    assert (mask is not None) == confirmed


def test_segments_unlike_the_object_are_not_taken():
    warped = _rect(4, 4, 6, 6)
    segs = _segments(_rect(4, 4, 6, 6))
    unlike = np.zeros(warped.shape)  # nor is it clipped as a merge: what would be clipped does not look like it
    assert explain(segs, _evidence(segs, warped, alike=[False], likely=unlike), P)[0] is None


def test_weigh_reads_a_carried_mask_with_the_lower_share_and_no_segments_alike_without_colours():
    obj = TrackedObject(_rect(4, 4, 4, 4), Appearance(16.0, flat(), flat(), np.zeros(2)))
    segs = _segments(_rect(4, 4, 4, 4))
    inter = np.array([16.0], np.float32)
    assert weigh(obj, obj.mask, inter, segs, None, P).confirm == P.confirm
    obj.carried = 1
    evidence = weigh(obj, obj.mask, inter, segs, None, P)
    assert evidence.confirm == P.carried_confirm and evidence.along is None and evidence.alike.tolist() == [True]
    colors = np.zeros((20, 20), np.intp)
    assert weigh(obj, obj.mask, inter, segs, FrameCues(None, colors), P).likely.shape == (20, 20)


def test_motion_share_tells_the_object_from_the_scene():
    flow = np.zeros((10, 10, 2), np.float32)
    flow[2:5, 2:5] = (-4.0, 0.0)  # the object moves 4 cells right across a still scene
    warped = _rect(2, 2, 3, 3, (10, 10))
    share = motion_share(warped, flow, np.zeros(2, np.float32), P)
    assert share[3, 3] == 1 and share[8, 8] == 0
    cells = sparse_rows(np.array([warped, _rect(7, 7, 3, 3, (10, 10))]))
    assert moves_with(share, cells, np.array([9.0, 9.0]), P).tolist() == [True, False]
    # moving with the scene, motion tells nothing: every cell counts as moving with it
    assert np.all(motion_share(warped, np.zeros_like(flow), np.zeros(2, np.float32), P) == 1)
