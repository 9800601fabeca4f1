import numpy as np

from fastsam_track.synthetic import SyntheticClip


def test_same_seed_same_pixels_and_masks():
    first, second = SyntheticClip(90, 160, 5, seed=7), SyntheticClip(90, 160, 5, seed=7)
    image_a, masks_a = first.frame(4)
    image_b, masks_b = second.frame(4)
    assert np.array_equal(image_a, image_b)
    assert np.array_equal(masks_a, masks_b)


def test_visible_masks_are_disjoint_and_move():
    clip = SyntheticClip(180, 320, 8, seed=1, motion=4.0)
    _, start = clip.frame(0)
    _, later = clip.frame(10)
    assert len(start) > 0
    assert start.sum(axis=0).max() == 1  # occlusion leaves each pixel to one shape
    assert not np.array_equal(start.any(0), later.any(0))
