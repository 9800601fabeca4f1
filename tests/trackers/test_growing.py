"""Point prompts that grow to the object: drawn scenes with real flow, the object split into parts."""

import numpy as np
import pytest

from fastsam_track.errors import ConfigError
from fastsam_track.trackers.flow import FrameFlow
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.params import ObjectParams
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import PointPrompt
from tests.trackers.test_objects import BLUE, FRAME, GREEN, GRID, RED, _frame, _rect, _segments

FRAMES = 7


def _scene(t, third_moves):
    """Frame t: a red part and a blue part of one object moving right 2 cells a frame, and a green part
    under the red one that moves with them (``third_moves``) or stays where it was."""
    red, blue = _rect(12, 8 + 2 * t, 10, 8), _rect(12, 16 + 2 * t, 10, 8)
    green = _rect(22, 8 + (2 * t if third_moves else 0), 6, 8) & ~red & ~blue
    image = _frame((green, GREEN), (red, RED), (blue, BLUE))
    return image, _segments(red, blue, green), (red, blue, green)


def _track(third_moves, **params):
    """The object a point on the red part starts, on every frame, and the scene's parts per frame."""
    flow, tracker, segments = FrameFlow(), ObjectTracker(**params), SegmentTracker()
    prompt = PointPrompt(0, 1, np.array([[12 * 8.0, 17 * 8.0]]), np.array([1]))
    out, parts = [], []
    for t in range(FRAMES):
        image, found, drawn = _scene(t, third_moves)
        cues = flow.update(image, GRID)
        result = tracker.update(segments.update(found, cues), FRAME, [prompt] if t == 0 else [], cues)
        out.append(result.mask[0])
        parts.append(drawn)
    return out, parts


def _share(mask, part):
    return (mask & part).sum() / part.sum()


def test_a_part_moving_with_the_clicked_one_joins_it():
    out, parts = _track(third_moves=True)
    red, blue, green = parts[0]
    assert _share(out[0], red) == 1 and _share(out[0], blue) == 0  # the point selects the clicked part
    red, blue, green = parts[-1]
    assert _share(out[-1], red) > 0.9 and _share(out[-1], blue) > 0.9 and _share(out[-1], green) > 0.9


def test_a_part_moving_otherwise_does_not_join():
    out, parts = _track(third_moves=False)
    red, blue, green = parts[-1]
    assert _share(out[-1], red) > 0.9 and _share(out[-1], blue) > 0.9
    assert _share(out[-1], green) < 0.1


def test_point_grows_false_keeps_the_clicked_part():
    out, parts = _track(third_moves=True, point_grows=False)
    red, blue, green = parts[-1]
    assert _share(out[-1], red) > 0.9 and _share(out[-1], blue) < 0.1 and _share(out[-1], green) < 0.1


def test_point_grows_is_a_yes_or_no():
    assert ObjectParams.from_mapping({"point_grows": False}).point_grows is False
    with pytest.raises(ConfigError, match=r"tracker\.point_grows must be true or false, got 1"):
        ObjectParams.from_mapping({"point_grows": 1})
