"""Prompted-object tracking on real footage: DAVIS 2016 training sequences, J and F against baselines.

    python benchmarks/davis_data.py --git-dir KNN-project.git --out ~/davis2016   # once
    python benchmarks/real_footage.py --data ~/davis2016

Each sequence's real frames and ground truth become an everything-mode segment stream with
FastSAM's failure modes (``davis_streams``: clutter from a Felzenszwalb over-segmentation of
the real frame, the object split along real regions, merged with a real neighbour, missed for
a few frames), saved in the segments-cache format and replayed through ``SegmentsReplay`` as
``--segments`` does (colours measured on the real frame). The object is prompted on frame 0
with one point (the truth's point farthest from its edge) or its box, then followed by:
- ours: ``SegmentTracker`` + ``ObjectTracker`` with DIS optical flow between the real frames,
  as the pipeline runs them;
- fixed prompt: the frame-0 prompt's coordinates resolved again on every frame (ultralytics' way);
- plain IoU: the frame-0 selection carried by the segment of highest mask IoU with the last mask;
- ByteTrack: box-IoU ByteTrack (roboflow's ``trackers``) over all segments; the object is the
  tracks its frame-0 segments started;
- oracle: on every frame, the union of that frame's segments with the best IoU against the truth.
J and F come from vos-benchmark (DAVIS' definitions), frames 1 to the end at 854x480, masks
brought to frame pixels as the pipeline draws and exports them. Also reported: the share of
returns after a miss on which the object is held (J >= 0.5 on the first frame it is back), and
the longest run of frames following a wrong object (J < 0.05 while the oracle's J > 0.5).

DAVIS is CC BY-NC: frames, masks and streams stay outside the repository; this benchmark is
run by hand, not in CI. Validation sequences are never used. Needs ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures
from davis_streams import StreamMaker, write_stream

from fastsam_track.errors import PromptMiss
from fastsam_track.masks import upsample_masks
from fastsam_track.pipeline.exports.segments import SegmentsReplay
from fastsam_track.trackers.association import mask_coverage, mask_iou
from fastsam_track.trackers.flow import FrameFlow
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.prompting import select_by_box, select_by_points, to_grid
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, PointPrompt, Prompt

README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- real-footage:begin -->", "<!-- real-footage:end -->"
METHODS = ("ours", "fixed prompt", "plain IoU", "ByteTrack", "oracle")
PROMPTS = ("point", "box")


@dataclass
class Sequence:
    """A DAVIS sequence: T frames (H, W, 3) uint8 BGR and T (H, W) bool truths."""

    name: str
    images: list[np.ndarray]
    truths: list[np.ndarray]


def load(data: Path, name: str) -> Sequence:
    frames = sorted((data / "JPEGImages/480p" / name).glob("*.jpg"))
    masks = sorted((data / "Annotations/480p" / name).glob("*.png"))
    images = [cv2.imread(str(p)) for p in frames]
    truths = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 0 for p in masks]
    return Sequence(name, images, truths)


def stream(data: Path, sequence: Sequence, seed: int) -> Path:
    """The sequence's segment stream file (and the object's state per frame beside it), made on first use."""
    path = data / "streams" / f"{sequence.name}-seed{seed}.jsonl"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        stacks, states = StreamMaker().stream(sequence.images, sequence.truths, seed)
        path.with_suffix(".states.json").write_text(json.dumps(states))
        write_stream(path, sequence.images, stacks, seed)
    return path


def prompt_for(kind: str, truth: np.ndarray) -> Prompt:
    """The frame-0 prompt: the truth's point farthest from its edge, or its box."""
    if kind == "point":
        distance = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
        y, x = np.unravel_index(np.argmax(distance), distance.shape)
        return PointPrompt(0, 1, np.array([[x + 0.5, y + 0.5]]), np.array([1]))
    ys, xs = np.nonzero(truth)
    return BoxPrompt(0, 1, np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float))


def select(prompt: Prompt, masks: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """FastSAM's selection of one frame's (N, h, w) masks (an empty mask when it selects nothing)."""
    grid = masks.shape[1:]
    try:
        if isinstance(prompt, PointPrompt):
            return select_by_points(masks, to_grid(prompt.points, frame_shape, grid), prompt.labels)
        assert isinstance(prompt, BoxPrompt)
        return select_by_box(masks, to_grid(prompt.box.reshape(2, 2), frame_shape, grid).reshape(4))
    except PromptMiss:
        return np.zeros(grid, bool)


def follow(sequence: Sequence, path: Path, prompt: Prompt) -> dict[str, np.ndarray]:
    """(T, h, w) bool object masks of each method on the replayed stream."""
    replay = SegmentsReplay(path)
    frames = [replay(image) for image in sequence.images]
    grid = np.asarray(frames[0].mask).shape[1:]
    shape = sequence.images[0].shape[:2]
    out = {m: np.zeros((len(frames), *grid), bool) for m in METHODS}

    flow, segment_tracker, objects = FrameFlow(), SegmentTracker(), ObjectTracker()
    for t, (image, segments) in enumerate(zip(sequence.images, frames, strict=True)):
        cues = flow.update(image, grid)
        followed = objects.update(segment_tracker.update(segments, cues), shape, [prompt] if t == 0 else [], cues)
        if len(followed):
            out["ours"][t] = followed.mask[0]

    first = select(prompt, np.asarray(frames[0].mask), shape)
    last = first
    for t, segments in enumerate(frames):
        masks = np.asarray(segments.mask)
        out["fixed prompt"][t] = select(prompt, masks, shape)
        if t == 0:
            out["plain IoU"][t] = first
            continue
        iou = mask_iou(last[None], masks)[0]
        if len(iou) and iou.max() > 0:
            last = out["plain IoU"][t] = masks[int(np.argmax(iou))]

    from trackers import ByteTrackTracker

    byte = ByteTrackTracker(minimum_consecutive_frames=1)
    chosen: set[int] | None = None
    for t, segments in enumerate(frames):
        tracked = byte.update(segments)
        known = np.asarray(tracked.tracker_id) >= 0
        if not known.any():
            continue
        masks = np.asarray(tracked.mask)
        if chosen is None:  # the tracks whose first masks lie mostly inside the frame-0 selection
            chosen = set(tracked.tracker_id[(mask_coverage(first[None], masks)[0] > 0.5) & known].tolist())
        keep = np.isin(tracked.tracker_id, list(chosen)) & known
        if keep.any():
            out["ByteTrack"][t] = masks[keep].any(0)

    for t, (segments, truth) in enumerate(zip(frames, sequence.truths, strict=True)):
        out["oracle"][t] = best_union(np.asarray(segments.mask), _grid_truth(truth, grid))
    return out


def best_union(masks: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(h, w) bool: the union of (N, h, w) segments with the highest IoU against the truth.

    For disjoint segments the best union is a prefix of the segments sorted by the ratio of
    cells inside the truth to cells outside it; overlapping ones are counted once.
    """
    if len(masks) == 0 or not truth.any():
        return np.zeros(truth.shape, bool)
    inside = masks[:, truth].sum(1)
    outside = masks.sum((1, 2)) - inside
    order = np.argsort(-(inside / (outside + 1e-9)), kind="stable")
    order = order[inside[order] > 0]
    best, best_iou, union = np.zeros(truth.shape, bool), 0.0, np.zeros(truth.shape, bool)
    for k in order:
        union = union | masks[k]
        iou = (union & truth).sum() / (union | truth).sum()
        if iou > best_iou:
            best, best_iou = union.copy(), iou
    return best


def _grid_truth(truth: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(truth.astype(np.float32), grid[::-1], interpolation=cv2.INTER_AREA) > 0.5


def score(sequence: Sequence, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T - 1,) J and (T - 1,) F of (T, h, w) object masks, frames 1 to the end (vos-benchmark)."""
    from vos_benchmark.evaluator import Evaluator

    evaluator = Evaluator()
    shape = sequence.images[0].shape[:2]
    for t in range(1, len(masks)):
        drawn = upsample_masks(masks[t][None], shape)[0] if masks[t].any() else np.zeros(shape, bool)
        evaluator.feed_frame(drawn.astype(np.uint8), sequence.truths[t].astype(np.uint8))
    return np.array(evaluator.object_iou[1]), np.array(evaluator.boundary_f[1])


def _returns(states: list[str]) -> list[int]:
    """Frames on which the object is back after a miss."""
    return [t for t in range(1, len(states)) if states[t - 1] == "missed" and states[t] != "missed"]


def _longest(run: np.ndarray) -> int:
    best = current = 0
    for flag in run:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def evaluate(args: tuple[Path, str, int]) -> dict[str, dict[str, float]]:
    """Scores of every method and prompt kind on one sequence, keyed ``"{prompt} {method}"``."""
    data, name, seed = args
    started = time.perf_counter()
    sequence = load(data, name)
    path = stream(data, sequence, seed)
    states = json.loads(path.with_suffix(".states.json").read_text())
    results: dict[str, dict[str, float]] = {}
    for kind in PROMPTS:
        masks = follow(sequence, path, prompt_for(kind, sequence.truths[0]))
        j_oracle, _ = score(sequence, masks["oracle"])
        for method in METHODS:
            j, f = (
                score(sequence, masks[method]) if method != "oracle" else (j_oracle, score(sequence, masks[method])[1])
            )
            back = [t - 1 for t in _returns(states)]
            wrong = (j < 0.05) & (j_oracle > 0.5)
            results[f"{kind} {method}"] = {
                "J": float(j.mean()),
                "F": float(f.mean()),
                "held": float(np.mean(j[back] >= 0.5)) if back else float("nan"),
                "wrong": float(wrong.sum()),
                "wrong run": float(_longest(wrong)),
            }
    print(f"{name}: {len(sequence.images)} frames, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder davis_data.py extracted into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sequences", nargs="*", help="default: every training sequence in --data")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()
    data = args.data.expanduser()
    names = args.sequences or sorted(p.name for p in (data / "JPEGImages/480p").iterdir())
    with ProcessPoolExecutor(args.workers) as pool:
        results = dict(zip(names, pool.map(evaluate, [(data, n, args.seed) for n in names]), strict=True))
    print(table(results, args))
    if not args.no_write:
        text = README.read_text()
        head, rest = text.split(BEGIN, 1)
        README.write_text(f"{head}{BEGIN}\n{table(results, args)}\n{END}{rest.split(END, 1)[1]}")
        figures.real_footage(table(results, args))


def table(results: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace) -> str:
    """Markdown: per sequence and prompt kind, J of each method, ours / oracle, held after a miss, wrong runs."""
    columns = [*(f"J {m}" for m in METHODS), "F ours", "ours / oracle", "held after miss", "longest wrong run"]
    counts = {"longest wrong run"}
    lines = []
    means: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name, by_key in results.items():
        for kind in PROMPTS:
            row = {f"J {m}": by_key[f"{kind} {m}"]["J"] for m in METHODS}
            row["F ours"] = by_key[f"{kind} ours"]["F"]
            row["ours / oracle"] = row["J ours"] / max(row["J oracle"], 1e-9)
            row["held after miss"] = by_key[f"{kind} ours"]["held"]
            row["longest wrong run"] = by_key[f"{kind} ours"]["wrong run"]
            for c in columns:
                means[kind][c].append(row[c])
            below = [m for m in ("fixed prompt", "plain IoU") if row["J ours"] < row[f"J {m}"]]
            cells = [f"{row[c]:.0f}" if c in counts else _cell(row[c]) for c in columns]
            lines.append(f"| {name} | {kind} | " + " | ".join(cells) + f" | {', '.join(below)} |")
    for kind in PROMPTS:
        values = {c: _nanmean(means[kind][c]) for c in columns}
        values["ours / oracle"] = values["J ours"] / values["J oracle"]
        values["longest wrong run"] = max(means[kind]["longest wrong run"])
        cells = [f"**{values[c]:.0f}**" if c in counts else f"**{_cell(values[c])}**" for c in columns]
        below = sum(1 for line in lines if f"| {kind} |" in line and not line.endswith("|  |"))
        lines.append(f"| **mean** | **{kind}** | " + " | ".join(cells) + f" | {below} sequences |")
    return "\n".join(
        [
            f"`python benchmarks/real_footage.py --data DAVIS --seed {args.seed}`: {len(results)} DAVIS 2016 training "
            "sequences, 854x480, segments on a 160x90 grid; J and F from vos-benchmark, frames 1 to the end. "
            "Ours / oracle is the ratio of mean J; the mean row's longest wrong run is the maximum; "
            "*ours below* names the baselines (fixed prompt, plain IoU) ours is below on that row.",
            "",
            "| sequence | prompt | " + " | ".join(columns) + " | ours below |",
            "|---" * (len(columns) + 3) + "|",
            *lines,
        ]
    )


def _cell(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if v == v]
    return statistics.mean(kept) if kept else float("nan")


if __name__ == "__main__":
    main()
