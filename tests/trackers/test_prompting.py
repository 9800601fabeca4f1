import numpy as np
import pytest

from fastsam_track.errors import PromptMiss
from fastsam_track.trackers.prompting import select_by_box, select_by_points, smooth_mask, to_grid


def _masks():
    """0: the whole 10x10 grid, 1: left half, 2: a 2x2 square inside the left half."""
    masks = np.zeros((3, 10, 10), bool)
    masks[0] = True
    masks[1, :, :5] = True
    masks[2, 4:6, 1:3] = True
    return masks


@pytest.mark.parametrize(
    ("points", "labels", "expected_area"),
    [
        ([[7, 7]], [1], 100),  # only the whole grid holds it
        ([[0, 0]], [1], 100),  # every mask under a foreground point joins: the left half and the whole
        ([[0, 0], [8, 8]], [1, 0], 50),  # a background point drops the masks that hold it: the left half stays
        ([[0, 0], [1.5, 4.5], [8, 8]], [1, 0, 0], 0),  # ... and paints its own smaller mask out (raises, below)
        ([[0, 0], [8, 8]], [1, 1], 100),  # two foreground points: both masks, merged
    ],
)
def test_select_by_points(points, labels, expected_area):
    if expected_area == 0:
        with pytest.raises(PromptMiss):
            select_by_points(_masks(), np.array(points, float), np.array(labels))
        return
    selected = select_by_points(_masks(), np.array(points, float), np.array(labels))
    assert selected.sum() == expected_area


@pytest.mark.parametrize(
    ("masks", "points", "labels"),
    [
        (np.zeros((0, 10, 10), bool), [[1, 1]], [1]),  # no segments at all
        (_masks()[2:], [[8, 8]], [1]),  # the point is on no segment
        (_masks()[1:2], [[1, 1], [2, 2]], [1, 0]),  # the background point is on the same segment
    ],
)
def test_points_that_select_nothing(masks, points, labels):
    with pytest.raises(PromptMiss):
        select_by_points(masks, np.array(points, float), np.array(labels))


def test_select_by_box_takes_the_best_filling_mask():
    assert select_by_box(_masks(), np.array([0.0, 0, 5, 10])).sum() == 50  # the left half
    assert select_by_box(_masks(), np.array([1.0, 4, 3, 6])).sum() == 4  # the little square
    with pytest.raises(PromptMiss):
        select_by_box(np.zeros((2, 10, 10), bool), np.array([0.0, 0, 5, 5]))


def test_to_grid_scales_frame_pixels():
    assert to_grid(np.array([[1280.0, 720.0]]), (720, 1280), (90, 160)).tolist() == [[160.0, 90.0]]


def test_smooth_zero_is_identity():
    mask = np.random.default_rng(0).random((8, 8)) > 0.5
    assert np.array_equal(smooth_mask(mask, 0), mask)


def _resolver(**changes):
    from fastsam_track.trackers.params import ObjectParams
    from fastsam_track.trackers.prompting import PromptResolver

    return PromptResolver(ObjectParams(**changes))


def test_resolver_starts_objects_removes_them_and_splits_a_shared_segment():
    from fastsam_track.types import PointPrompt, RemovePrompt

    masks = _masks()[1:]  # the left half, and a 2x2 square inside it
    point = PointPrompt(0, 1, np.array([[0.5, 0.5]]), np.array([1]))  # 1 pixel a cell: frame (10, 10)
    other = PointPrompt(0, 2, np.array([[0.5, 9.5]]), np.array([1]))
    out = _resolver().resolve(masks, (10, 10), [point, other], None)
    # both points hit only the left half: the cells go to the nearer point
    assert sorted(out) == [1, 2] and out[1][0, 0] and out[2][9, 0] and not (out[1] & out[2]).any()
    assert _resolver().resolve(masks, (10, 10), [point, RemovePrompt(0, 1)], None) == {1: None}


def test_resolver_waits_for_a_point_that_hits_nothing_then_warns():
    from fastsam_track.trackers.prompting import PromptWarning
    from fastsam_track.types import PointPrompt

    resolver = _resolver(pending_frames=1)
    point = PointPrompt(0, 3, np.array([[8.5, 8.5]]), np.array([1]))
    masks = _masks()[1:]  # nothing under (8, 8)
    assert resolver.resolve(masks, (10, 10), [point], None) == {}
    assert resolver.resolve(masks, (10, 10), [], None) == {}  # still waiting
    with pytest.warns(PromptWarning, match="object 3 on frame 0: no segment contains a foreground point"):
        assert resolver.resolve(masks, (10, 10), [], None) == {}
    assert list(resolver.resolve(_masks(), (10, 10), [point], None)) == [3]  # the whole grid holds it
