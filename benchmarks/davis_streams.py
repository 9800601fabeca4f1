"""Everything-mode segment streams made from real video and its ground truth.

For each frame of a DAVIS sequence this makes what FastSAM's everything mode gives the
tracker: segments at mask resolution (the prototype grid: 90x160 for an 854x480 frame at
imgsz 640) that tile most of the frame, with the failure modes FastSAM shows on real video.

- Clutter: the regions of a Felzenszwalb over-segmentation of the real frame (scikit-image),
  the object's cells taken out; some regions are missed, merged with a neighbour or split.
- The object (the ground truth): whole with boundary noise; split into parts along the
  frame's own regions; merged with the real region it shares the longest border with;
  missed for one to a few frames. Events last several frames, as FastSAM's do on video.

``PROFILES`` names two makers. ``default`` is the above. ``harsh`` changes the mechanisms, not
only the rates, towards what FastSAM does on real video at small input sizes: the mask grid of
imgsz 480 or 320 (by seed) instead of 640; clutter from a finer over-segmentation (more, smaller
regions), more of it missed and split; the object cut straight across at a random angle into
two to four parts, the cut drawn afresh on every frame of a split; merged with a random touching
region (not the one it borders most), kept for longer, sometimes with a second one; misses more
frequent and longer; rougher boundaries.

Streams are seeded and written in the project's segments-cache format
(``SegmentsWriter``), so ``fastsam-track run FRAMES/ --segments STREAM.jsonl`` replays them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from fastsam_track.pipeline.exports.segments import SegmentsWriter
from fastsam_track.types import Frame, SegmentedFrame

MIN_CELLS = 4  # FastSAM keeps no segment smaller than a few prototype cells


def grid_shape(frame_shape: tuple[int, int], imgsz: int = 640) -> tuple[int, int]:
    """(h, w) of the mask grid for an (H, W) frame: 1/4 of the letterboxed input, padding removed."""
    scale = imgsz / max(frame_shape)
    return round(frame_shape[0] * scale / 4), round(frame_shape[1] * scale / 4)


def to_grid(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(H, W) bool to (h, w) bool: a cell is set when most of it is."""
    return cv2.resize(mask.astype(np.float32), grid[::-1], interpolation=cv2.INTER_AREA) > 0.5


def regions(image: np.ndarray, grid: tuple[int, int], scale: float, min_size: int = 30) -> np.ndarray:
    """(h, w) int32 Felzenszwalb region labels of a BGR frame, computed at twice the grid's size."""
    from skimage.segmentation import felzenszwalb

    small = cv2.resize(image, (2 * grid[1], 2 * grid[0]), interpolation=cv2.INTER_AREA)
    labels = felzenszwalb(small[..., ::-1], scale=scale, sigma=0.8, min_size=min_size)
    return cv2.resize(labels.astype(np.int32), grid[::-1], interpolation=cv2.INTER_NEAREST)


@dataclass
class StreamMaker:
    """Turns (frame, truth) pairs into segments with FastSAM's failure modes.

    Attributes:
        jitter: probability that an object boundary cell flips.
        split: per frame, probability that an object split starts.
        merge: per frame, probability that a merge with a neighbouring region starts.
        miss: per frame, probability that a miss starts.
        event_frames: duration range of a split or merge, in frames.
        miss_frames: duration range of a miss, in frames.
        clutter_miss: probability that a clutter region is not segmented.
        clutter_merge: probability that a clutter region merges with a neighbour.
        clutter_split: probability that a clutter region is split in two.
        scale: Felzenszwalb's scale (larger: fewer, bigger regions).
        min_size: Felzenszwalb's smallest region, in cells of the doubled grid.
        imgsz: the network input sizes whose mask grid the stream takes, one per seed in turn
            (640: 90x160 for an 854x480 frame; 480: 68x120; 320: 45x80).
        cut: how a split divides the object: "regions" along the frame's own regions (two halves
            when it lies in one region), "straight" by straight lines across it.
        parts: with cut="straight", the range of the number of parts (high exclusive).
        redraw: draw a split's cut afresh on every frame of the event (else a straight cut keeps
            its angle through the event).
        partner: what the object merges with: "border" the clutter region it shares the longest
            border with, "random" any touching one, drawn when the merge starts.
        second_merge: probability that a merge takes a second touching region as well.
    """

    jitter: float = 0.15
    split: float = 0.06
    merge: float = 0.05
    miss: float = 0.04
    event_frames: tuple[int, int] = (2, 9)
    miss_frames: tuple[int, int] = (1, 5)
    clutter_miss: float = 0.15
    clutter_merge: float = 0.1
    clutter_split: float = 0.05
    scale: float = 300.0
    min_size: int = 30
    imgsz: tuple[int, ...] = (640,)
    cut: str = "regions"
    parts: tuple[int, int] = (2, 3)
    redraw: bool = False
    partner: str = "border"
    second_merge: float = 0.0

    def stream(
        self, images: list[np.ndarray], truths: list[np.ndarray], seed: int
    ) -> tuple[list[np.ndarray], list[str]]:
        """Segments of every frame.

        Args:
            images: T (H, W, 3) uint8 BGR frames.
            truths: T (H, W) bool object masks.
            seed: the random seed.

        Returns:
            T (N_t, h, w) bool segment stacks and T labels of the object's state on each frame
            ("whole", "split", "merged", "missed" or "absent").
        """
        rng = np.random.default_rng(seed)
        grid = grid_shape(images[0].shape[:2], self.imgsz[seed % len(self.imgsz)])
        until = {"split": -1, "merge": -1, "miss": -1}
        angles: list[float] = []
        partner_point: tuple[int, int] | None = None
        stacks, states = [], []
        for t, (image, truth) in enumerate(zip(images, truths, strict=True)):
            labels = regions(image, grid, self.scale, self.min_size)
            obj = to_grid(truth, grid)
            for event, (low, high) in (("miss", self.miss_frames), ("split", self.event_frames)):
                if 0 < t and until[event] < t and rng.random() < getattr(self, event):
                    until[event] = t + int(rng.integers(low, high)) - 1
                    if event == "split" and self.cut == "straight":
                        angles = self._angles(rng)
            if 0 < t and until["merge"] < t and rng.random() < self.merge:
                until["merge"] = t + int(rng.integers(*self.event_frames)) - 1
                partner_point = None
            clutter = self._clutter(labels, obj, rng)
            segments: list[np.ndarray]
            if obj.sum() < MIN_CELLS:
                segments, state = [], "absent"
            elif until["miss"] >= t:
                segments, state = [], "missed"
            else:
                whole = self._jittered(obj, rng)
                segments, state = [whole], "whole"
                if until["split"] >= t:
                    if self.redraw and self.cut == "straight":
                        angles = self._angles(rng)
                    segments, state = self._split(whole, labels, angles, rng), "split"
                if until["merge"] >= t and clutter:
                    partner, partner_point = self._partner(whole, clutter, partner_point, rng)
                    if partner >= 0:
                        merged = clutter.pop(partner) | segments.pop(0)
                        if clutter and self.second_merge > 0 and rng.random() < self.second_merge:
                            second = _longest_border(merged, clutter)
                            if second >= 0:
                                merged = merged | clutter.pop(second)
                        segments.insert(0, merged)
                        state = "merged" if state == "whole" else "split+merged"
            stack = np.array([m for m in segments + clutter if m.sum() >= MIN_CELLS], bool).reshape(-1, *grid)
            stacks.append(stack[rng.permutation(len(stack))])
            states.append(state)
        return stacks, states

    def _angles(self, rng: np.random.Generator) -> list[float]:
        """Angles of the straight cuts of one split: one fewer than its parts."""
        return [float(rng.uniform(0, np.pi)) for _ in range(int(rng.integers(*self.parts)) - 1)]

    def _split(
        self, whole: np.ndarray, labels: np.ndarray, angles: list[float], rng: np.random.Generator
    ) -> list[np.ndarray]:
        if self.cut == "regions":
            return self._parts(whole, labels, rng)
        parts = [whole]
        for angle in angles:  # each cut halves the largest part so far
            largest = int(np.argmax([p.sum() for p in parts]))
            parts[largest : largest + 1] = _halves(parts[largest], angle)
        return [p for p in parts if p.any()]

    def _partner(
        self,
        whole: np.ndarray,
        clutter: list[np.ndarray],
        point: tuple[int, int] | None,
        rng: np.random.Generator,
    ) -> tuple[int, tuple[int, int] | None]:
        """Index of the clutter region the object merges with (-1: none), and the cell that names
        it through a merge ("random": the region holding the cell drawn when the merge started, while
        it still touches the object)."""
        if self.partner == "border":
            return _longest_border(whole, clutter), None
        ring = cv2.dilate(whole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~whole
        touching = [k for k, c in enumerate(clutter) if (ring & c).any()]
        if point is not None:
            held = [k for k in touching if clutter[k][point]]
            if held:
                return held[0], point
        if not touching:
            return -1, None
        k = touching[int(rng.integers(len(touching)))]
        ys, xs = np.nonzero(clutter[k])
        i = int(rng.integers(len(ys)))
        return k, (int(ys[i]), int(xs[i]))

    def _clutter(self, labels: np.ndarray, obj: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """The frame's regions outside the object, some missed, merged with a neighbour or split."""
        outside = np.where(obj, -1, labels)
        ids, counts = np.unique(outside[outside >= 0], return_counts=True)
        masks = [outside == i for i, c in zip(ids, counts, strict=True) if c >= MIN_CELLS]
        masks = [m for m in masks if rng.random() >= self.clutter_miss]
        out: list[np.ndarray] = []
        while masks:
            mask = masks.pop(int(rng.integers(len(masks))))
            if masks and rng.random() < self.clutter_merge:
                partner = _longest_border(mask, masks)
                if partner >= 0:
                    mask = mask | masks.pop(partner)
            if rng.random() < self.clutter_split:
                out.extend(_halves(mask, float(rng.uniform(0, np.pi))))
            else:
                out.append(mask)
        return out

    def _jittered(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        kernel = np.ones((3, 3), np.uint8)
        inner = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
        outer = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        flip = (outer & ~inner) & (rng.random(mask.shape) < self.jitter)
        return mask ^ flip

    @staticmethod
    def _parts(mask: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """The object cut along the frame's own regions (two halves when it lies in one region)."""
        inside = np.where(mask, labels, -1)
        ids, counts = np.unique(inside[inside >= 0], return_counts=True)
        big = ids[counts >= MIN_CELLS]
        if len(big) < 2:
            return _halves(mask, float(rng.uniform(0, np.pi)))
        parts = [inside == i for i in big]
        # Small leftovers go to the part they touch most, so nothing of the object is lost.
        rest = mask & ~np.any(parts, axis=0)
        if rest.any():
            k = _longest_border(rest, parts)
            parts[max(k, 0)] = parts[max(k, 0)] | rest
        # Drop one part now and then: FastSAM does not always find every part.
        return [p for p in parts if rng.random() >= 0.1] or parts[:1]


PROFILES: dict[str, StreamMaker] = {
    "default": StreamMaker(),
    "harsh": StreamMaker(
        jitter=0.3,
        split=0.1,
        merge=0.08,
        miss=0.05,
        event_frames=(4, 16),
        miss_frames=(2, 9),
        clutter_miss=0.25,
        clutter_merge=0.1,
        clutter_split=0.2,
        scale=100.0,
        min_size=12,
        imgsz=(480, 320),
        cut="straight",
        parts=(2, 5),
        redraw=True,
        partner="random",
        second_merge=0.3,
    ),
}
"""The stream profiles ``real_footage.py`` and ``keyframes.py`` report (see the module's docstring)."""


def _halves(mask: np.ndarray, angle: float) -> list[np.ndarray]:
    ys, xs = np.nonzero(mask)
    if len(ys) < 2 * MIN_CELLS:
        return [mask]
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    side = (xx - xs.mean()) * np.cos(angle) + (yy - ys.mean()) * np.sin(angle) > 0
    return [mask & side, mask & ~side]


def _longest_border(mask: np.ndarray, others: list[np.ndarray]) -> int:
    """Index of the mask in ``others`` that shares the longest border with ``mask`` (-1: none touches)."""
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~mask
    touching = np.array([(ring & o).sum() for o in others])
    return int(np.argmax(touching)) if len(touching) and touching.max() > 0 else -1


def write_stream(path: Path, images: list[np.ndarray], stacks: list[np.ndarray], seed: int) -> None:
    """Save a stream in the segments-cache format (boxes from the masks, seeded scores)."""
    rng = np.random.default_rng(seed + 1)
    with SegmentsWriter(path) as writer:
        for t, (image, stack) in enumerate(zip(images, stacks, strict=True)):
            detections = sv.Detections(
                xyxy=_boxes(stack, image.shape[:2]),
                mask=stack,
                confidence=rng.uniform(0.5, 0.99, len(stack)).astype(np.float32),
            )
            writer.write(SegmentedFrame(Frame(t, image, t / 30.0), detections))


def _boxes(stack: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """(N, 4) float32 frame-pixel boxes of (N, h, w) masks."""
    if len(stack) == 0:
        return np.zeros((0, 4), np.float32)
    cells = sv.mask_to_xyxy(stack).astype(np.float32) + np.array([0, 0, 1, 1], np.float32)  # inclusive to exclusive
    return cells * np.array([frame_shape[1] / stack.shape[2], frame_shape[0] / stack.shape[1]] * 2, np.float32)
