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
