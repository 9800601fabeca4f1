import numpy as np
import supervision as sv

from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import TrackState


def _segments(*squares, shape=(30, 30)):
    masks = np.zeros((len(squares), *shape), bool)
    for i, (y, x, size) in enumerate(squares):
        masks[i, y : y + size, x : x + size] = True
    xyxy = np.array([[x, y, x + s, y + s] for y, x, s in squares], np.float32).reshape(-1, 4)
    return sv.Detections(xyxy=xyxy, mask=masks)


def test_identities_follow_moving_segments_whatever_their_order():
    tracker = SegmentTracker()
    first = tracker.update(_segments((0, 0, 8), (20, 20, 8)))
    moved = tracker.update(_segments((21, 21, 8), (1, 1, 8)))  # both moved a pixel, listed the other way round
    assert first.tracker_id.tolist() == [1, 2]
    assert moved.tracker_id.tolist() == [2, 1]
    assert moved.data["track_state"].tolist() == [TrackState.CONFIRMED] * 2


def test_carried_segments_keep_their_ids_without_matching_and_the_rest_age():
    """Between keyframes the segments are the last frame's carried by the flow: each goes on with its
    own track, however far it was carried (no IoU test), one carried out of the frame leaves its track
    lost, and the next keyframe matches as usual."""
    tracker = SegmentTracker()
    tracker.update(_segments((0, 0, 8), (20, 20, 8)))
    seen = tracker.update(_segments((0, 0, 8), (20, 20, 8)))
    carried = seen[np.array([True, False])]  # the second was carried out of the frame
    carried.mask = _segments((0, 12, 8)).mask  # and the first 12 cells right: no overlap with its track
    followed = tracker.follow(carried)
    assert followed.tracker_id.tolist() == [1]
    assert followed.data["track_state"].tolist() == [TrackState.CONFIRMED]
    assert tracker.state.tolist() == [TrackState.CONFIRMED, TrackState.LOST]
    again = tracker.update(_segments((21, 20, 8), (0, 13, 8)))  # the next keyframe: both seen
    assert again.tracker_id.tolist() == [2, 1]
    assert (np.diff(tracker.ids) > 0).all()  # ids ascend, which ``follow``'s lookup relies on


def test_a_carried_segment_whose_track_is_gone_starts_a_new_one():
    tracker = SegmentTracker(min_hits=1)
    tracker.update(_segments((0, 0, 8)))
    stray = _segments((10, 10, 8))
    stray.tracker_id = np.array([7])  # no such track
    assert tracker.follow(stray).tracker_id.tolist() == [2]
    assert SegmentTracker().follow(_segments((0, 0, 8))).tracker_id.tolist() == [1]  # no ids yet: as update


def test_the_input_is_not_modified():
    segments = _segments((0, 0, 8))
    SegmentTracker().update(segments)
    assert segments.tracker_id is None and "track_state" not in segments.data


def test_a_lost_track_comes_back_within_the_buffer():
    tracker = SegmentTracker(lost_buffer=3)
    for _ in range(2):
        tracker.update(_segments((0, 0, 8)))
    for _ in range(3):
        assert len(tracker.update(_segments())) == 0  # empty frames are normal
    assert tracker.update(_segments((0, 0, 8))).tracker_id.tolist() == [1]


def test_a_track_lost_too_long_is_forgotten():
    tracker = SegmentTracker(lost_buffer=2)
    for _ in range(2):
        tracker.update(_segments((0, 0, 8)))
    for _ in range(3):
        tracker.update(_segments())
    assert len(tracker) == 0
    assert tracker.update(_segments((0, 0, 8))).tracker_id.tolist() == [2]


def test_a_tentative_track_that_misses_a_frame_is_dropped():
    tracker = SegmentTracker(min_hits=2)
    tracker.update(_segments((0, 0, 8)))
    tracker.update(_segments())
    assert len(tracker) == 0


def test_lost_tracks_are_bounded():
    tracker = SegmentTracker(min_hits=1, lost_buffer=100, max_lost=3)
    tracker.update(_segments(*[(y, x, 4) for y in (0, 10, 20) for x in (0, 10)]))  # six segments
    tracker.update(_segments())
    assert len(tracker) == 3


def test_a_new_resolution_starts_over():
    tracker = SegmentTracker()
    tracker.update(_segments((0, 0, 8)))
    out = tracker.update(_segments((0, 0, 8), shape=(40, 40)))
    assert out.tracker_id.tolist() == [2] and len(tracker) == 1
