"""An object's colour model, size and velocity."""

import numpy as np

from fastsam_track.trackers.appearance import Appearance, flat, histograms, likelihood, objectness
from fastsam_track.trackers.association import sparse_rows
from fastsam_track.trackers.flow import COLOR_BINS, FrameCues
from fastsam_track.trackers.params import ObjectParams

P = ObjectParams()


def _scene(y, x):
    """(12, 12) colour bins: a 4x4 object of bin 5 at (y, x) on a background of bin 2."""
    colors = np.full((12, 12), 2, np.intp)
    colors[y : y + 4, x : x + 4] = 5
    return colors


def _cues(colors):
    return FrameCues(flow=None, colors=colors)


def test_histograms_of_the_object_and_its_ring():
    colors = _scene(4, 4)
    inside, around = histograms(colors == 5, colors, ring=2)
    assert inside[5] == 1 and around[2] == 1 and inside.shape == (COLOR_BINS,)
    # a colour neither has is neutral, the object's own is nearly 1, the surroundings' nearly 0
    likely = likelihood(inside, around, np.array([5, 2, 7]), P.color_prior)
    assert likely[0] > 0.99 and likely[1] < 0.01 and likely[2] == 0.5


def test_objectness_is_the_mean_likelihood_over_each_mask():
    masks = np.zeros((3, 2, 2), bool)
    masks[0, 0] = True  # the top row
    masks[1] = True
    likely = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert objectness(sparse_rows(masks), likely, masks.sum((1, 2)).astype(np.float32)).tolist() == [1.0, 0.5, 0.0]


def test_learning_moves_the_velocity_and_slowly_the_size_and_colours():
    colors = _scene(2, 2)
    look = Appearance.of(colors == 5, _cues(colors), P)
    assert look.area == 16 and look.inside[5] == 1
    look.learn(colors == 5, _cues(colors), P)
    moved = _scene(2, 4)
    look.learn(moved == 5, _cues(moved), P)
    assert look.velocity.tolist() == [0.0, P.velocity_rate * 2]  # (dy, dx): 2 cells right in one frame
    look.learn(np.zeros((12, 12), bool) | (moved == 5) & (np.arange(12) < 5)[None], None, P)  # a partial view
    assert look.velocity.tolist() == [0.0, P.velocity_rate * 2]  # a partial view's centre does not move it
    assert 16 * (1 - P.area_rate) < look.area < 16


def test_without_colours_the_model_says_nothing():
    look = Appearance.of(np.ones((3, 3), bool), None, P)
    assert np.array_equal(look.inside, flat()) and np.all(look.likelihood(np.zeros((3, 3), np.intp), P) == 0.5)


def test_a_mask_is_off_an_object_by_what_its_own_views_agree_with_it():
    """A distinct object's moved mask is off below ``objectness``; one that looks half like its surroundings
    (its own views agree with it about 0.6) is off only well below its own agreement, not where it always is."""
    distinct = _scene(4, 4)
    look = Appearance.of(distinct == 5, _cues(distinct), P)
    assert look.own > 0.99
    assert look.off(look.likelihood(distinct, P), distinct == 2, P)  # on the background
    assert not look.off(look.likelihood(distinct, P), distinct == 5, P)
    # an object mostly of the background's bin 2: its own colours agree with it about 0.57
    mixed = _scene(4, 4)
    mixed[4:8, 4:7] = 2
    obj = np.zeros((12, 12), bool)
    obj[4:8, 4:8] = True
    look = Appearance.of(obj, _cues(mixed), P)
    assert 0.5 < look.own < P.objectness
    likely = look.likelihood(mixed, P)
    assert not look.off(likely, obj, P)  # where it is: not off, although under objectness
    assert look.off(likely, ~grow_ring(obj), P)  # well away, on the background
    look.learn(obj, _cues(mixed), P)
    assert 0.5 < look.own < P.objectness  # learnt as the colours are


def grow_ring(mask):
    """The mask and two cells around it."""
    from fastsam_track.trackers.motion import grow

    return grow(mask, 2)
