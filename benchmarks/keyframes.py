"""Keyframes on real footage: prompted-object J when the network sees only some frames.

    python benchmarks/keyframes.py --data ~/davis2016

The DAVIS 2016 training sequences' segment streams of ``real_footage.py`` are replayed through
the pipeline's ``FrameProcessor`` (segment tracks, the prompted object, DIS flow between the
real frames) with a keyframe policy: on a keyframe the frame's segments are given, on the
others none, and the processor carries the last ones by the flow, as ``--keyframe-every K``
and ``--keyframe auto`` do. One point or box prompt on frame 0, J over frames 1 to the end
(vos-benchmark), mean over sequences and both prompts, and its ratio to K = 1 (every frame).
The last column is the same ratio when each keyframe's only segment is the truth itself: what
carrying by the flow loses from perfect keyframes, the most keyframes can keep on this footage.
Validation sequences are never used. ``benchmarks/speed.py --davis DIR`` adds these figures
to its keyframe rows.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import supervision as sv

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures
import real_footage as rf
from davis_streams import grid_shape, to_grid
from report import write_section

from fastsam_track.pipeline.exports.segments import SegmentsReplay
from fastsam_track.pipeline.keyframes import Keyframes
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import Frame

POLICIES = {"K=1": (1, "every"), "K=2": (2, "every"), "K=3": (3, "every"), "auto": (None, "auto")}


def follow(sequence: rf.Sequence, path: Path | None, kind: str, every: int | None, mode: str) -> tuple[np.ndarray, int]:
    """(T, h, w) object masks with the network on keyframes only, and the keyframes' count.

    ``path``: the segment stream to replay; None gives each keyframe the truth as its only
    segment (what carrying by the flow loses from perfect keyframes)."""
    replay = SegmentsReplay(path) if path is not None else None
    keyframes = Keyframes.from_config(every, mode)
    processor = FrameProcessor(
        tracker=SegmentTracker(),
        objects=ObjectTracker(),
        prompts=[rf.prompt_for(kind, sequence.truths[0])],
        carry=keyframes is not None,
        residual=keyframes is not None and keyframes.auto,
    )
    masks, count = [], 0
    for t, image in enumerate(sequence.images):
        # the stream is read in order; a frame between keyframes drops its segments
        segments = replay(image) if replay is not None else truth_segment(sequence.truths[t])
        due = keyframes is None or keyframes.due()
        count += due
        followed = processor.process(Frame(t, image, t / 25), segments if due else None).objects
        if keyframes is not None:
            keyframes.observe(due, processor.cues, followed)
        grid = np.asarray(segments.mask).shape[1:]
        masks.append(followed.mask[0] if followed is not None and len(followed) else np.zeros(grid, bool))
    return np.stack(masks), count


def truth_segment(truth: np.ndarray) -> sv.Detections:
    """The (H, W) truth as a frame's only segment, on the mask grid the streams use (none when empty)."""
    mask = to_grid(truth, grid_shape(truth.shape))
    if not mask.any():
        return sv.Detections(xyxy=np.zeros((0, 4), np.float32), mask=np.zeros((0, *mask.shape), bool))
    ys, xs = np.nonzero(truth)
    box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    return sv.Detections(xyxy=box, mask=mask[None], confidence=np.ones(1, np.float32))


def evaluate(args: tuple[Path, str, int]) -> dict[str, tuple[float, float, float]]:
    """{policy: (mean J over both prompts, share of frames that were keyframes, mean J with the truth
    on keyframes)} of one sequence."""
    data, name, seed = args
    sequence = rf.load(data, name)
    path = rf.stream(data, sequence, seed)
    results = {}
    for policy, (every, mode) in POLICIES.items():
        js, shares, truth_js = [], [], []
        for kind in rf.PROMPTS:
            masks, count = follow(sequence, path, kind, every, mode)
            js.append(float(rf.score(sequence, masks)[0].mean()))
            shares.append(count / len(sequence.images))
            truth_js.append(float(rf.score(sequence, follow(sequence, None, kind, every, mode)[0])[0].mean()))
        results[policy] = (float(np.mean(js)), float(np.mean(shares)), float(np.mean(truth_js)))
    print(f"{name}: " + ", ".join(f"{p} {j:.3f}" for p, (j, _, _) in results.items()), file=sys.stderr, flush=True)
    return results


def keyframe_scores(data: Path, workers: int = 2, seed: int = 0) -> dict[str, tuple[float, float, float, float]]:
    """{policy: (mean J, J relative to K=1, share of frames through the network, J relative to K=1's
    with the truth on keyframes)} over the training sequences."""
    names = sorted(p.name for p in (data / "JPEGImages/480p").iterdir())
    with ProcessPoolExecutor(workers) as pool:
        per_sequence = list(pool.map(evaluate, [(data, n, seed) for n in names]))
    means = {p: float(np.mean([r[p][0] for r in per_sequence])) for p in POLICIES}
    shares = {p: float(np.mean([r[p][1] for r in per_sequence])) for p in POLICIES}
    truths = {p: float(np.mean([r[p][2] for r in per_sequence])) for p in POLICIES}
    return {p: (means[p], means[p] / means["K=1"], shares[p], truths[p] / truths["K=1"]) for p in POLICIES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder davis_data.py extracted into")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()
    scores = keyframe_scores(args.data.expanduser(), args.workers)
    count = len(list((args.data.expanduser() / "JPEGImages/480p").iterdir()))
    table = "\n".join(
        [
            f"`python benchmarks/keyframes.py --data DAVIS` on the {count} DAVIS 2016 training sequences, "
            "point and box prompts on frame 0.",
            "",
            "| keyframes | frames through the network | J | J / J with every frame "
            "| the truth on keyframes: J / J with every frame |",
            "|---|---|---|---|---|",
            *(
                f"| {p} | {share:.0%} | {j:.3f} | {ratio:.3f} | {truth:.3f} |"
                for p, (j, ratio, share, truth) in scores.items()
            ),
        ]
    )
    print(table)
    if not args.no_write:
        write_section("keyframes", table)
        figures.keyframes(table)


if __name__ == "__main__":
    main()
