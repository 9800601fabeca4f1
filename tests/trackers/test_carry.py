"""Segments carried to a frame the network did not see: masks, per-cell columns and boxes move with the flow."""

from __future__ import annotations

import numpy as np
import supervision as sv

from fastsam_track.trackers.carry import carry, gather
from fastsam_track.trackers.flow import warp
from fastsam_track.types import PROPAGATED


def _segments() -> sv.Detections:
    masks = np.zeros((2, 6, 8), bool)
    masks[0, 1:3, 1:3] = True  # moves two cells right and stays in
    masks[1, 2:4, 6:8] = True  # at the right edge: carried out of the frame
    return sv.Detections(
        xyxy=np.array([[4, 4, 12, 12], [24, 8, 32, 16]], np.float32),
        mask=masks,
        confidence=np.array([0.9, 0.8], np.float32),
        tracker_id=np.array([3, 4]),
        data={"logits": np.where(masks, 200, 10).astype(np.uint8), "color": np.ones((2, 3), np.float32)},
    )


def test_masks_columns_and_boxes_move_with_the_flow_and_are_marked() -> None:
    flow = np.zeros((6, 8, 2), np.float32)
    flow[..., 0] = -2  # every cell came from two cells to its left: the scene moved right
    moved = carry(_segments(), flow, (24, 32))
    assert moved.tracker_id.tolist() == [3]  # the one at the edge left the frame
    expected = np.zeros((6, 8), bool)
    expected[1:3, 3:5] = True
    assert (moved.mask[0] == expected).all()
    assert (moved.data["logits"][0] == np.where(expected, 200, np.where(np.arange(8) >= 2, 10, 0))).all()
    assert moved.xyxy.tolist() == [[12.0, 4.0, 20.0, 12.0]]  # two cells of 4 pixels to the right
    assert moved.data[PROPAGATED].tolist() == [True] and moved.confidence.tolist() == [np.float32(0.9)]


def test_without_motion_segments_stay_and_are_still_marked() -> None:
    moved = carry(_segments(), None, (24, 32))
    assert moved.tracker_id.tolist() == [3, 4] and moved.data[PROPAGATED].tolist() == [True, True]
    empty = carry(sv.Detections(xyxy=np.zeros((0, 4), np.float32), mask=np.zeros((0, 6, 8), bool)), None, (24, 32))
    assert len(empty) == 0 and empty.data[PROPAGATED].shape == (0,)


def test_gather_is_the_flows_warp_for_masks() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((3, 9, 11)) > 0.5
    flow = rng.normal(0, 2, (9, 11, 2)).astype(np.float32)
    assert (gather(masks, flow) == warp(masks, flow)).all()
