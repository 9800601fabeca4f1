import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fastsam_track.trackers.association import assign, few_overlaps, mask_coverage, mask_iou, sparse_rows


def _square(y, x, size, shape=(20, 20)):
    mask = np.zeros(shape, bool)
    mask[y : y + size, x : x + size] = True
    return mask


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [], np.zeros((0, 0))),  # empty against empty
        ([_square(0, 0, 4)], [], np.zeros((1, 0))),  # something against nothing
        ([_square(0, 0, 4)], [_square(0, 0, 4)], [[1.0]]),  # identical
        ([_square(0, 0, 4)], [_square(10, 10, 4)], [[0.0]]),  # disjoint
        ([_square(0, 0, 4)], [_square(0, 0, 2)], [[0.25]]),  # nested: 4 of 16 pixels
        ([_square(0, 0, 4), _square(0, 2, 4)], [_square(0, 0, 4)], [[1.0], [8 / 24]]),  # two rows, half shifted
    ],
)
def test_mask_iou(a, b, expected):
    stack = lambda masks: np.array(masks, bool).reshape(len(masks), 20, 20)  # noqa: E731
    np.testing.assert_allclose(mask_iou(stack(a), stack(b)), expected, atol=1e-6)


def test_coverage_is_not_symmetric():
    big, small = _square(0, 0, 8)[None], _square(0, 0, 2)[None]
    assert mask_coverage(big, small)[0, 0] == 1.0  # all of small is inside big
    assert mask_coverage(small, big)[0, 0] == pytest.approx(4 / 64)


def test_resolution_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in resolution"):
        mask_iou(np.zeros((1, 4, 4), bool), np.zeros((1, 5, 5), bool))


@pytest.mark.parametrize(
    ("score", "threshold", "matches"),
    [
        (np.zeros((0, 3)), 0.5, []),  # no rows
        ([[0.9, 0.8], [0.85, 0.1]], 0.5, [[0, 1], [1, 0]]),  # the best total, not the greedy first pick
        ([[0.4]], 0.5, []),  # below the threshold
        ([[0.9], [0.95]], 0.5, [[1, 0]]),  # two rows want one column
    ],
)
def test_assign(score, threshold, matches):
    found, rows, _ = assign(np.array(score, float).reshape(-1, np.shape(score)[-1] if len(score) else 3), threshold)
    assert found.tolist() == matches
    assert len(found) + len(rows) == len(score)


masks = st.integers(0, 6).flatmap(lambda n: arrays(bool, (n, 6, 6)))


@settings(max_examples=100, deadline=None)
@given(masks, masks)
def test_iou_invariants(a, b):
    iou = mask_iou(a, b)
    assert iou.shape == (len(a), len(b))
    assert ((iou >= 0) & (iou <= 1 + 1e-6)).all()
    np.testing.assert_allclose(iou, mask_iou(b, a).T, atol=1e-6)
    self_iou = np.diag(mask_iou(a, a))
    assert np.allclose(self_iou[a.any(axis=(1, 2))], 1.0)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 3).flatmap(lambda k: arrays(bool, (k, 6, 6))), masks)
def test_few_overlaps_count_each_segments_cells(few, segments):
    # Empty segments come first, between and last: each counts 0, not the cells of the segment after it.
    inter, area = few_overlaps(few, sparse_rows(segments))
    dense = few.reshape(len(few), 36).astype(int) @ segments.reshape(len(segments), 36).astype(int).T
    assert inter.dtype == area.dtype == np.float32
    np.testing.assert_array_equal(inter, dense)
    np.testing.assert_array_equal(area, few.sum(axis=(1, 2)))


@settings(max_examples=100, deadline=None)
@given(arrays(float, st.tuples(st.integers(0, 6), st.integers(0, 6)), elements=st.floats(0, 1)), st.floats(0.05, 1))
def test_assign_is_one_to_one_and_respects_the_threshold(score, threshold):
    matches, rows, cols = assign(score, threshold)
    assert len(set(matches[:, 0])) == len(matches) == len(set(matches[:, 1]))
    assert (score[matches[:, 0], matches[:, 1]] >= threshold).all()
    assert sorted([*matches[:, 0], *rows]) == list(range(score.shape[0]))
    assert sorted([*matches[:, 1], *cols]) == list(range(score.shape[1]))
