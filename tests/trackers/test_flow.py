"""Optical flow on the mask grid, and masks warped by it."""

import numpy as np
import pytest

from fastsam_track.errors import FlowError
from fastsam_track.trackers.flow import COLOR_BINS, FrameFlow, warp


def _scene(x):
    """(180, 320, 3) frame: a textured bright square at column ``x`` on a textured dark background."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 60, (180, 320, 3)).astype(np.uint8)
    image[60:120, x : x + 60] = 150 + rng.integers(0, 100, (60, 60, 3)).astype(np.uint8)
    return image


def test_the_flow_follows_a_moving_square_and_warps_its_mask():
    flow = FrameFlow()
    first = flow.update(_scene(100), (45, 80))
    assert first.flow is None and first.colors.shape == (45, 80)
    assert first.colors.min() >= 0 and first.colors.max() < COLOR_BINS
    cues = flow.update(_scene(116), (45, 80))  # 16 pixels right: 4 cells of a 80-wide grid
    mask = np.zeros((1, 45, 80), bool)
    mask[0, 15:30, 25:40] = True
    moved = warp(mask, cues.flow)[0]
    expected = np.zeros((45, 80), bool)
    expected[15:30, 29:44] = True
    assert (moved & expected).sum() / (moved | expected).sum() > 0.8


def test_the_scene_motion_is_the_median_flow_worked_out_once():
    """A pan of the whole frame with a square going the other way: the scene moves with the pan."""
    rng = np.random.default_rng(1)
    wide = rng.integers(0, 255, (180, 400, 3)).astype(np.uint8)
    flow = FrameFlow()
    assert (flow.update(wide[:, 40:360], (45, 80)).scene == 0).all()  # no flow yet: no motion known
    cues = flow.update(wide[:, 32:352], (45, 80))  # the camera pans 8 pixels left: the scene moves 2 cells right
    assert cues.scene == pytest.approx([-2.0, 0.0], abs=0.3)  # backward flow: where each cell came from
    assert cues.scene is cues.scene


def test_the_fine_flow_follows_a_jump_the_fast_one_loses():
    """A 48-pixel jump between two frames (a frame between keyframes of fast motion): DIS's fast preset
    leaves the mask behind, the medium preset (``fine``) carries it whole."""
    mask = np.zeros((1, 45, 80), bool)
    mask[0, 15:30, 25:40] = True
    expected = np.zeros((45, 80), bool)
    expected[15:30, 37:52] = True
    ious = []
    for fine in (False, True):
        flow = FrameFlow()
        flow.update(_scene(100), (45, 80))
        moved = warp(mask, flow.update(_scene(148), (45, 80), fine=fine).flow)[0]
        ious.append((moved & expected).sum() / (moved | expected).sum())
    assert ious[0] < 0.6 and ious[1] > 0.95


def test_a_frame_of_another_size_is_a_clear_error_until_reset():
    flow = FrameFlow()
    flow.update(_scene(100), (45, 80))
    with pytest.raises(FlowError, match=r"frame is 160x90 but the last one was 320x180: call reset\(\)"):
        flow.update(_scene(100)[::2, ::2], (45, 80))
    flow.reset()
    assert flow.update(_scene(100)[::2, ::2], (45, 80)).flow is None


@pytest.mark.parametrize(
    ("masks", "flow", "expected_shape"),
    [
        (np.zeros((0, 4, 5), bool), np.zeros((4, 5, 2), np.float32), (0, 4, 5)),  # no masks
        (np.ones((2, 4, 5), bool), None, (2, 4, 5)),  # no flow: unchanged
        (np.ones((1, 4, 5), bool), np.full((4, 5, 2), 100, np.float32), (1, 4, 5)),  # all from outside: empty
    ],
)
def test_warp_edge_cases(masks, flow, expected_shape):
    out = warp(masks, flow)
    assert out.shape == expected_shape
    if flow is not None and len(masks) and flow.max() >= 100:
        assert not out.any()
