"""Prompt propagation and everything-mode tracking quality on simulated FastSAM output.

    python benchmarks/propagation.py --seeds 3

For each scenario of ``vos_sim`` and each seed: objects 1 and 2 are prompted with one
foreground point on frame 0, then followed through the clip by
- ours: ``ObjectTracker`` with the optical flow of the rendered frames (``FrameFlow``);
- re-apply: the frame-0 point prompt resolved again on every frame (ultralytics' way);
- ByteTrack: box-IoU ByteTrack (roboflow's ``trackers``, where supervision's moved) over all segments; the object is the
  tracks its frame-0 segments started;
- oracle: on every frame, the union of the segments that lie mostly inside the truth.
J&F comes from vos-benchmark (DAVIS' J and boundary F), frames 1 to the end, at frame
resolution. Everything-mode tracks (all objects) are scored with TrackEval's HOTA and
IDF1 for ``SegmentTracker`` and ByteTrack. Needs ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vos_sim import FRAME, GRID, SCENARIOS, Scenario, SegmenterSimulator, make_scenario

from fastsam_track.errors import PromptMiss
from fastsam_track.masks import upsample_masks
from fastsam_track.trackers.association import mask_coverage, mask_iou
from fastsam_track.trackers.flow import FrameFlow
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.prompting import select_by_points, to_grid
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import PointPrompt, TrackState

README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- propagation:begin -->", "<!-- propagation:end -->"
METHODS = ("ours", "re-apply", "ByteTrack", "oracle")


def _prompt_point(truth: np.ndarray, object_id: int) -> np.ndarray:
    """(1, 2) frame-pixel (x, y): the point of the object farthest from its edge."""
    import cv2

    distance = cv2.distanceTransform((truth == object_id).astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(np.argmax(distance), distance.shape)
    return np.array([[x + 0.5, y + 0.5]])


def _segment_boxes(masks: np.ndarray) -> np.ndarray:
    scale = np.array([FRAME[1] / GRID[1], FRAME[0] / GRID[0]] * 2)
    boxes = np.zeros((len(masks), 4))
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return (boxes * scale).astype(np.float32)


def _detections(segments: tuple[np.ndarray, np.ndarray]) -> sv.Detections:
    masks, colors = segments
    return sv.Detections(
        xyxy=_segment_boxes(masks),
        mask=masks,
        confidence=np.ones(len(masks), np.float32),
        class_id=np.zeros(len(masks), int),
        data={"color": colors},
    )


def propagate(scenario: Scenario, frames_segments: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """(T, h, w) int label grids of the prompted objects for each method."""
    frames = len(frames_segments)
    segments = [masks for masks, _ in frames_segments]
    ids = scenario.prompted
    points = {i: _prompt_point(scenario.truth[0], i) for i in ids}
    out = {m: np.zeros((frames, *GRID), np.int32) for m in METHODS}

    flow, tracker, segment_tracker = FrameFlow(), ObjectTracker(), SegmentTracker()
    for f, frame_segments in enumerate(frames_segments):
        prompts = [PointPrompt(0, i, points[i], np.array([1])) for i in ids] if f == 0 else []
        cues = flow.update(scenario.images[f], GRID)
        objects = tracker.update(segment_tracker.update(_detections(frame_segments), cues), FRAME, prompts, cues)
        for object_id, mask in zip(objects.tracker_id, objects.mask, strict=True):
            out["ours"][f][mask] = object_id

    for f, masks in enumerate(segments):
        for i in ids:
            try:
                out["re-apply"][f][select_by_points(masks, to_grid(points[i], FRAME, GRID), np.array([1]))] = i
            except PromptMiss:
                pass

    byte = ByteTrackTracker(minimum_consecutive_frames=1)
    selections = {i: select_by_points(segments[0], to_grid(points[i], FRAME, GRID), np.array([1])) for i in ids}
    chosen: dict[int, set[int]] = {}
    for f, frame_segments in enumerate(frames_segments):
        tracked = byte.update(_detections(frame_segments))
        known = np.asarray(tracked.tracker_id) >= 0
        if not known.any():
            continue  # ByteTrack gives ids from the second frame on
        masks = np.asarray(tracked.mask)
        if not chosen:
            # The object's tracks: those whose first masks lie mostly inside the frame-0 selection.
            for i in ids:
                inside = (mask_coverage(selections[i][None], masks)[0] > 0.5) & known
                chosen[i] = set(tracked.tracker_id[inside].tolist())
        for i in ids:
            keep = np.isin(tracked.tracker_id, list(chosen[i])) & known
            if keep.any():
                out["ByteTrack"][f][masks[keep].any(0)] = i

    for f, masks in enumerate(segments):
        for i in ids:
            truth = scenario.grid_truth[f] == i
            if truth.any() and len(masks):
                inside = mask_coverage(truth[None], masks)[0] > 0.5
                out["oracle"][f][masks[inside].any(0)] = i
    return out


def _to_frame(labels: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """(h, w) label grid to (H, W) labels, each object upsampled with bilinear edges."""
    stack = upsample_masks(np.array([labels == i for i in ids]), FRAME)
    out = np.zeros(FRAME, np.uint8)
    for i, mask in zip(ids, stack, strict=True):
        out[mask] = i
    return out


def j_and_f(scenario: Scenario, labels: np.ndarray) -> tuple[float, float]:
    """Mean J and F (0-1) of the prompted objects over frames 1 to the end (vos-benchmark)."""
    from vos_benchmark.evaluator import Evaluator

    evaluator = Evaluator()
    ids = scenario.prompted
    for f in range(1, len(labels)):
        truth = np.where(np.isin(scenario.truth[f], ids), scenario.truth[f], 0).astype(np.uint8)
        evaluator.feed_frame(_to_frame(labels[f], ids), truth)
    j, boundary = evaluator.conclude()
    return statistics.mean(j.values()) / 100, statistics.mean(boundary.values()) / 100


def everything_tracks(
    scenario: Scenario, segments: list[tuple[np.ndarray, np.ndarray]], method: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per frame (ids (N,), masks (N, h, w)) of everything-mode tracks."""
    out = []
    ours, byte = SegmentTracker(), ByteTrackTracker(minimum_consecutive_frames=1)
    flow = FrameFlow()
    for image, frame_segments in zip(scenario.images, segments, strict=True):
        cues = flow.update(image, GRID)
        tracked = (
            ours.update(_detections(frame_segments), cues)
            if method == "ours"
            else byte.update(_detections(frame_segments))
        )
        # Each tracker's output: ByteTrack marks unconfirmed tracks -1, ours by their state.
        if "track_state" in tracked.data:
            tracked = tracked[tracked.data["track_state"] == TrackState.CONFIRMED]
        else:
            tracked = tracked[tracked.tracker_id >= 0]
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.zeros(0, int)
        out.append((np.asarray(ids), np.asarray(tracked.mask).reshape(len(tracked), *GRID)))
    return out


def hota_idf1(scenario: Scenario, tracks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """TrackEval's HOTA and IDF1 of everything-mode tracks against all ground-truth objects."""
    from trackeval.metrics import HOTA, Identity

    gt_ids, tr_ids, similarity = [], [], []
    tr_index: dict[int, int] = {}
    all_gt = sorted(int(i) for i in np.unique(scenario.grid_truth) if i)
    for labels, (ids, masks) in zip(scenario.grid_truth, tracks, strict=True):
        present = [i for i in all_gt if (labels == i).any()]
        gt_masks = np.array([labels == i for i in present], bool).reshape(len(present), *GRID)
        gt_ids.append(np.array([all_gt.index(i) for i in present], int))
        tr_ids.append(np.array([tr_index.setdefault(int(i), len(tr_index)) for i in ids], int))
        similarity.append(mask_iou(gt_masks, masks))
    data = {
        "num_gt_ids": len(all_gt),
        "num_tracker_ids": len(tr_index),
        "num_gt_dets": sum(len(g) for g in gt_ids),
        "num_tracker_dets": sum(len(t) for t in tr_ids),
        "gt_ids": gt_ids,
        "tracker_ids": tr_ids,
        "similarity_scores": similarity,
    }
    hota = HOTA().eval_sequence(data)
    identity = Identity().eval_sequence(data)
    return float(np.mean(hota["HOTA"])), float(identity["IDF1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()

    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name in args.scenarios:
        for seed in range(args.seeds):
            scenario = make_scenario(name, seed, args.frames)
            segments = SegmenterSimulator().run(scenario.grid_truth, scenario.colors, seed=1000 + seed)
            labels = propagate(scenario, segments)
            for method in METHODS:
                j, f = j_and_f(scenario, labels[method])
                scores[name][f"J {method}"].append(j)
                scores[name][f"J&F {method}"].append((j + f) / 2)
            for method in ("ours", "ByteTrack"):
                hota, idf1 = hota_idf1(scenario, everything_tracks(scenario, segments, method))
                scores[name][f"HOTA {method}"].append(hota)
                scores[name][f"IDF1 {method}"].append(idf1)

    columns = [
        *(f"J&F {m}" for m in METHODS),
        "J ours / J oracle",
        "HOTA ours",
        "HOTA ByteTrack",
        "IDF1 ours",
        "IDF1 ByteTrack",
    ]
    rows = []
    means: dict[str, list[float]] = defaultdict(list)
    for name in args.scenarios:
        values = {k: statistics.mean(v) for k, v in scores[name].items()}
        values["J ours / J oracle"] = values["J ours"] / values["J oracle"]
        for column in columns:
            means[column].append(values[column])
        rows.append(f"| {name} | " + " | ".join(f"{values[c]:.3f}" for c in columns) + " |")
    rows.append("| **mean** | " + " | ".join(f"**{statistics.mean(means[c]):.3f}**" for c in columns) + " |")
    table = "\n".join(
        [
            f"`python benchmarks/propagation.py --seeds {args.seeds} --frames {args.frames}`: "
            f"{args.seeds} seeds per scenario, {args.frames} frames of {FRAME[1]}x{FRAME[0]}, masks on a "
            f"{GRID[1]}x{GRID[0]} grid; J&F from vos-benchmark, HOTA and IDF1 from TrackEval.",
            "",
            "| scenario | " + " | ".join(columns) + " |",
            "|---" * (len(columns) + 1) + "|",
            *rows,
        ]
    )
    print(table)
    if not args.no_write:
        text = README.read_text()
        head, rest = text.split(BEGIN, 1)
        README.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}")


if __name__ == "__main__":
    main()
