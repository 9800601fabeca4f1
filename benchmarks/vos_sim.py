"""Seeded video scenarios with ground truth, and a FastSAM-like segmenter simulator.

Scenarios move textured shapes (``fastsam_track.synthetic``) along scripted paths:
translation, rotation and scaling, occlusion by a passing shape, exit and re-entry,
look-alike distractors. The simulator turns each frame's ground-truth visible masks
into everything-mode segments at mask resolution with the failure modes FastSAM shows:
boundary jitter, an object split into parts for a few frames, an object merged with a
neighbour for a few frames, missed segments, spurious blobs and a background segment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from fastsam_track.synthetic import Shape, random_background, random_shape, render_scene

FRAME = (360, 640)  # (H, W) of the frames
GRID = (45, 80)  # (h, w) of the mask grid: 1/8, as FastSAM's prototypes of a 640-wide input


@dataclass(frozen=True)
class Scenario:
    """A scripted clip: per-frame ground truth at frame and grid resolution.

    Attributes:
        name: the scenario's name.
        truth: (T, H, W) int32 label images, 0 background, i + 1 for shape i.
        grid_truth: (T, h, w) int32 the same on the mask grid.
        prompted: ids (labels) of the objects prompted on frame 0.
        colors: (L + 1, 3) float mean colour of the background (0) and each label.
        images: (T, H, W, 3) uint8 the rendered frames (what the optical flow sees).
    """

    name: str
    truth: np.ndarray
    grid_truth: np.ndarray
    prompted: tuple[int, ...]
    colors: np.ndarray
    images: np.ndarray


def _bounce(start: float, speed: float, t: np.ndarray, low: float, high: float) -> np.ndarray:
    """Positions of a point moving at ``speed`` that reflects off ``low`` and ``high``."""
    span = high - low
    raw = (start - low + speed * t) % (2 * span)
    return low + np.where(raw > span, 2 * span - raw, raw)


def _poses(shape: Shape, t: np.ndarray, margin: float = 0.0) -> list[Shape]:
    """The shape at each frame, bouncing inside the frame widened by ``margin`` pixels."""
    h, w = FRAME
    xs = _bounce(shape.center[0], shape.velocity[0], t, -margin, w + margin)
    ys = _bounce(shape.center[1], shape.velocity[1], t, -margin, h + margin)
    return [
        dataclasses.replace(
            shape,
            center=np.array([x, y]),
            velocity=np.zeros(2),
            angle=shape.angle + shape.spin * ti,
            scale=shape.scale * (1 + 0.25 * np.sin(shape.growth * ti)),
            spin=0.0,
            growth=0.0,
        )
        for x, y, ti in zip(xs, ys, t, strict=True)
    ]


def make_scenario(name: str, seed: int, frames: int = 60) -> Scenario:
    """Generate one of ``SCENARIOS`` with its ground truth."""
    rng = np.random.default_rng(seed)
    h, w = FRAME
    background = random_background(rng, h, w)
    t = np.arange(frames, dtype=float)
    shapes = [random_shape(rng, h, w, motion=4.0, size=(0.12, 0.2)) for _ in range(5)]
    tracks = []
    prompted = (1, 2)
    if name == "translate":
        tracks = [_poses(dataclasses.replace(s, spin=0.0, growth=0.0), t) for s in shapes]
    elif name == "rotate_scale":
        tracks = [_poses(dataclasses.replace(s, spin=rng.uniform(0.04, 0.1), growth=0.1), t) for s in shapes]
    elif name == "occlusion":
        tracks = [_poses(dataclasses.replace(s, spin=0.0, growth=0.0), t) for s in shapes]
        # A large shape sweeps across the two prompted ones, on top of them.
        target = tracks[0][frames // 2].center
        start = np.array([target[0] - 12.0 * frames / 2, target[1]])
        occluder = dataclasses.replace(shapes[4], scale=0.28 * h, spin=0.0, growth=0.0)
        tracks.append([dataclasses.replace(occluder, center=start + np.array([12.0 * ti, 0.0])) for ti in t])
    elif name == "exit_reentry":
        # The prompted shapes fly past the border and come back.
        fast = [dataclasses.replace(s, velocity=s.velocity * 2.5, spin=0.0, growth=0.0) for s in shapes[:2]]
        tracks = [_poses(s, t, margin=0.5 * w) for s in fast]
        tracks += [_poses(dataclasses.replace(s, spin=0.0, growth=0.0), t) for s in shapes[2:]]
    elif name == "distractors":
        # Copies of the prompted shapes (same outline, texture and size) cross their paths.
        twins = [dataclasses.replace(s, center=np.array([w, h]) - s.center, velocity=-s.velocity) for s in shapes[:2]]
        tracks = [_poses(dataclasses.replace(s, spin=0.0, growth=0.0), t) for s in [*shapes[:3], *twins]]
    else:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")

    truth = np.zeros((frames, h, w), np.int32)
    images = np.zeros((frames, h, w, 3), np.uint8)
    for f in range(frames):
        images[f], visible = render_scene(background, [track[f] for track in tracks], min_area=0)
        truth[f] = (visible * np.arange(1, len(tracks) + 1)[:, None, None]).max(0)
    colors = np.array([background.reshape(-1, 3).mean(0)] + [track[0].colors.mean(0) for track in tracks])
    return Scenario(name, truth, downsample_labels(truth), prompted, colors, images)


def downsample_labels(labels: np.ndarray) -> np.ndarray:
    """(T, H, W) label images to (T, h, w) on the mask grid: each cell takes its majority label."""
    out = np.zeros((len(labels), *GRID), np.int32)
    for value in np.unique(labels):
        if value == 0:
            continue
        share = np.stack(
            [cv2.resize((f == value).astype(np.float32), GRID[::-1], interpolation=cv2.INTER_AREA) for f in labels]
        )
        out[share > 0.5] = value
    return out


@dataclass
class SegmenterSimulator:
    """Everything-mode segments from ground truth, with FastSAM's failure modes.

    Attributes:
        jitter: probability that a boundary cell flips.
        split: per object and frame, probability a split into two parts starts.
        merge: per object and frame, probability a merge with the nearest neighbour starts.
        miss: per object and frame, probability its segment is missing.
        spurious: mean number of spurious blobs per frame.
        background: probability of a segment covering the background.
        event_frames: how long a split or merge lasts, in frames (range).
    """

    jitter: float = 0.1
    split: float = 0.04
    merge: float = 0.04
    miss: float = 0.02
    spurious: float = 1.5
    background: float = 0.3
    event_frames: tuple[int, int] = (2, 8)

    def run(self, grid_truth: np.ndarray, colors: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(T, h, w) int labels to T pairs of (N_t, h, w) bool segments and (N_t, 3) mean colours."""
        rng = np.random.default_rng(seed)
        ids = [int(i) for i in np.unique(grid_truth) if i]
        split_until = dict.fromkeys(ids, -1)
        split_angle = dict.fromkeys(ids, 0.0)
        merge_until = dict.fromkeys(ids, -1)
        out = []
        for f, labels in enumerate(grid_truth):
            present = [i for i in ids if (labels == i).sum() >= 2]
            masks: list[np.ndarray] = []
            merged_into: dict[int, int] = {}
            for i in present:
                if merge_until[i] < f and rng.random() < self.merge:
                    merge_until[i] = f + rng.integers(*self.event_frames)
                if merge_until[i] >= f and i not in merged_into.values():
                    partner = _nearest(labels, i, [j for j in present if j != i and j not in merged_into])
                    if partner is not None:
                        merged_into[partner] = i
            for i in present:
                if i in merged_into or rng.random() < self.miss:
                    continue
                mask = labels == i
                for j, host in merged_into.items():
                    if host == i:
                        mask = mask | (labels == j)
                mask = self._jitter(mask, rng)
                if split_until[i] < f and rng.random() < self.split:
                    split_until[i] = f + rng.integers(*self.event_frames)
                    split_angle[i] = rng.uniform(0, np.pi)
                if split_until[i] >= f:
                    masks.extend(_split(mask, split_angle[i]))
                else:
                    masks.append(mask)
            for _ in range(rng.poisson(self.spurious)):
                masks.append(_blob(rng))
            if rng.random() < self.background:
                masks.append(self._jitter(labels == 0, rng))
            stack = np.array([m for m in masks if m.sum() >= 2], bool).reshape(-1, *GRID)
            # A segment's colour is the mean of what it covers, as the pipeline measures it.
            cell_colors = colors[labels].reshape(-1, 3)
            flat = stack.reshape(len(stack), -1).astype(np.float32)
            mean = flat @ cell_colors / np.maximum(flat.sum(1, keepdims=True), 1)
            out.append((stack, mean + rng.normal(0, 4, mean.shape)))
        return out

    def _jitter(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        edge = mask ^ cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        outer = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~mask
        flip = (edge | outer) & (rng.random(mask.shape) < self.jitter)
        return mask ^ flip


def _nearest(labels: np.ndarray, i: int, candidates: list[int]) -> int | None:
    """The candidate whose mask touches object ``i`` (after a 2-cell dilation), if any."""
    grown = cv2.dilate((labels == i).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    touching = [(int((grown & (labels == j)).sum()), j) for j in candidates]
    touching = [pair for pair in touching if pair[0] > 0]
    return max(touching)[1] if touching else None


def _split(mask: np.ndarray, angle: float) -> list[np.ndarray]:
    ys, xs = np.nonzero(mask)
    if len(ys) < 4:
        return [mask]
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    side = (xx - xs.mean()) * np.cos(angle) + (yy - ys.mean()) * np.sin(angle) > 0
    return [mask & side, mask & ~side]


def _blob(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros(GRID, np.uint8)
    center = (int(rng.integers(0, GRID[1])), int(rng.integers(0, GRID[0])))
    axes = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask.astype(bool)


SCENARIOS = ("translate", "rotate_scale", "occlusion", "exit_reentry", "distractors")
