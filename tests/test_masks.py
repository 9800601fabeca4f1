import numpy as np
import pytest

from fastsam_track.masks import label_map, upsample_masks


@pytest.mark.parametrize(
    ("count", "shape"),
    [
        (0, (40, 80)),  # empty stack
        (3, (40, 80)),  # a few masks
        (300, (16, 24)),  # more masks than OpenCV resizes in one call
    ],
)
def test_upsample_masks_shape(count, shape):
    masks = np.zeros((count, 5, 10), bool)
    out = upsample_masks(masks, shape)
    assert out.shape == (count, *shape)
    assert out.dtype == bool


def test_upsample_masks_keeps_the_region():
    masks = np.zeros((1, 10, 10), bool)
    masks[0, 2:8, 2:8] = True
    out = upsample_masks(masks, (80, 80))[0]
    assert out[40, 40] and not out[5, 5]
    assert abs(out.sum() - 48 * 48) < 48 * 4  # the square scaled by 8, give or take its edge


def test_label_map_paints_smaller_segments_on_top():
    masks = np.zeros((2, 10, 10), bool)
    masks[0] = True  # the whole frame
    masks[1, 4:6, 4:6] = True  # a small square inside it
    labels = label_map(masks, (100, 100), np.array([1, 2]))
    assert labels[50, 50] == 2
    assert labels[5, 5] == 1


def test_label_map_empty():
    labels = label_map(np.zeros((0, 4, 4), bool), (8, 8), np.zeros(0, int))
    assert labels.shape == (8, 8) and not labels.any()


def test_label_map_matches_upsampling_each_whole_mask():
    rng = np.random.default_rng(0)
    masks = np.zeros((6, 45, 80), bool)
    for mask in masks:
        y, x = rng.integers(0, 40), rng.integers(0, 75)
        mask[y : y + rng.integers(1, 20), x : x + rng.integers(1, 30)] = True
    masks[2] = False  # an empty mask paints nothing
    labels = label_map(masks, (360, 640), np.arange(1, 7))
    whole = upsample_masks(masks, (360, 640))
    expected = np.zeros((360, 640), np.int32)
    for i in np.argsort(-masks.sum((1, 2)), kind="stable"):  # the same painter's order: larger first
        expected[whole[i]] = i + 1
    assert (labels != expected).mean() < 0.002  # interpolation over a crop, not the whole grid
    assert not (labels == 3).any()
