"""Every transition of a prompted object's state, one by one, and the states the tracker reports end to end."""

import numpy as np
import pytest
import supervision as sv

from fastsam_track.trackers import lifecycle
from fastsam_track.trackers.appearance import Appearance, flat
from fastsam_track.trackers.flow import FrameFlow
from fastsam_track.trackers.lifecycle import TRANSITIONS, TrackedObject
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.params import ObjectParams
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import ObjectState, PointPrompt

from .test_objects import FRAME, GRID, RED, _frame, _rect, _segments

SEEN, CARRIED, SEARCHING, TRIAL, LOST = ObjectState
P = ObjectParams()


def _object(state=SEEN, area=16.0):
    mask = _rect(4, 4, 4, 4)
    obj = TrackedObject(mask, Appearance(area, flat(), flat(), np.zeros(2)))
    obj.state = state
    return obj


def _lost(crossed=False):
    obj = _object()
    obj.seen_after = 7
    obj = lifecycle.lose(obj, params=P)
    if crossed:
        lifecycle.retake(obj, _rect(5, 5, 4, 4), on_trial=True, newest=8, params=P)
    return obj


_followed = [(a, b) for a in (SEEN, CARRIED, SEARCHING) for b in (SEEN, CARRIED, SEARCHING)]


@pytest.mark.parametrize(("start", "seen_as"), _followed)
def test_a_followed_object_is_seen_carried_or_searching_and_counts_its_unconfirmed_frames(start, seen_as):
    obj = _object(start)
    obj.carried = 3 if start is not SEEN else 0
    lifecycle.observe(obj, seen_as, obj.mask, newest=5)
    assert obj.state is seen_as
    assert obj.carried == (0 if seen_as is SEEN else (4 if start is not SEEN else 1))
    assert obj.seen_after == (5 if seen_as is SEEN else -1)  # the newest track when it was last seen


@pytest.mark.parametrize("start", [SEEN, CARRIED, SEARCHING])
def test_a_followed_object_is_lost_where_it_was_and_remembers_the_newest_track_when_last_seen(start):
    """Tracks that began while it was carried or searched for (after 7) may be it: only older ones are not."""
    obj = _object(start)
    lifecycle.observe(obj, SEEN, obj.mask, newest=7)
    lifecycle.observe(obj, start, obj.mask, newest=9)
    obj.carried = 2
    lost = lifecycle.lose(obj, params=P)
    assert lost is obj and obj.state is LOST and obj.lost == 1 and obj.carried == 0
    assert obj.lost_after == (9 if start is SEEN else 7)
    assert obj.last_seen is obj.mask and not obj.left  # not at the frame's edge


def test_coasting_keeps_the_fractions_of_a_cell_and_forgets_them_once_confirmed():
    """1.4 cells a frame for five frames is 7 cells, not five frames of one; a confirmed frame starts afresh."""
    obj = _object(SEARCHING)
    obj.look.velocity = np.array([0.0, 1.4])
    for _ in range(5):
        lifecycle.observe(obj, SEARCHING, lifecycle.coast(obj), newest=5)
    assert np.argwhere(obj.mask)[:, 1].min() == 4 + 7
    lifecycle.observe(obj, SEEN, obj.mask, newest=5)
    assert np.array_equal(obj.coasted, np.zeros(2))


def test_lost_at_the_frame_edge_it_left():
    obj = _object()
    obj.mask = _rect(0, 0, 3, 3)
    assert lifecycle.lose(obj, P).left


def test_a_lost_object_not_found_stays_lost_and_is_dropped_after_max_lost_frames():
    obj, params = _lost(), ObjectParams(max_lost=3)
    assert [lifecycle.miss(obj, params) for _ in range(3)] == [False, False, True]
    assert obj.state is LOST and obj.lost == 4


def test_a_lost_object_taken_back_by_its_colours_is_seen_at_most_its_found_size():
    obj = _lost()
    lifecycle.retake(obj, _rect(5, 5, 2, 2), on_trial=False, newest=12, params=P)
    assert obj.state is SEEN and obj.lost == 0 and obj.before is None and obj.look.area == 4
    assert obj.seen_after == 12


def test_a_lost_object_taken_back_by_its_motion_is_on_trial_for_trial_frames():
    obj = _lost(crossed=True)
    assert obj.state is TRIAL and obj.trial == P.trial_frames
    assert obj.before is not None and obj.before.state is LOST and obj.before.look is not obj.look


@pytest.mark.parametrize("seen_as", [SEEN, CARRIED, SEARCHING])
def test_a_trial_goes_on_then_ends_in_what_the_last_frame_saw(seen_as):
    obj = _lost(crossed=True)
    for left in range(P.trial_frames - 1, 0, -1):
        lifecycle.observe(obj, SEEN, obj.mask, newest=8)
        assert (obj.state, obj.trial) == (TRIAL, left)
    lifecycle.observe(obj, seen_as, obj.mask, newest=8)
    assert obj.state is seen_as and obj.trial == 0


def test_a_frame_without_flow_does_not_count_towards_the_trial():
    obj = _lost(crossed=True)
    lifecycle.observe(obj, SEEN, obj.mask, newest=8, judged=False)
    assert (obj.state, obj.trial) == (TRIAL, P.trial_frames)


def test_failing_the_trial_restores_the_lost_record_counting_the_trial_frames():
    obj = _lost(crossed=True)
    lifecycle.observe(obj, SEEN, obj.mask, newest=8)
    restored = lifecycle.lose(obj, params=P)
    assert restored.state is LOST
    assert restored.lost == 1 + 1 + 1  # lost one frame, then the trial's frame and the failing one
    assert restored.lost_after == 7 and restored.trial == 0


def test_every_transition_is_in_the_table_and_no_other_is_allowed():
    states = set(ObjectState)
    assert {a for a, _ in TRANSITIONS} == states and {b for _, b in TRANSITIONS} == states
    assert (LOST, CARRIED) not in TRANSITIONS and (SEEN, TRIAL) not in TRANSITIONS
    obj = _object(LOST)
    with pytest.raises(AssertionError, match="no transition from lost to carried"):
        lifecycle.observe(obj, CARRIED, obj.mask, newest=8)
    assert all(isinstance(why, str) and why for why in TRANSITIONS.values())


def _run(frames, prompts, **changes):
    flow, objects, segment_tracker = FrameFlow(), ObjectTracker(**changes), SegmentTracker()
    states, lost = [], []
    for index, (image, segments) in enumerate(frames):
        cues = flow.update(image, GRID)
        due = [p for p in prompts if p.frame == index]
        result = objects.update(segment_tracker.update(segments, cues), FRAME, due, cues)
        states.append([ObjectState(s).label for s in result.data["object_state"]])
        lost.append(objects.lost())
    return states, lost


def test_the_tracker_reports_seen_carried_then_lost_and_drops_the_object_after_max_lost():
    # A red square the segmenter sees on frames 0-2, then never again: carried max_carried frames, lost, dropped.
    squares = [_rect(12, 8 + t, 6, 6) for t in range(12)]
    frames = [(_frame((m, RED)), _segments(m) if t < 3 else _segments()) for t, m in enumerate(squares)]
    states, lost = _run(
        frames, [PointPrompt(0, 1, np.array([[8 * 11.0, 8 * 15.0]]), np.array([1]))], max_carried=2, max_lost=3
    )
    assert states[:5] == [["seen"]] * 3 + [["carried"]] * 2
    # lost on frame 5, where the search counts its first frame; searched for max_lost frames in all, then dropped
    assert states[5:] == [[]] * 7 and lost[5:7] == [(1,)] * 2 and lost[7:] == [()] * 5


def test_the_tracker_reports_searching_when_the_flow_lost_it_and_it_coasts():
    # A red square jumps far each frame: the flow leaves its mask on the background, the segmenter misses it.
    frames = []
    for t in range(4):
        square = _rect(12, 4 + 12 * t, 6, 6)
        frames.append((_frame((square, RED)), _segments(square) if t < 2 else _segments()))
    states, _ = _run(frames, [PointPrompt(0, 1, np.array([[8 * 7.0, 8 * 15.0]]), np.array([1]))])
    assert states[0] == ["seen"] and "searching" in {s for row in states[2:] for s in row}, states


def test_detections_carry_the_state_column():
    masks = np.zeros((1, 8, 8), bool)
    masks[0, 2:6, 2:6] = True
    segments = sv.Detections(xyxy=np.array([[20, 20, 60, 60]], np.float32), mask=masks)
    result = ObjectTracker().update(segments, (80, 80), [PointPrompt(0, 3, np.array([[40.0, 40.0]]), np.array([1]))])
    assert result.data["object_state"].dtype == np.int8 and result.data["object_state"].tolist() == [SEEN]


def test_frames_between_keyframes_are_no_evidence_against_an_object():
    # The segmenter's last keyframe missed the square; the frames carried from it (keyframe False) carry the square
    # on and do not count towards max_carried: only a keyframe that still misses it lets it go.
    squares = [_rect(12, 8 + t, 6, 6) for t in range(6)]
    frames = [(_frame((m, RED)), _segments(m) if t == 0 else _segments()) for t, m in enumerate(squares)]
    prompt = PointPrompt(0, 1, np.array([[8 * 11.0, 8 * 15.0]]), np.array([1]))
    flow, objects, segment_tracker = FrameFlow(), ObjectTracker(max_carried=1), SegmentTracker()
    states = []
    for index, (image, segments) in enumerate(frames):
        cues = flow.update(image, GRID)
        keyframe = index in (0, 1, 5)
        result = objects.update(
            segment_tracker.update(segments, cues), FRAME, [prompt] if index == 0 else [], cues, keyframe
        )
        states.append([ObjectState(s).label for s in result.data["object_state"]])
    assert states == [["seen"], ["carried"], ["carried"], ["carried"], ["carried"], []]
    assert objects.lost() == (1,)


def test_colours_are_learnt_on_keyframes_only():
    square = _rect(12, 8, 6, 6)
    flow, objects = FrameFlow(), ObjectTracker()
    prompt = PointPrompt(0, 1, np.array([[8 * 11.0, 8 * 15.0]]), np.array([1]))
    cues = flow.update(_frame((square, RED)), GRID)
    objects.update(_segments(square), FRAME, [prompt], cues)
    learnt = objects.objects[1].look.inside.copy()
    for keyframe, changed in ((False, False), (True, True)):
        cues = flow.update(_frame((square, (200, 200, 200))), GRID)  # the same place turns grey
        objects.update(_segments(square), FRAME, [], cues, keyframe)
        assert (not np.array_equal(objects.objects[1].look.inside, learnt)) == changed
