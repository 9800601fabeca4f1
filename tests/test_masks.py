import numpy as np
import pytest
import supervision as sv

from fastsam_track.masks import label_map, levels_of, object_levels, quantize_logits, upsample_masks
from fastsam_track.types import LOGITS
from tests.support.slopes import sloped_segment


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


def test_label_map_is_a_byte_image_while_the_labels_fit_one():
    rng = np.random.default_rng(1)
    masks = rng.random((5, 12, 20)) > 0.6
    small = label_map(masks, (60, 100), np.arange(1, 6))
    large = label_map(masks, (60, 100), np.arange(1, 6) + 300)
    assert small.dtype == np.uint8 and large.dtype == np.int32
    assert np.array_equal(np.where(large > 0, large - 300, 0), small)  # the same painting either way


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


def test_quantized_logits_are_inside_where_the_logits_are_positive():
    logits = np.linspace(-10, 10, 401, dtype=np.float32).reshape(1, 1, -1)
    levels = quantize_logits(logits)
    assert levels.dtype == np.uint8
    np.testing.assert_array_equal(levels >= 128, logits > 0)  # as the mask: logit > 0
    expected = np.where(logits == 0, 127, np.clip(np.round(127.5 + 16 * logits.astype(np.float64)), 0, 255))
    np.testing.assert_array_equal(levels, expected)
    assert levels.min() == 0 and levels.max() == 255  # past |8| the mask is certain: clipped


def test_upsampled_logits_follow_a_sloped_edge_where_binary_masks_make_stairs():
    segment, truth = sloped_segment()
    shape = truth.shape
    levels = segment.data[LOGITS]
    soft = label_map(levels, shape, np.array([1])) > 0
    binary = label_map(np.asarray(segment.mask), shape, np.array([1])) > 0
    # The binary mask's edge is a staircase of 8-pixel cells; the logits' is the line itself,
    # but for the half-cell margin where the interpolation cannot reach beyond the outer cell centres.
    assert (binary != truth).sum() > 200
    assert (soft != truth)[4:-4, 4:-4].sum() <= 4 and (soft != truth).sum() <= 12
    np.testing.assert_array_equal(upsample_masks(levels, shape)[0], soft)  # the whole-stack resize agrees


def test_label_map_cuts_each_mask_to_its_box_pixel_by_pixel():
    levels = np.full((1, 4, 4), 255, np.uint8)
    inside = label_map(levels, (32, 32), np.array([1]), np.array([[3.5, 2.0, 20.2, 31.0]])) == 1
    # Pixels whose index is in [x1, x2) and [y1, y2), as ultralytics' crop_mask keeps them.
    assert inside[2:31, 4:21].all() and inside.sum() == 29 * 17
    assert label_map(levels, (32, 32), np.array([1])).all()  # no boxes: no cut


def test_levels_of_detections_fall_back_to_the_binary_masks():
    masks = np.zeros((1, 4, 4), bool)
    masks[0, 1:3, 1:3] = True
    plain = sv.Detections(xyxy=np.zeros((1, 4), np.float32), mask=masks)
    assert levels_of(plain).tolist() == (masks * 255).tolist()
    levels = np.full((1, 4, 4), 140, np.uint8)
    assert levels_of(sv.Detections(xyxy=plain.xyxy, mask=masks, data={LOGITS: levels})) is levels


@pytest.mark.parametrize(
    ("mask", "member", "expected"),
    [
        ([0, 1, 1, 0], [60, 200, 150, 20], [60, 200, 150, 20]),  # the object is its segment: its logits
        ([0, 1, 1, 1], [60, 200, 150, 20], [60, 200, 150, 255]),  # a cell the flow added: certain
        ([0, 1, 0, 0], [60, 200, 150, 20], [60, 200, 0, 20]),  # a merged neighbour's cell clipped off: certain
        ([0, 0, 0, 0], [60, 200, 150, 20], [60, 0, 0, 20]),  # nothing left of it
    ],
)
def test_object_levels_keep_the_object_mask_and_its_segments_edges(mask, member, expected):
    masks = np.array(mask, bool).reshape(1, 1, 4)
    segments = np.array([member, [255, 255, 255, 255]], np.uint8).reshape(2, 1, 4)
    members = np.array([[True, False]])  # the second segment is not one of its members
    levels = object_levels(masks, members, segments)
    assert levels.tolist() == [[expected]]
    np.testing.assert_array_equal(levels >= 128, masks)


def test_object_levels_of_an_object_without_members_are_its_binary_mask():
    masks = np.ones((1, 2, 2), bool)
    assert object_levels(masks, np.zeros((1, 0), bool), np.zeros((0, 2, 2), np.uint8)).tolist() == [[[255] * 2] * 2]
