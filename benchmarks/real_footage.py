"""Prompted-object tracking on real footage: DAVIS 2016 training sequences, J and F against baselines.

    python benchmarks/davis_data.py --git-dir KNN-project.git --out ~/davis2016   # once
    python benchmarks/real_footage.py --data ~/davis2016 --workers 2             # every half, profile, seed
    python benchmarks/real_footage.py --data ~/davis2016 --half tuning --profiles harsh --seeds 0 --no-write

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
Every sequence runs on two stream profiles (``davis_streams.PROFILES``: ``default`` and
``harsh``, which changes how splits are cut, what merges with what, how long events last and
how coarse the grid and the clutter are) and three seeds. The 30 sequences are split, once and
before any tuning, into a TUNING half (the rules may be tuned there) and a CHECKING half (never
tuned on); the table reports both halves, the gap between them, and every sequence.
J and F come from vos-benchmark (DAVIS' definitions), frames 1 to the end at 854x480, masks
brought to frame pixels as the pipeline draws and exports them. Also reported: the share of
returns after a miss on which the object is held (J >= 0.5 on the first frame it is back), and
the longest run of frames following a wrong object (J < 0.05 while the oracle's J > 0.5),
point-prompt J against box-prompt J on the same object, and the track stage's median
milliseconds per frame (flow, segment tracker and object tracker, as the pipeline's track stage).
Each run's scores are kept under ``DATA/results/`` (``--resume`` reuses them).

DAVIS is CC BY-NC: frames, masks and streams stay outside the repository; this benchmark is
run by hand, not in CI. Validation sequences are never used. Needs ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures
from davis_streams import PROFILES, write_stream
from report import write_section

from fastsam_track.errors import PromptMiss
from fastsam_track.masks import upsample_masks
from fastsam_track.pipeline.exports.segments import SegmentsReplay
from fastsam_track.trackers.association import mask_coverage, mask_iou
from fastsam_track.trackers.flow import FrameFlow
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.prompting import select_by_box, select_by_points, to_grid
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, PointPrompt, Prompt

METHODS = ("ours", "fixed prompt", "plain IoU", "ByteTrack", "oracle")
PROMPTS = ("point", "box")
SEEDS = (0, 1, 2)

# The split of the 30 training sequences, fixed before any tuning (issue 25) and never to be
# changed after: sorted names at even positions tune, at odd positions check.
TUNING = (
    "bear boat bus dance-jump drift-turn flamingo hockey kite-walk mallard-fly motocross-bumps paragliding "
    "rollerblade soccerball surf tennis"
).split()
CHECKING = (
    "bmx-bumps breakdance-flare car-turn dog-agility elephant hike horsejump-low lucia mallard-water motorbike "
    "rhino scooter-gray stroller swing train"
).split()
HALVES = {"tuning": TUNING, "checking": CHECKING}


def half_of(name: str) -> str:
    """The half a sequence belongs to ("other" for a sequence of neither, as in tests)."""
    return next((half for half, names in HALVES.items() if name in names), "other")


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


def stream(data: Path, sequence: Sequence, seed: int, profile: str = "default") -> Path:
    """The sequence's segment stream file (and the object's state per frame beside it), made on first use."""
    path = data / "streams" / profile / f"{sequence.name}-seed{seed}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        stacks, states = PROFILES[profile].stream(sequence.images, sequence.truths, seed)
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


def follow(sequence: Sequence, path: Path, prompt: Prompt) -> tuple[dict[str, np.ndarray], list[float]]:
    """(T, h, w) bool object masks of each method on the replayed stream, and ours' track-stage
    milliseconds on each frame (flow, segment tracker, object tracker)."""
    replay = SegmentsReplay(path)
    frames = [replay(image) for image in sequence.images]
    grid = np.asarray(frames[0].mask).shape[1:]
    shape = sequence.images[0].shape[:2]
    out = {m: np.zeros((len(frames), *grid), bool) for m in METHODS}

    flow, segment_tracker, objects = FrameFlow(), SegmentTracker(), ObjectTracker()
    track_ms = []
    for t, (image, segments) in enumerate(zip(sequence.images, frames, strict=True)):
        started = time.perf_counter()
        cues = flow.update(image, grid)
        followed = objects.update(segment_tracker.update(segments, cues), shape, [prompt] if t == 0 else [], cues)
        track_ms.append((time.perf_counter() - started) * 1000)
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
    return out, track_ms


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
    """(T - 1,) J and (T - 1,) F of (T, h, w) object masks, frames 1 to the end (vos-benchmark).

    Masks on the grid are brought to frame pixels as the pipeline draws them; (T, H, W) masks at
    the frame's size (the CLI's ``--save-masks``) are scored as they are."""
    from vos_benchmark.evaluator import Evaluator

    evaluator = Evaluator()
    shape = sequence.images[0].shape[:2]
    for t in range(1, len(masks)):
        if masks.shape[1:] == shape:
            drawn = masks[t]
        else:
            drawn = upsample_masks(masks[t][None], shape)[0] if masks[t].any() else np.zeros(shape, bool)
        evaluator.feed_frame(drawn.astype(np.uint8), sequence.truths[t].astype(np.uint8))
    return np.array(evaluator.object_iou[1]), np.array(evaluator.boundary_f[1])


def jaccard(sequence: Sequence, masks: np.ndarray) -> np.ndarray:
    """(T - 1,) J of (T, h, w) or (T, H, W) object masks, frames 1 to the end: vos-benchmark's J (1 when
    both are empty) without its boundary F, which costs most of ``score``'s time."""
    shape = sequence.images[0].shape[:2]
    out = np.ones(len(masks) - 1)
    for t in range(1, len(masks)):
        if masks.shape[1:] == shape:
            drawn = masks[t]
        else:
            drawn = upsample_masks(masks[t][None], shape)[0] if masks[t].any() else np.zeros(shape, bool)
        truth = sequence.truths[t]
        union = np.count_nonzero(drawn | truth)
        if union:
            out[t - 1] = np.count_nonzero(drawn & truth) / union
    return out


def _returns(states: list[str]) -> list[int]:
    """Frames on which the object is back after a miss."""
    return [t for t in range(1, len(states)) if states[t - 1] == "missed" and states[t] != "missed"]


def _longest(run: np.ndarray) -> int:
    best = current = 0
    for flag in run:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


Job = tuple[Path, str, str, int]  # data folder, sequence, profile, seed


def evaluate(job: Job) -> dict[str, Any]:
    """Scores of every method and prompt kind on one run, keyed ``"{prompt} {method}"``, and the track
    stage's median ms per frame (``"track ms"``)."""
    data, name, profile, seed = job
    started = time.perf_counter()
    sequence = load(data, name)
    path = stream(data, sequence, seed, profile)
    states = json.loads(path.with_suffix(".states.json").read_text())
    results: dict[str, Any] = {}
    track_ms: list[float] = []
    for kind in PROMPTS:
        masks, ms = follow(sequence, path, prompt_for(kind, sequence.truths[0]))
        track_ms += ms
        j_oracle = jaccard(sequence, masks["oracle"])
        for method in METHODS:  # F of ours only: the table shows no other
            j, f = score(sequence, masks[method]) if method == "ours" else (jaccard(sequence, masks[method]), None)
            back = [t - 1 for t in _returns(states)]
            wrong = (j < 0.05) & (j_oracle > 0.5)
            results[f"{kind} {method}"] = {
                "J": float(j.mean()),
                "F": float(f.mean()) if f is not None else float("nan"),
                "held": float(np.mean(j[back] >= 0.5)) if back else float("nan"),
                "wrong": float(wrong.sum()),
                "wrong run": float(_longest(wrong)),
            }
    results["track ms"] = float(np.median(track_ms))
    print(
        f"{profile} seed {seed} {name}: {len(sequence.images)} frames, {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return results


def add_selection(parser: argparse.ArgumentParser) -> None:
    """The options that pick runs: sequences, half, seeds, profiles, workers, resume."""
    parser.add_argument("--data", type=Path, required=True, help="the folder davis_data.py extracted into")
    parser.add_argument("--sequences", nargs="*", help="default: every training sequence in --data (of --half)")
    parser.add_argument("--half", choices=tuple(HALVES), help="only the tuning or the checking half")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS), help="stream seeds (0 1 2)")
    parser.add_argument("--profiles", nargs="*", choices=tuple(PROFILES), default=list(PROFILES))
    parser.add_argument("--workers", type=int, default=2, help="processes (each runs one sequence at a time)")
    parser.add_argument("--resume", action="store_true", help="reuse the scores of runs already under DATA/results")
    parser.add_argument(
        "--saved-only", action="store_true", help="run nothing: the tables of the selected runs already saved"
    )
    parser.add_argument("--no-write", action="store_true", help="print the tables, do not update README.md")


def jobs(args: argparse.Namespace) -> list[Job]:
    """The (data, sequence, profile, seed) runs the options select, seed by seed (a cut-short run has
    every sequence of the first seeds)."""
    data = args.data.expanduser()
    names = args.sequences or sorted(p.name for p in (data / "JPEGImages/480p").iterdir())
    if args.half:
        names = [n for n in names if half_of(n) == args.half]
    return [(data, n, p, s) for s in args.seeds for p in args.profiles for n in sorted(names)]


def run(
    benchmark: str,
    evaluate_one: Callable[[Job], dict[str, Any]],
    todo: list[Job],
    workers: int,
    resume: bool,
    saved_only: bool = False,
) -> dict[tuple[str, int, str], dict[str, Any]]:
    """{(profile, seed, sequence): scores} of every job, each saved under ``DATA/results/BENCHMARK/``
    (``saved_only``: of the jobs already saved, running none)."""

    def saved(job: Job) -> Path:
        data, name, profile, seed = job
        return data / "results" / benchmark / profile / f"{name}-seed{seed}.json"

    if saved_only:
        todo = [job for job in todo if saved(job).exists()]
    missing = [job for job in todo if not ((resume or saved_only) and saved(job).exists())]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        for job, scores in zip(missing, pool.map(evaluate_one, missing), strict=True):
            saved(job).parent.mkdir(parents=True, exist_ok=True)
            saved(job).write_text(json.dumps(scores))
    return {(job[2], job[3], job[1]): json.loads(saved(job).read_text()) for job in todo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    results = run("real_footage", evaluate, jobs(args), args.workers, args.resume, args.saved_only)
    text = report(results, _command(args, "real_footage.py"), _timing(args, started))
    print(text)
    if not args.no_write:
        write_section("real-footage", text)
        figures.real_footage(text)


def _command(args: argparse.Namespace, script: str) -> str:
    """The command line that reproduces these runs (the data folder written as DAVIS)."""
    parts = [f"python benchmarks/{script} --data DAVIS"]
    if args.sequences:
        parts.append("--sequences " + " ".join(args.sequences))
    if args.half:
        parts.append(f"--half {args.half}")
    if list(args.seeds) != list(SEEDS):
        parts.append("--seeds " + " ".join(map(str, args.seeds)))
    if list(args.profiles) != list(PROFILES):
        parts.append("--profiles " + " ".join(args.profiles))
    return " ".join(parts)


def _timing(args: argparse.Namespace, started: float) -> str:
    """How the runs were had: read back, or their wall time."""
    if args.saved_only:
        return "(scores read back from DATA/results)"
    return f"in {(time.perf_counter() - started) / 60:.0f} min, {args.workers} workers on 2 shared cores"


Results = dict[tuple[str, int, str], dict[str, Any]]


def per_sequence(results: Results) -> dict[tuple[str, str, str], dict[str, float]]:
    """{(profile, sequence, prompt): figures over the seeds}: mean J of each method, F of ours, ours /
    oracle (ratio of the means), held after a miss (mean), longest wrong run (max over seeds), track
    ms (median over seeds), ours / oracle of each seed."""
    keys = sorted({(p, n) for p, _, n in results})
    out = {}
    for profile, name in keys:
        runs = [v for (p, _, n), v in sorted(results.items()) if (p, n) == (profile, name)]
        for kind in PROMPTS:
            row = {f"J {m}": float(np.mean([r[f"{kind} {m}"]["J"] for r in runs])) for m in METHODS}
            row["F ours"] = float(np.mean([r[f"{kind} ours"]["F"] for r in runs]))
            row["ours / oracle"] = row["J ours"] / max(row["J oracle"], 1e-9)
            row["held after miss"] = _nanmean([r[f"{kind} ours"]["held"] for r in runs])
            row["longest wrong run"] = max(r[f"{kind} ours"]["wrong run"] for r in runs)
            row["track ms"] = float(np.median([r["track ms"] for r in runs]))
            out[(profile, name, kind)] = row
    return out


SEQUENCE_COLUMNS = (
    *(f"J {m}" for m in METHODS),
    "F ours",
    "ours / oracle",
    "held after miss",
    "longest wrong run",
    "track ms",
)


def report(results: Results, command: str, timing: str) -> str:
    """Markdown: the halves' means per profile and prompt, the gap between the halves, point against
    box prompts, and every sequence."""
    rows = per_sequence(results)
    profiles = sorted({p for p, _, _ in rows}, key=list(PROFILES).index)
    seeds = sorted({s for _, s, _ in results})
    halves = [h for h in (*HALVES, "other") if any(half_of(n) == h for _, n, _ in rows)]
    lines = [
        f"`{command}`: {len({n for _, _, n in results})} DAVIS 2016 training sequences, profiles "
        f"{', '.join(profiles)}, seeds {' '.join(map(str, seeds))}; {len(results)} runs {timing}. "
        "J and F from vos-benchmark at 854x480, frames 1 to the end; a sequence's figures are "
        "means over the seeds. Halves fixed before any tuning: TUNING (even positions of the sorted names), "
        "CHECKING (odd positions, never tuned on).",
        "",
        "**The halves.** Mean J over the half's sequences; *ours / oracle* is the ratio of the means (per seed "
        "beside it); *worst* the lowest sequence's ratio; *< 0.8x oracle* and *below baseline* count sequences "
        "(seed means; baselines: fixed prompt, plain IoU); the longest wrong run is the most over every run; "
        "track ms the median over runs of each run's median ms per frame.",
        "",
        "| profile | half | prompt | J ours | J fixed prompt | J plain IoU | J ByteTrack | J oracle | ours / oracle "
        "| per seed | worst | < 0.8x oracle | below baseline | longest wrong run | track ms |",
        "|---" * 15 + "|",
    ]
    ratios: dict[tuple[str, str, str], float] = {}
    for profile in profiles:
        for half in halves:
            names = sorted({n for p, n, _ in rows if p == profile and half_of(n) == half})
            for kind in PROMPTS:
                cut = [rows[(profile, n, kind)] for n in names]
                j = {m: float(np.mean([r[f"J {m}"] for r in cut])) for m in METHODS}
                ratio = ratios[(profile, half, kind)] = j["ours"] / j["oracle"]
                per_seed = []
                for seed in seeds:
                    runs = [results[(profile, seed, n)] for n in names if (profile, seed, n) in results]
                    ours = np.mean([r[f"{kind} ours"]["J"] for r in runs])
                    per_seed.append(f"{ours / np.mean([r[f'{kind} oracle']['J'] for r in runs]):.3f}")
                worst = min(names, key=lambda n: rows[(profile, n, kind)]["ours / oracle"])
                below = sum(any(r["J ours"] < r[f"J {m}"] for m in ("fixed prompt", "plain IoU")) for r in cut)
                lines.append(
                    f"| {profile} | {half} ({len(names)}) | {kind} | "
                    + " | ".join(f"{j[m]:.3f}" for m in METHODS)
                    + f" | **{ratio:.3f}** | {' / '.join(per_seed)} "
                    f"| {rows[(profile, worst, kind)]['ours / oracle']:.3f} ({worst}) "
                    f"| {sum(r['ours / oracle'] < 0.8 for r in cut)} | {below} "
                    f"| {max(r['longest wrong run'] for r in cut):.0f} "
                    f"| {statistics.median(r['track ms'] for r in cut):.1f} |"
                )
    if {"tuning", "checking"} <= set(halves):
        lines += ["", "**The gap** (ours / oracle, tuning half minus checking half):", ""]
        lines += ["| profile | " + " | ".join(PROMPTS) + " |", "|---" * (len(PROMPTS) + 1) + "|"]
        for profile in profiles:
            gaps = [ratios[(profile, "tuning", k)] - ratios[(profile, "checking", k)] for k in PROMPTS]
            lines.append(f"| {profile} | " + " | ".join(f"{g:+.3f}" for g in gaps) + " |")
    lines += [
        "",
        "**Point against box** (ours, the same object): *ratio* is the mean point J over the mean box J; "
        "*worst* the lowest sequence's point / box; *< 0.85* counts sequences whose point J is below 0.85 of "
        "their box J.",
        "",
        "| profile | half | J point | J box | ratio | worst | < 0.85 |",
        "|---" * 7 + "|",
    ]
    for profile in profiles:
        for half in halves:
            names = sorted({n for p, n, _ in rows if p == profile and half_of(n) == half})
            point = {n: rows[(profile, n, "point")]["J ours"] for n in names}
            box = {n: rows[(profile, n, "box")]["J ours"] for n in names}
            each = {n: point[n] / max(box[n], 1e-9) for n in names}
            worst = min(each, key=each.__getitem__)
            flagged = [n for n, v in each.items() if v < 0.85]
            lines.append(
                f"| {profile} | {half} | {np.mean(list(point.values())):.3f} | {np.mean(list(box.values())):.3f} "
                f"| {np.mean(list(point.values())) / np.mean(list(box.values())):.3f} | {each[worst]:.3f} ({worst}) "
                f"| {len(flagged)}: {', '.join(flagged) or '-'} |"
            )
    lines += [
        "",
        "**Every sequence** (means over the seeds; *point / box* on the point row; *below* names the baselines "
        "ours is below):",
        "",
        "| profile | half | sequence | prompt | " + " | ".join(SEQUENCE_COLUMNS) + " | point / box | below |",
        "|---" * (len(SEQUENCE_COLUMNS) + 6) + "|",
    ]
    counts = {"longest wrong run"}
    for profile in profiles:
        for half in halves:
            for name in sorted({n for p, n, _ in rows if p == profile and half_of(n) == half}):
                for kind in PROMPTS:
                    row = rows[(profile, name, kind)]
                    cells = [
                        f"{row[c]:.0f}" if c in counts else f"{row[c]:.1f}" if c == "track ms" else _cell(row[c])
                        for c in SEQUENCE_COLUMNS
                    ]
                    ratio = row["J ours"] / max(rows[(profile, name, "box")]["J ours"], 1e-9)
                    below = [m for m in ("fixed prompt", "plain IoU") if row["J ours"] < row[f"J {m}"]]
                    lines.append(
                        f"| {profile} | {half} | {name} | {kind} | "
                        + " | ".join(cells)
                        + f" | {_cell(ratio) if kind == 'point' else ''} | {', '.join(below)} |"
                    )
    return "\n".join(lines)


def _cell(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if v == v]
    return statistics.mean(kept) if kept else float("nan")


if __name__ == "__main__":
    main()
