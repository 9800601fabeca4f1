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
