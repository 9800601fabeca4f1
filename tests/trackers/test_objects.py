"""The object tracker on hand-made segment sequences: splits, merges, occlusion, exit and re-entry."""

import warnings

import numpy as np
import pytest
import supervision as sv

from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.prompting import PromptWarning
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, PointPrompt, RemovePrompt

GRID = (40, 60)
FRAME = (320, 480)  # 8 pixels per cell


def _rect(y, x, h, w):
    mask = np.zeros(GRID, bool)
    mask[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)] = True
    return mask


def _segments(*masks, colors=None):
    stack = np.array([m for m in masks if m.any()], bool).reshape(-1, *GRID)
    data = {"color": np.array(colors, float)} if colors is not None else {}
    return sv.Detections(xyxy=np.zeros((len(stack), 4), np.float32), mask=stack, data=data)


def _follow(frames, prompt):
    """Run the segment tracker and the object tracker; return object 1's mask per frame (None if unseen)."""
    objects, segments_tracker = ObjectTracker(), SegmentTracker()
    out = []
    for index, segments in enumerate(frames):
        result = objects.update(segments_tracker.update(segments), FRAME, [prompt] if index == 0 else [])
        seen = result.mask[result.tracker_id == 1]
        out.append(seen[0] if len(seen) else None)
    return out


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def _point(y, x):
    return PointPrompt(0, 1, np.array([[x * 8 + 4.0, y * 8 + 4.0]]), np.array([1]))


def test_follows_a_moving_object_past_a_still_neighbour():
    frames = [_segments(_rect(10, 5 + 2 * t, 8, 8), _rect(25, 30, 8, 8)) for t in range(10)]
    masks = _follow(frames, _point(14, 9))
    assert all(_iou(m, _rect(10, 5 + 2 * t, 8, 8)) > 0.9 for t, m in enumerate(masks))


def test_split_parts_are_taken_together():
    whole = [_segments(_rect(10, 10 + t, 10, 10)) for t in range(3)]
    split = [_segments(_rect(10, 10 + t, 10, 5), _rect(10, 15 + t, 10, 5)) for t in range(3, 6)]
    masks = _follow(whole + split, _point(15, 15))
    assert all(_iou(m, _rect(10, 10 + t, 10, 10)) > 0.9 for t, m in enumerate(masks))


def test_a_merged_neighbour_is_clipped_away():
    target, neighbour = _rect(10, 10, 10, 10), _rect(10, 20, 10, 12)
    apart = [_segments(target, neighbour) for _ in range(3)]
    merged = [_segments(target | neighbour) for _ in range(3)]
    masks = _follow(apart + merged + apart, _point(15, 15))
    assert all(_iou(m, target) > 0.9 for m in masks)


def test_picked_up_again_after_a_short_occlusion():
    frames = [_segments(_rect(10, 10 + t, 10, 10)) for t in range(4)]
    frames += [_segments() for _ in range(3)]  # hidden, and empty frames are normal
    frames += [_segments(_rect(10, 10 + t, 10, 10)) for t in range(7, 10)]
    masks = _follow(frames, _point(15, 15))
    assert all(m is None for m in masks[4:7])
    assert all(_iou(m, _rect(10, 10 + t, 10, 10)) > 0.9 for t, m in zip(range(7, 10), masks[7:], strict=True))


def test_picked_up_again_after_leaving_the_frame():
    out = [_rect(10, 45 + 4 * t, 10, 10) for t in range(5)]  # leaves on the right
    back = [_rect(10, 56 - 4 * (t - 8), 10, 10) for t in range(8, 12)]  # comes back
    frames = [_segments(m, _rect(30, 5, 6, 20)) for m in out]
    frames += [_segments(_rect(30, 5, 6, 20)) for _ in range(3)]
    frames += [_segments(m, _rect(30, 5, 6, 20)) for m in back]
    masks = _follow(frames, _point(15, 50))
    assert masks[-1] is not None and _iou(masks[-1], back[-1]) > 0.9


def test_a_look_alike_of_another_colour_is_not_taken():
    frames = [_segments(_rect(10, 10, 10, 10), _rect(10, 40, 10, 10), colors=[[200, 0, 0], [0, 0, 200]])]
    frames += [_segments(_rect(10, 40, 10, 10), colors=[[0, 0, 200]]) for _ in range(5)]  # the target is gone
    masks = _follow(frames, _point(15, 15))
    assert all(m is None for m in masks[1:])


def test_box_prompt_removal_and_two_objects():
    objects = ObjectTracker()
    segments = _segments(_rect(5, 5, 10, 10), _rect(20, 30, 10, 10))
    box = BoxPrompt(0, 2, np.array([30 * 8.0, 20 * 8, 40 * 8, 30 * 8]))
    first = objects.update(segments, FRAME, [_point(8, 8), box])
    assert first.tracker_id.tolist() == [1, 2]
    assert first.data["segments"].tolist() == [[True, False], [False, True]]
    assert objects.update(segments, FRAME, [RemovePrompt(1, 1)]).tracker_id.tolist() == [2]


def test_a_prompt_that_hits_nothing_warns_and_the_run_goes_on():
    objects = ObjectTracker()
    with pytest.warns(PromptWarning, match="object 1 on frame 0: no segment contains a foreground point"):
        result = objects.update(_segments(_rect(0, 0, 5, 5)), FRAME, [_point(30, 50)])
    assert len(result) == 0


def test_empty_frames_without_objects():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ObjectTracker().update(_segments(), FRAME)
    assert len(result) == 0 and result.mask.shape == (0, *GRID)


def test_neighbour_memory_is_bounded_on_long_runs():
    # Lost tracks are forgotten at once, so each neighbour that comes back gets a new track id.
    objects, segments_tracker = ObjectTracker(), SegmentTracker(min_hits=1, lost_buffer=0)
    target = _rect(15, 25, 10, 10)
    for t in range(200):
        neighbour = _rect(15, 18, 10, 7) if t % 2 else _rect(15, 35, 10, 7)  # touching, left or right
        segments = segments_tracker.update(_segments(target, neighbour))
        objects.update(segments, FRAME, [_point(20, 30)] if t == 0 else [])
    assert 0 < len(objects.objects[1].neighbours) <= 64


def test_an_occluder_passing_in_front_is_not_taken_for_the_object():
    target = [_rect(10, 10 + t, 10, 10) for t in range(12)]
    occluder = [_rect(8, 34 - 3 * t, 14, 12) for t in range(12)]  # on top of it, moving left across it
    red, blue = [200, 0, 0], [0, 0, 200]
    frames = []
    for mask, over in zip(target, occluder, strict=True):
        visible = mask & ~over
        frames.append(_segments(visible, over, colors=[red, blue] if visible.any() else [blue]))
    masks = _follow(frames, _point(15, 15))
    assert all(m is None or not (m & o).any() for m, o in zip(masks, occluder, strict=True))


def test_two_prompts_on_one_merged_segment_share_it():
    left = [_rect(10, 10 + t, 10, 10) for t in range(8)]
    right = [_rect(10, 20 + t, 10, 12) for t in range(8)]
    frames = [_segments(left[t] | right[t]) for t in range(3)]  # merged, then apart
    frames += [_segments(left[t], right[t]) for t in range(3, 8)]
    objects, segments_tracker = ObjectTracker(), SegmentTracker()
    prompts = [_point(15, 14), PointPrompt(0, 2, np.array([[26 * 8 + 4.0, 15 * 8 + 4.0]]), np.array([1]))]
    out = []
    for t, segments in enumerate(frames):
        result = objects.update(segments_tracker.update(segments), FRAME, prompts if t == 0 else [])
        out.append(dict(zip(result.tracker_id.tolist(), result.mask, strict=True)))
    assert not (out[0][1] & out[0][2]).any()
    assert all(_iou(o[1], left[t]) > 0.9 and _iou(o[2], right[t]) > 0.9 for t, o in enumerate(out[3:], 3))


def test_found_again_by_its_colour_when_only_part_of_it_was_ever_seen():
    half, whole = _rect(10, 10, 10, 5), _rect(10, 10, 10, 10)  # half hidden at first, whole on its return
    other, red, blue = _rect(30, 40, 6, 6), [200, 0, 0], [0, 0, 200]
    frames = [_segments(half, other, colors=[red, blue]) for _ in range(3)]
    frames += [_segments(other, colors=[blue]) for _ in range(3)]
    frames += [_segments(whole, other, colors=[red, blue]) for _ in range(3)]
    masks = _follow(frames, _point(15, 12))
    assert all(m is not None and _iou(m, whole) > 0.9 for m in masks[6:])


def test_leaving_the_frame_it_does_not_take_in_what_touches_it():
    target = [_rect(10, 38 + 3 * t, 10, 10) for t in range(10)]  # leaves on the right
    above = [_rect(7, 40 + 3 * t, 3, 4) for t in range(10)]  # a small segment along its top edge
    objects = ObjectTracker()  # no segment tracker: nothing is known as a neighbour
    masks = []
    for t, (mask, strip) in enumerate(zip(target, above, strict=True)):
        segments = _segments(mask, strip) if t >= 3 else _segments(mask)
        result = objects.update(segments, FRAME, [_point(15, 42)] if t == 0 else [])
        masks.append(result.mask[0] if len(result) else None)
    assert all(m is None or not (m & a).any() for m, a in zip(masks, above, strict=True))


def test_a_segment_that_holds_the_object_is_no_neighbour_of_it():
    target, container = _rect(10, 10, 10, 10), _rect(10, 10, 10, 17)  # the object, and the object with a strip
    objects, segments_tracker = ObjectTracker(), SegmentTracker(min_hits=1)
    for t in range(4):
        segments = segments_tracker.update(_segments(target, container) if t else _segments(target))
        objects.update(segments, FRAME, [_point(15, 15)] if t == 0 else [])
    assert segments.tracker_id[1] not in objects.objects[1].neighbours


def test_a_blob_of_one_frame_does_not_regrow_a_half_hidden_object():
    whole, half = _rect(10, 10, 10, 10), _rect(10, 10, 10, 5)
    blob = _rect(12, 14, 4, 5)  # on one frame, two of its five columns next to the visible half
    frames = [_segments(whole) for _ in range(3)] + [_segments(half)] + [_segments(half, blob), _segments(half)]
    masks = _follow(frames, _point(15, 12))
    assert not (masks[4] & blob & ~_rect(10, 10, 10, 6)).any()


def test_a_half_hidden_object_does_not_regrow_into_a_segment_of_another_colour():
    whole, half, side = _rect(10, 10, 10, 10), _rect(10, 10, 10, 5), _rect(12, 14, 4, 5)
    red, blue = [200, 0, 0], [0, 0, 200]
    frames = [_segments(whole, colors=[red]) for _ in range(3)] + [_segments(half, side, colors=[red, blue])] * 3
    objects = ObjectTracker()  # no segment tracker: nothing is known as a neighbour
    masks = [objects.update(s, FRAME, [_point(15, 12)] if t == 0 else []).mask[0] for t, s in enumerate(frames)]
    assert not any((m & side & ~_rect(10, 10, 10, 6)).any() for m in masks[3:])


def test_a_lost_object_is_not_taken_back_by_a_segment_only_near_its_colour():
    target = _rect(10, 10, 10, 10)
    frames = [_segments(target, colors=[[200, 0, 0]]) for _ in range(3)] + [_segments() for _ in range(2)]
    frames += [_segments(target, colors=[[200, 40, 0]]) for _ in range(3)]  # close enough for an object in view
    masks = _follow(frames, _point(15, 15))
    assert all(m is None for m in masks[3:])
