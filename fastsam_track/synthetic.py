"""Procedural "segment everything" scenes: textured shapes over textured backgrounds.

One generator serves three purposes: the training set of the built-in model
(``scripts/train_builtin_model.py``), the clip that ``fastsam-track demo`` segments,
and the fixtures of the tests. Everything is seeded, so the same seed gives the same
pixels and the same ground-truth masks.

Example:
    >>> clip = SyntheticClip(height=90, width=160, num_shapes=3, seed=0)
    >>> image, masks = clip.frame(0)
    >>> image.shape, image.dtype, masks.dtype, masks.shape[1:]
    ((90, 160, 3), dtype('uint8'), dtype('bool'), (90, 160))
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Shape", "SyntheticClip", "random_background", "random_shape", "render_scene"]

_POLYGON_KINDS = ("ellipse", "rectangle", "triangle", "pentagon", "star")
_PATTERNS = ("solid", "stripes", "checker", "dots")


@dataclass(frozen=True)
class Shape:
    """A textured polygon with a pose that changes linearly with time.

    Attributes:
        outline: (K, 2) float32 vertices of the unit shape, centred on the origin.
        center: (2,) float position (x, y) in pixels at time 0.
        velocity: (2,) float pixels per frame.
        angle: rotation in radians at time 0.
        spin: radians per frame.
        scale: radius in pixels at time 0.
        growth: relative scale change per frame.
        colors: (2, 3) uint8 BGR colours blended by the pattern.
        pattern: one of "solid", "stripes", "checker", "dots".
        frequency: spatial frequency of the pattern in radians per pixel.
    """

    outline: np.ndarray
    center: np.ndarray
    velocity: np.ndarray
    angle: float
    spin: float
    scale: float
    growth: float
    colors: np.ndarray
    pattern: str
    frequency: float

    def pose(self, t: float) -> tuple[np.ndarray, float, float]:
        """Centre (2,), angle and scale of the shape at frame ``t``."""
        return self.center + self.velocity * t, self.angle + self.spin * t, self.scale * (1.0 + self.growth * t)


def _outline(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "ellipse":
        theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        aspect = rng.uniform(0.45, 1.0)
        return np.stack([np.cos(theta), aspect * np.sin(theta)], axis=1).astype(np.float32)
    if kind == "rectangle":
        aspect = rng.uniform(0.35, 1.0)
        return np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]], np.float32)
    if kind == "star":
        theta = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        radius = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.4, 0.6))
        return np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1).astype(np.float32)
    sides = 3 if kind == "triangle" else 5
    theta = np.linspace(0, 2 * np.pi, sides, endpoint=False) + rng.uniform(0, np.pi)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1).astype(np.float32)


def random_shape(
    rng: np.random.Generator, height: int, width: int, *, motion: float = 0.0, size: tuple[float, float] = (0.08, 0.22)
) -> Shape:
    """Draw a random shape that fits a ``height`` x ``width`` image.

    Args:
        rng: the random generator (consumed).
        height: image height in pixels.
        width: image width in pixels.
        motion: typical speed in pixels per frame (0 for still images).
        size: radius range as fractions of the image's shorter side.
    """
    short = min(height, width)
    colors = rng.integers(0, 256, size=(2, 3)).astype(np.uint8)
    # Keep the two colours of a pattern apart so stripes read as one textured object.
    colors[1] = (colors[0].astype(int) + rng.integers(60, 196, size=3)) % 256
    speed = motion * rng.uniform(0.5, 1.5)
    heading = rng.uniform(0, 2 * np.pi)
    return Shape(
        outline=_outline(str(rng.choice(_POLYGON_KINDS)), rng),
        center=np.array([rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height]),
        velocity=speed * np.array([np.cos(heading), np.sin(heading)]),
        angle=float(rng.uniform(0, 2 * np.pi)),
        spin=float(rng.normal(0, 0.02)) if motion else 0.0,
        scale=float(rng.uniform(*size) * short),
        growth=float(rng.normal(0, 0.002)) if motion else 0.0,
        colors=colors,
        pattern=str(rng.choice(_PATTERNS)),
        frequency=float(rng.uniform(0.15, 0.6)),
    )


def random_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A (height, width, 3) uint8 background: smooth colour field, faint texture and noise."""
    coarse = rng.integers(0, 256, size=(4, 6, 3)).astype(np.uint8)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    texture = 12.0 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * rng.uniform(0.05, 0.3))
    noise = rng.normal(0, 6, size=(height, width, 1)).astype(np.float32)
    return np.clip(field * 0.7 + 40 + texture[..., None] + noise, 0, 255).astype(np.uint8)


def _paint(image: np.ndarray, mask: np.ndarray, shape: Shape, center: np.ndarray, angle: float) -> None:
    """Fill ``mask`` pixels of ``image`` in place with the shape's texture, which moves with the shape."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return
    dx, dy = xs - center[0], ys - center[1]
    u = (dx * np.cos(angle) + dy * np.sin(angle)) * shape.frequency
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) * shape.frequency
    if shape.pattern == "stripes":
        weight = 0.5 + 0.5 * np.sin(u)
    elif shape.pattern == "checker":
        weight = (np.sin(u) * np.sin(v) > 0).astype(np.float32)
    elif shape.pattern == "dots":
        weight = ((np.sin(u) * np.sin(v)) > 0.5).astype(np.float32)
    else:
        weight = np.zeros_like(u)
    low, high = shape.colors.astype(np.float32)
    image[ys, xs] = (low + weight[:, None] * (high - low)).astype(np.uint8)


def render_scene(
    background: np.ndarray, shapes: list[Shape], t: float = 0.0, *, min_area: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Paint ``shapes`` in order (later ones on top) over ``background`` at frame ``t``.

    Args:
        background: (H, W, 3) uint8 image, not modified.
        shapes: shapes in painting order.
        t: the frame index (poses move linearly with it).
        min_area: visible masks smaller than this many pixels are dropped.

    Returns:
        The (H, W, 3) uint8 image and an (N, H, W) bool stack of the visible part of each
        shape that is at least ``min_area`` pixels large, in painting order.
    """
    height, width = background.shape[:2]
    image = background.copy()
    full = np.zeros((len(shapes), height, width), np.uint8)
    for i, shape in enumerate(shapes):
        center, angle, scale = shape.pose(t)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = (shape.outline @ rotation.T) * scale + center
        cv2.fillPoly(full[i], [np.round(points).astype(np.int32)], 1)
        _paint(image, full[i].astype(bool), shape, center, angle)
    # A pixel belongs to the last shape painted over it.
    covered_above = np.flip(np.cumsum(np.flip(full, 0), 0), 0) - full
    visible = (full > 0) & (covered_above == 0)
    return image, visible[visible.sum(axis=(1, 2)) >= min_area]


class SyntheticClip:
    """A seeded video of textured shapes that move, spin, scale, occlude and leave the frame.

    Args:
        height: frame height in pixels.
        width: frame width in pixels.
        num_shapes: how many shapes the clip has.
        seed: the random seed; the same seed gives the same clip.
        motion: typical speed in pixels per frame, relative to a 360-pixel-high frame.
    """

    def __init__(self, height: int = 360, width: int = 640, num_shapes: int = 8, seed: int = 0, motion: float = 2.0):
        rng = np.random.default_rng(seed)
        self.height, self.width = height, width
        self.background = random_background(rng, height, width)
        self.shapes = [random_shape(rng, height, width, motion=motion * height / 360) for _ in range(num_shapes)]

    def frame(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The (H, W, 3) uint8 BGR image and (N, H, W) bool visible masks of frame ``index``."""
        return render_scene(self.background, self.shapes, float(index))
