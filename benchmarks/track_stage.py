"""The track stage alone on realistic segments: flow and colours, segment tracker, object tracker.

    python benchmarks/track_stage.py --data /work/davis --repeats 5
    python benchmarks/track_stage.py --data /work/davis --against /path/to/old/checkout --repeats 5

Segment streams are made from real DAVIS training frames (854x480) by ``davis_streams``
(Felzenszwalb regions at ``--scale`` 150: about 100 segments tiling the 90x160 grid, the
object split, merged and missed in turn), and replayed through ``FrameProcessor.process``
(what the runner times as its track stage) in everything mode and with four box-prompted
objects (the DAVIS object and the three largest segments under a tenth of the frame on
frame 0). A run processes every sequence once to warm up, then once timed, each with fresh
trackers; its figure is the median ms per frame over the timed frames. The table gives the
median (min-max) of ``--repeats`` runs.

With ``--against``, the same streams are also replayed by another checkout of the project
(its root, e.g. a ``git worktree`` of an older commit), one process per run, the two
checkouts alternating, so a machine whose load drifts weighs on both alike. The table goes
into benchmarks/README.md (unless ``--no-write``).

With ``--check`` (and ``--against``) nothing is timed: each checkout replays the streams in
everything mode, with the four objects, and with them and a keyframe every 2nd frame (the
frames between carried by the flow), and the digests of every frame's ids, states, masks and
segment matrices are compared; exit 1 when they differ. A speedup that keeps them is exact:

    python benchmarks/track_stage.py --data /work/davis --frames 40 --check --against /path/to/old/checkout
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from report import spread, write_section  # benchmarks/ is not a package

SEQUENCES = ("bus", "car-turn", "boat", "elephant", "dance-jump")
PROMPTS = 4
_INCLUSIVE_TO_EXCLUSIVE = np.array([0, 0, 1, 1], np.float32)  # mask_to_xyxy gives the last cells, boxes end past them


def make_streams(data: Path, sequences: list[str], frames: int, scale: float, path: Path) -> None:
    """Write the frames, segment stacks and prompt boxes of every sequence to ``path`` (a pickle)."""
    import supervision as sv
    from davis_streams import StreamMaker

    streams = []
    for index, name in enumerate(sequences):
        files = sorted((data / "JPEGImages" / "480p" / name).glob("*.jpg"))[:frames]
        images = [cv2.imread(str(f)) for f in files]
        truths = [cv2.imread(str(f).replace("JPEGImages", "Annotations").replace(".jpg", ".png"), 0) > 0 for f in files]
        stacks, _ = StreamMaker(scale=scale).stream(images, truths, seed=index)
        stack = stacks[0]
        areas = stack.sum(axis=(1, 2))
        small = [i for i in np.argsort(-areas) if areas[i] < 0.1 * stack[0].size][: PROMPTS - 1]
        ys, xs = np.nonzero(truths[0])
        boxes = [np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)]
        frame_scale = np.array([images[0].shape[1] / stack.shape[2], images[0].shape[0] / stack.shape[1]] * 2)
        boxes += [(sv.mask_to_xyxy(stack[[i]])[0] + _INCLUSIVE_TO_EXCLUSIVE) * frame_scale for i in small]
        packed = [(np.packbits(stack), stack.shape) for stack in stacks]  # a tenth of the bytes
        streams.append({"name": name, "files": [str(f) for f in files], "stacks": packed, "boxes": boxes})
    with open(path, "wb") as out:
        pickle.dump(streams, out)


def replay(path: Path, profile: Path | None = None) -> dict[str, float]:
    """Time ``FrameProcessor.process`` on the streams in ``path``: per mode, the median ms per frame."""
    import supervision as sv

    from fastsam_track.pipeline.processor import FrameProcessor
    from fastsam_track.trackers.objects import ObjectTracker
    from fastsam_track.trackers.segment_tracker import SegmentTracker
    from fastsam_track.types import BoxPrompt, Frame

    with open(path, "rb") as stored:
        streams = pickle.load(stored)
    for stream in streams:
        stream["images"] = [cv2.imread(f) for f in stream["files"]]
        stream["stacks"] = [
            np.unpackbits(bits, count=int(np.prod(shape))).view(bool).reshape(shape) for bits, shape in stream["stacks"]
        ]
    figures: dict[str, float] = {"segments": statistics.mean(len(s) for st in streams for s in st["stacks"])}

    def one_pass(prompted: bool) -> tuple[list[float], list[float]]:
        times, cpu = [], []
        for stream in streams:
            prompts = [BoxPrompt(0, n + 1, box) for n, box in enumerate(stream["boxes"])] if prompted else []
            processor = FrameProcessor(
                tracker=SegmentTracker(), objects=ObjectTracker() if prompted else None, prompts=prompts
            )
            for t, (image, stack) in enumerate(zip(stream["images"], stream["stacks"], strict=True)):
                grid_scale = np.array([image.shape[1] / stack.shape[2], image.shape[0] / stack.shape[1]] * 2)
                segments = sv.Detections(
                    xyxy=(sv.mask_to_xyxy(stack).astype(np.float32) + _INCLUSIVE_TO_EXCLUSIVE)
                    * grid_scale.astype(np.float32),
                    mask=stack,
                    confidence=np.ones(len(stack), np.float32),
                )
                started, started_cpu = time.perf_counter(), time.thread_time()
                processor.process(Frame(t, image, t / 30.0), segments)
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - started_cpu) * 1000)
        return times, cpu

    for prompted in (False, True):
        one_pass(prompted)  # warm-up
        if profile is not None and prompted:
            import cProfile

            cProfile.runctx("one_pass(True)", globals(), {"one_pass": one_pass}, str(profile))
        times, cpu = one_pass(prompted)
        figures["objects" if prompted else "everything"] = statistics.median(times)
        figures[f"{'objects' if prompted else 'everything'} cpu"] = statistics.median(cpu)
    return figures


def check(path: Path) -> dict[str, str]:
    """A digest per sequence and mode of every frame's ids, states, masks and segment matrices: two checkouts that
    give the same digests track alike. Modes: everything, four prompted objects, and those with a keyframe every
    2nd frame (the frames between carried by the flow)."""
    import supervision as sv

    from fastsam_track.pipeline.processor import FrameProcessor
    from fastsam_track.trackers.objects import ObjectTracker
    from fastsam_track.trackers.segment_tracker import SegmentTracker
    from fastsam_track.types import BoxPrompt, Frame

    with open(path, "rb") as stored:
        streams = pickle.load(stored)
    digests = {}
    for stream in streams:
        stacks = [np.unpackbits(b, count=int(np.prod(s))).view(bool).reshape(s) for b, s in stream["stacks"]]
        for mode, prompted, every in (("everything", False, 1), ("objects", True, 1), ("objects/2", True, 2)):
            prompts = [BoxPrompt(0, n + 1, box) for n, box in enumerate(stream["boxes"])] if prompted else []
            processor = FrameProcessor(
                tracker=SegmentTracker(), objects=ObjectTracker() if prompted else None, prompts=prompts, carry=True
            )
            digest = hashlib.sha256()
            for t, (file, stack) in enumerate(zip(stream["files"], stacks, strict=True)):
                image = cv2.imread(file)
                grid_scale = np.array([image.shape[1] / stack.shape[2], image.shape[0] / stack.shape[1]] * 2)
                segments = sv.Detections(
                    xyxy=(sv.mask_to_xyxy(stack).astype(np.float32) + _INCLUSIVE_TO_EXCLUSIVE)
                    * grid_scale.astype(np.float32),
                    mask=stack,
                    confidence=np.ones(len(stack), np.float32),
                )
                done = processor.process(Frame(t, image, t / 30.0), segments if t % every == 0 else None)
                parts = [done.segments.tracker_id, done.segments.data.get("track_state"), done.segments.mask]
                if done.objects is not None:
                    parts += [
                        done.objects.tracker_id,
                        done.objects.mask,
                        done.objects.xyxy,
                        *done.objects.data.values(),
                    ]
                parts.append(np.array(done.lost, int))
                for part in parts:
                    array = np.ascontiguousarray(np.asarray(part))
                    digest.update(f"{array.dtype}{array.shape}".encode())
                    digest.update(array.tobytes())
            digests[f"{stream['name']} {mode}"] = digest.hexdigest()[:16]
    return digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="DAVIS 2016 training data (davis_data.py)")
    parser.add_argument("--sequences", nargs="+", default=list(SEQUENCES))
    parser.add_argument("--frames", type=int, default=40, help="frames of each sequence")
    parser.add_argument("--scale", type=float, default=150.0, help="Felzenszwalb scale (150: about 100 segments)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--against", type=Path, help="root of another checkout to time alongside (the old code)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of one prompted pass here (this checkout)")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    parser.add_argument(
        "--check", action="store_true", help="compare every frame's ids, states and masks with --against's, no timing"
    )
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)  # a child: time the streams in this pickle
    args = parser.parse_args()
    if args.replay is not None:
        print(json.dumps(check(args.replay) if args.check else replay(args.replay, args.profile)))
        return
    if args.data is None:
        parser.error("--data is required")
    work = Path(tempfile.mkdtemp(prefix="fastsam-track-stage-"))
    try:
        streams = work / "streams.pkl"
        make_streams(args.data, args.sequences, args.frames, args.scale, streams)
        roots = {"this checkout": Path(__file__).resolve().parents[1]}
        if args.against is not None:
            roots["--against"] = args.against.resolve()
        if args.check:
            _check(roots, streams)
            return
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in roots}
        for repeat in range(args.repeats):
            for label, root in roots.items():
                env = {**os.environ, "PYTHONPATH": str(root)}  # this script, that checkout's package
                first = repeat == 0 and label == "this checkout"
                profile = ["--profile", str(args.profile)] if args.profile and first else []
                child = subprocess.run(
                    [sys.executable, __file__, "--replay", str(streams), *profile],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs[label].append(json.loads(child.stdout.splitlines()[-1]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    segments = runs["this checkout"][0]["segments"]
    lines = [
        f"`python benchmarks/track_stage.py --repeats {args.repeats} --frames {args.frames} --scale {args.scale:g}"
        f"{' --against OLD' if args.against else ''}` on {os.cpu_count()} cores, {len(args.sequences)} DAVIS training "
        f"sequences ({' '.join(args.sequences)}), {segments:.0f} segments a frame on a 90x160 grid; ms per frame, "
        "median (min-max) over runs of each run's median frame: wall time, and the tracking thread's CPU time "
        "(what a busy machine inflates less).",
        "",
        "| code | everything mode, wall | CPU | four prompted objects, wall | CPU |",
        "|---|---|---|---|---|",
    ]
    for label, done in runs.items():
        cells = [
            spread([float(r[key]) for r in done]) for key in ("everything", "everything cpu", "objects", "objects cpu")
        ]
        lines.append(f"| {label if label == 'this checkout' else _commit(roots[label])} | {' | '.join(cells)} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("track_stage", table)


def _check(roots: dict[str, Path], streams: Path) -> None:
    """Print each checkout's digests (``check``) and whether they agree; exit 1 when they do not."""
    digests = {}
    for label, root in roots.items():
        env = {**os.environ, "PYTHONPATH": str(root)}
        child = subprocess.run(
            [sys.executable, __file__, "--replay", str(streams), "--check"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        digests[label] = json.loads(child.stdout.splitlines()[-1])
    mine = digests["this checkout"]
    for key, value in mine.items():
        print(
            f"{key:24} {value}",
            *(f"{'same' if d[key] == value else 'DIFFERS ' + d[key]}" for d in list(digests.values())[1:]),
        )
    if any(d != mine for d in digests.values()):
        sys.exit(1)


def _commit(root: Path) -> str:
    """The short commit of the checkout at ``root`` (its path when it is not a git checkout)."""
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"commit {done.stdout.strip()}" if done.stdout.strip() else str(root)


if __name__ == "__main__":
    main()
