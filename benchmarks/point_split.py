"""Point against box prompts on a frame where the stream splits the object (issue 25, item 6).

    python benchmarks/point_split.py --data ~/davis2016 --sequences bear bus surf

``real_footage.py`` prompts on frame 0, where its streams keep the object whole, so its point
and box rows select the same segments. Here each sequence is prompted on the first frame its
stream (seed 0, made by ``real_footage.stream``) marks ``split`` on which the point (the
truth's point farthest from its edge) selects less than ``--part`` IoU of the truth: the
clicked part. The object is then followed from that frame, as ``real_footage.py``'s *ours*,
with a point that grows to what moves with it (``point_grows``), with the clicked part only
(``point_grows: false``), and with the truth's box. J from vos-benchmark, the frames after the
prompt's. Run by hand on DAVIS (CC BY-NC, outside the repository).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_footage as rf

from fastsam_track.errors import PromptMiss
from fastsam_track.pipeline.exports.segments import SegmentsReplay
from fastsam_track.trackers.flow import FrameFlow
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.prompting import select_by_points, to_grid
from fastsam_track.trackers.segment_tracker import SegmentTracker

RUNS = (("point grows", "point", True), ("point part", "point", False), ("box", "box", True))


def first_split(sequence: rf.Sequence, frames: list, states: list[str], part: float) -> int | None:
    """The first ``split`` frame (10 or more before the end) on which the point selects a part of the object."""
    grid = np.asarray(frames[0].mask).shape[1:]
    shape = sequence.images[0].shape[:2]
    for t, state in enumerate(states[:-10]):
        if state != "split":
            continue
        truth = rf._grid_truth(sequence.truths[t], grid)
        prompt = rf.prompt_for("point", sequence.truths[t])
        try:
            mask = select_by_points(np.asarray(frames[t].mask), to_grid(prompt.points, shape, grid), prompt.labels)
        except PromptMiss:
            continue
        if (mask & truth).sum() / (mask | truth).sum() < part:
            return t
    return None


def run(data: Path, name: str, part: float) -> dict[str, float] | None:
    """Mean J of each of ``RUNS`` prompted on the sequence's first split frame (None: no such frame)."""
    sequence = rf.load(data, name)
    path = rf.stream(data, sequence, 0)
    states = json.loads(path.with_suffix(".states.json").read_text())
    replay = SegmentsReplay(path)
    frames = [replay(image) for image in sequence.images]
    start = first_split(sequence, frames, states, part)
    if start is None:
        return None
    after = rf.Sequence(name, sequence.images[start:], sequence.truths[start:])
    grid = np.asarray(frames[0].mask).shape[1:]
    shape = sequence.images[0].shape[:2]
    scores = {"frame": float(start)}
    for label, kind, grows in RUNS:
        prompt = replace(rf.prompt_for(kind, sequence.truths[start]), frame=0)
        flow, segments, objects = FrameFlow(), SegmentTracker(), ObjectTracker(point_grows=grows)
        masks = np.zeros((len(after.images), *grid), bool)
        for t, (image, found) in enumerate(zip(after.images, frames[start:], strict=True)):
            cues = flow.update(image, grid)
            followed = objects.update(segments.update(found, cues), shape, [prompt] if t == 0 else [], cues)
            if len(followed):
                masks[t] = followed.mask[0]
        scores[label] = float(rf.score(after, masks)[0].mean())
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder davis_data.py extracted into")
    parser.add_argument("--sequences", nargs="+", required=True)
    parser.add_argument(
        "--part", type=float, default=0.7, help="the point's IoU with the truth below which it is a part"
    )
    args = parser.parse_args()
    print("| sequence | prompt frame | " + " | ".join(label for label, *_ in RUNS) + " |")
    print("|---" * (len(RUNS) + 2) + "|")
    for name in args.sequences:
        scores = run(args.data.expanduser(), name, args.part)
        if scores is None:
            print(f"| {name} | no split frame where the point selects a part |" + " |" * (len(RUNS) - 1), flush=True)
            continue
        cells = " | ".join(f"{scores[label]:.3f}" for label, *_ in RUNS)
        print(f"| {name} | {scores['frame']:.0f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
