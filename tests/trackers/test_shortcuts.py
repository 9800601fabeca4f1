"""The object tracker's cheaper forms of its sums give exactly what the plain forms give (bit for bit)."""

import numpy as np
import pytest

from fastsam_track.trackers.association import few_overlaps, overlaps_of, sparse_rows
from fastsam_track.trackers.explain import _less, likely_sums, median_flow
from fastsam_track.trackers.flow import FrameCues
from fastsam_track.trackers.motion import centroid


def _tiling(rng: np.random.Generator, count: int, shape=(30, 40)) -> np.ndarray:
    labels = rng.integers(0, count, shape)
    return labels[None] == np.arange(count)[:, None, None]


@pytest.mark.parametrize("objects", [0, 1, 4])
def test_likelihood_sums_for_all_objects_are_each_objects_own_products(objects):
    rng = np.random.default_rng(objects)
    segments = _tiling(rng, 25)
    cells = sparse_rows(segments)
    likely = rng.random((objects, 30, 40))
    warped = rng.random((objects, 30, 40)) < 0.3
    sums = likely_sums(cells, likely, warped)
    assert sums.shape == (objects, 25, 2)
    for k in range(objects):
        weights = likely[k].reshape(-1).astype(np.float32)
        assert np.array_equal(sums[k, :, 0], cells @ weights)
        assert np.array_equal(sums[k, :, 1], cells @ (weights * warped[k].reshape(-1)))


@pytest.mark.parametrize("objects", [0, 3, 20])
def test_few_overlaps_are_the_sparse_overlaps(objects):
    rng = np.random.default_rng(objects)
    cells = sparse_rows(_tiling(rng, 25))
    masks = rng.random((objects, 30, 40)) < 0.2
    inter, area = few_overlaps(masks, cells)
    expected_inter, expected_area, _ = overlaps_of(sparse_rows(masks), cells)
    assert np.array_equal(inter, expected_inter) and np.array_equal(area, expected_area)


def test_flow_less_the_scene_and_its_median_are_the_plain_ones():
    rng = np.random.default_rng(1)
    flow = (rng.normal(size=(30, 40, 2)) * 3).astype(np.float32)
    scene = rng.normal(size=2).astype(np.float32)
    assert np.array_equal(_less(flow, scene), flow - scene)
    assert np.array_equal(_less(flow.astype(float), scene), flow.astype(float) - scene)  # not float32: plainly
    mask = rng.random((30, 40)) < 0.3
    assert np.array_equal(median_flow(flow, mask), np.median(flow[mask], axis=0))
    scene_median = np.array([np.median(flow[..., 0]), np.median(flow[..., 1])], np.float32)
    assert np.array_equal(FrameCues(flow, np.zeros((30, 40), np.intp)).scene, scene_median)


def test_centroid_is_the_mean_of_the_cells():
    rng = np.random.default_rng(2)
    for _ in range(50):
        mask = rng.random((30, 40)) < rng.random()
        ys, xs = np.nonzero(mask)
        assert np.array_equal(centroid(mask), np.array([ys.mean(), xs.mean()]) if len(ys) else np.zeros(2))


def test_the_segment_tracker_keeps_the_rows_of_the_segments_it_returns():
    import supervision as sv

    from fastsam_track.trackers.segment_tracker import SegmentTracker

    rng = np.random.default_rng(3)
    masks = _tiling(rng, 6)
    segments = sv.Detections(xyxy=np.zeros((6, 4), np.float32), mask=masks)
    tracker = SegmentTracker()
    for step in (tracker.update, tracker.follow):
        tracked = step(segments, None)
        assert tracker.rows is not None
        assert (tracker.rows != sparse_rows(np.asarray(tracked.mask))).nnz == 0
