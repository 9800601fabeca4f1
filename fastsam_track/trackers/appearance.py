"""An object's appearance: its colours against the ring around it, its typical size and its velocity.

Colours are histograms over ``flow.COLOR_BINS`` quantized colours (``FrameCues.colors``) of the
object and of the ring of cells around it; a colour's likelihood is its share of the object
against the surroundings. The model learns slowly from each view the segments confirm.

Example:
    >>> colors = np.zeros((6, 6), np.intp); colors[2:4, 2:4] = 1
    >>> mask = colors == 1
    >>> inside, around = histograms(mask, colors, ring=1)
    >>> likely = likelihood(inside, around, colors, 1e-3)
    >>> round(float(likely[2, 2]), 3), round(float(likely[0, 0]), 3)
    (0.999, 0.001)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from fastsam_track.trackers.flow import COLOR_BINS, FrameCues
from fastsam_track.trackers.motion import centroid, grow
from fastsam_track.trackers.params import ObjectParams

__all__ = ["Appearance", "flat", "histograms", "likelihood", "objectness", "shares"]


@dataclass
class Appearance:
    """What an object looks like and how it moves, learnt from the views the segments confirm.

    Attributes:
        area: typical area in cells.
        inside: (COLOR_BINS,) float colour histogram of the object.
        around: (COLOR_BINS,) float colour histogram of its surroundings.
        velocity: (2,) (dy, dx) cells per frame: the motion of its centre.
        seen_at: (2,) (y, x) its centre when it was last seen (None: not yet).
        unseen: frames since it was last seen.
        own: how much its own views' colours agree with it (the mean likelihood over the views it learnt its
            colours from, averaged as the colours are): an object that looks much like its surroundings has
            a low one, and its moved mask is judged against that, not against a distinct object's.
    """

    area: float
    inside: np.ndarray
    around: np.ndarray
    velocity: np.ndarray
    seen_at: np.ndarray | None = None
    unseen: int = 0
    own: float = 1.0

    @classmethod
    def of(cls, mask: np.ndarray, cues: FrameCues | None, params: ObjectParams) -> Appearance:
        """The appearance of an object first selected as the (h, w) bool ``mask``."""
        if cues is None:
            return cls(float(np.count_nonzero(mask)), flat(), flat(), np.zeros(2))
        inside, around = histograms(mask, cues.colors, params.ring)
        own = _agreement(inside, around, cues.colors[mask], params.color_prior)
        return cls(float(np.count_nonzero(mask)), inside, around, np.zeros(2), own=own)

    def likelihood(self, colors: np.ndarray, params: ObjectParams) -> np.ndarray:
        """(h, w) float: each cell's colour's share of the object against its surroundings."""
        return likelihood(self.inside, self.around, colors, params.color_prior)

    def learn(self, mask: np.ndarray, cues: FrameCues | None, params: ObjectParams, colors: bool = True) -> None:
        """Update from a view seen on this frame: typical area, velocity and (with ``colors``) colours."""
        centre = centroid(mask)
        # The motion of its centre (the flow under-estimates small, fast objects), except over a partial
        # view (going behind something, leaving), whose centre moves otherwise: kept as it was.
        if self.seen_at is not None and float(np.count_nonzero(mask)) >= params.whole_view * self.area:
            step = (centre - self.seen_at) / (self.unseen + 1)
            self.velocity = (1 - params.velocity_rate) * self.velocity + params.velocity_rate * step
        self.seen_at, self.unseen = centre, 0
        # Slowly: partial views (parts missed, occlusions) must not make it forget its size.
        self.area = (1 - params.area_rate) * self.area + params.area_rate * float(np.count_nonzero(mask))
        if cues is not None and colors:
            inside, around = histograms(mask, cues.colors, params.ring)
            self.inside = (1 - params.color_rate) * self.inside + params.color_rate * inside
            self.around = (1 - params.color_rate) * self.around + params.color_rate * around
            view = _agreement(self.inside, self.around, cues.colors[mask], params.color_prior)
            self.own = (1 - params.color_rate) * self.own + params.color_rate * view

    def off(self, likely: np.ndarray, mask: np.ndarray, params: ObjectParams) -> bool:
        """Whether the (h, w) bool ``mask`` lies on what does not look like the object, by the (h, w) ``likely``
        (``likelihood``): its mean is below ``objectness``, or below ``off_share`` of the object's ``own``
        agreement when that is lower (an object much like its surroundings is not off where it always is)."""
        return float(likely[mask].mean()) < min(params.objectness, params.off_share * self.own)


def _agreement(inside: np.ndarray, around: np.ndarray, colors: np.ndarray, prior: float) -> float:
    """The mean likelihood of the (M,) colour bins ``colors`` under the histograms (1 for no cells)."""
    return float(likelihood(inside, around, colors, prior).mean()) if len(colors) else 1.0


def flat() -> np.ndarray:
    """(COLOR_BINS,) float: the histogram that says nothing (no colours known)."""
    return np.full(COLOR_BINS, 1.0 / COLOR_BINS)


def histograms(mask: np.ndarray, colors: np.ndarray, ring: int) -> tuple[np.ndarray, np.ndarray]:
    """(COLOR_BINS,) normalised colour histograms of an (h, w) mask and of the ``ring`` cells around it."""
    around = grow(mask, ring) & ~mask
    inside = np.bincount(colors[mask], minlength=COLOR_BINS).astype(float)
    outside = np.bincount(colors[around], minlength=COLOR_BINS).astype(float)
    return inside / max(inside.sum(), 1.0), outside / max(outside.sum(), 1.0)


def likelihood(inside: np.ndarray, around: np.ndarray, colors: np.ndarray, prior: float) -> np.ndarray:
    """(h, w) float in [0, 1]: how much more each cell's colour belongs to the object than around it.

    Args:
        inside: (COLOR_BINS,) the object's histogram; ``around`` its surroundings'.
        colors: (h, w) int colour bins.
        prior: share added to both (``ObjectParams.color_prior``): a colour neither has is neutral.
    """
    return shares(inside, around, prior)[colors]


def shares(inside: np.ndarray, around: np.ndarray, prior: float) -> np.ndarray:
    """(COLOR_BINS,) float: each colour's ``likelihood``, given the object's and its surroundings' histograms."""
    return (inside + prior) / (inside + around + 2 * prior)


def objectness(cells: sparse.csr_matrix, likely: np.ndarray, area: np.ndarray) -> np.ndarray:
    """(N,) float mean of an (h, w) likelihood over each of N masks given as ``sparse_rows``."""
    sums = np.asarray(cells @ likely.reshape(-1).astype(np.float32), np.float32)
    return np.divide(sums, area, out=np.zeros_like(sums), where=area > 0)
