import dataclasses

import numpy as np
import supervision as sv

from fastsam_track.pipeline.outputs.render import SegmentRenderer, _edges
from fastsam_track.types import CUT, Frame, SegmentedFrame
from tests.support.slopes import sloped_segment


def _segmented(tracker_id=None):
    masks = np.zeros((2, 10, 10), bool)
    masks[0, 1:4, 1:4] = True
    masks[1, 6:9, 6:9] = True
    segments = sv.Detections(
        xyxy=np.array([[10, 10, 40, 40], [60, 60, 90, 90]], np.float32), mask=masks, tracker_id=tracker_id
    )
    return SegmentedFrame(Frame(0, np.full((100, 100, 3), 128, np.uint8), 0.0), segments)


def test_masks_are_tinted_and_background_untouched():
    segmented = _segmented()
    out = SegmentRenderer(opacity=0.5).render(segmented)
    assert not np.array_equal(out[25, 25], [128, 128, 128])
    assert np.array_equal(out[50, 50], [128, 128, 128])
    assert np.array_equal(segmented.frame.image[25, 25], [128, 128, 128])  # the frame is not drawn on


def test_colour_follows_the_tracker_id():
    renderer = SegmentRenderer()
    a = renderer.render(_segmented(tracker_id=np.array([3, 4])))
    b = renderer.render(_segmented(tracker_id=np.array([4, 3])))
    assert np.array_equal(a[25, 25], b[75, 75])


def test_contours_are_drawn_on_the_edge():
    out = SegmentRenderer(opacity=0.0, contour_thickness=1).render(_segmented())
    assert np.array_equal(out[25, 25], [128, 128, 128])  # fully transparent inside
    assert not np.array_equal(out[10, 25], [128, 128, 128])  # coloured edge


def test_contours_are_the_same_whatever_the_label_image_type():
    """Byte label images (up to 255 segments) find contours with OpenCV, wider ones with numpy."""
    labels = np.random.default_rng(2).integers(0, 6, (18, 32)).repeat(5, 0).repeat(5, 1).astype(np.uint8)
    assert np.array_equal(_edges(labels), _edges(labels.astype(np.int32) * 100))
    assert _edges(labels).any() and not _edges(labels)[labels == 0].any()


def test_no_segments():
    frame = Frame(0, np.zeros((20, 20, 3), np.uint8), 0.0)
    empty = sv.Detections(xyxy=np.zeros((0, 4), np.float32), mask=np.zeros((0, 5, 5), bool))
    assert np.array_equal(SegmentRenderer().render(SegmentedFrame(frame, empty)), frame.image)


def _drawn(segments: sv.Detections, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels the renderer colours (opaque, no contours) on a black frame."""
    frame = Frame(0, np.zeros((*shape, 3), np.uint8), 0.0)
    return SegmentRenderer(opacity=1.0, contour_thickness=0).render(SegmentedFrame(frame, segments)).any(axis=2)


def test_a_sloped_edge_is_drawn_as_a_line_not_a_staircase_of_cells():
    segment, truth = sloped_segment()
    drawn = _drawn(segment, truth.shape)
    # From the logits the drawn edge is the line; from the binary mask, 8-pixel steps.
    assert (drawn != truth).sum() <= 12
    assert (_drawn(sloped_segment(logits=False)[0], truth.shape) != truth).sum() > 200


def test_masks_are_cut_to_their_boxes_as_retina_masks_are():
    segment, truth = sloped_segment()
    box = np.array([[0, 0, 61.5, 96]], np.float32)
    cut = dataclasses.replace(segment, data={**segment.data, CUT: box - segment.xyxy})
    drawn = _drawn(cut, truth.shape)
    assert not drawn[:, 62:].any() and (drawn[:, :62] != truth[:, :62]).sum() <= 12


def test_a_segment_carried_by_the_flow_is_drawn_moved_with_its_cut():
    from fastsam_track.trackers.carry import carry

    segment, truth = sloped_segment()
    box = np.array([[0, 0, 61.5, 96]], np.float32)
    cut = dataclasses.replace(segment, data={**segment.data, CUT: box - segment.xyxy})
    flow = np.zeros((12, 16, 2), np.float32)
    flow[..., 0] = -1  # everything moved one cell (8 px) right
    drawn, moved = _drawn(cut, truth.shape), _drawn(carry(cut, flow, truth.shape), truth.shape)
    assert not moved[:, 70:].any()  # the cut moved with the box
    assert (moved[8:-8, 16:70] != drawn[8:-8, 8:62]).sum() <= 4  # past the column the flow brought in from outside
