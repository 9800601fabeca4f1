"""Keyframes on real footage: prompted-object J when the network sees only some frames.

    python benchmarks/keyframes.py --data ~/davis2016 --workers 2          # the CLI's runs, every half
    python benchmarks/keyframes.py --data ~/davis2016 --half checking --seeds 0 --in-order --no-write

**The CLI's own runs** (the table this writes): each sequence's stream of ``real_footage.py``
(both profiles, three seeds, the fixed TUNING/CHECKING split) is replayed as a user runs it,
``fastsam-track run FRAMES/ --segments STREAM.jsonl --box X1,Y1,X2,Y2 --save-masks DIR``, with
every frame, ``--keyframe-every 2`` and ``--keyframe auto``: the runner's threads as they are,
the model thread deciding keyframes ahead of the tracking thread. The masks it writes are
scored with J (vos-benchmark, frames 1 to the end); ``--stats`` gives the frames through the
network. Reported per half and profile: that share, J, and J over every frame's J (ratio of the
means, and per sequence, flagging any run under 0.9). ``--prompts point box`` adds the point
prompt; ``--in-order`` adds the in-process harness below on the same runs, for comparison.

**The in-order harness** (``keyframe_scores``, used by ``speed.py --davis``; ``--harness``
writes its own table): the DAVIS 2016 training sequences' default-profile seed-0 streams of
``real_footage.py`` are replayed in order, in this process, through the pipeline's
``FrameProcessor`` (segment tracks, the prompted object, DIS flow between the real frames) with
a keyframe policy: on a keyframe the frame's segments are given, on the others none, and the
processor carries the last ones by the flow, as ``--keyframe-every K`` and ``--keyframe auto``
do. One point or box prompt on frame 0, J over frames 1 to the end (vos-benchmark), mean over
sequences and both prompts, and its ratio to K = 1 (every frame). The last column is the same
ratio when each keyframe's only segment is the truth itself: what carrying by the flow loses
from perfect keyframes, the most keyframes can keep on this footage. Validation sequences are
never used. ``benchmarks/speed.py --davis DIR`` adds these figures to its keyframe rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from PIL import Image

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
CLI_POLICIES = {"every frame": (), "K=2": ("--keyframe-every", "2"), "auto": ("--keyframe", "auto")}
ROOT = Path(__file__).resolve().parents[1]


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


def cli_follow(
    sequence: rf.Sequence, frames: Path, path: Path, kind: str, flags: tuple[str, ...]
) -> tuple[np.ndarray, int]:
    """(T, H, W) bool masks the CLI writes for the prompted object, replaying ``path`` onto the frames in
    ``frames`` with ``flags``, and the frames it ran the network on (its ``--stats``)."""
    prompt = rf.prompt_for(kind, sequence.truths[0])
    if kind == "point":
        argument = ["--point", ",".join(f"{v:g}" for v in prompt.points[0])]  # type: ignore[attr-defined]
    else:
        argument = ["--box", ",".join(f"{v:g}" for v in prompt.box)]  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="keyframes-") as tmp:
        command = [sys.executable, "-m", "fastsam_track.cli", "run", str(frames), "--segments", str(path)]
        command += [*argument, *flags, "--save-masks", f"{tmp}/masks", "--stats", f"{tmp}/stats.json", "--no-progress"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        stats = json.loads(Path(f"{tmp}/stats.json").read_text())
        written = sorted(Path(f"{tmp}/masks").glob("*.png"))
        if len(written) != len(sequence.images):
            raise RuntimeError(f"{sequence.name}: the CLI wrote {len(written)} masks for {len(sequence.images)} frames")
        masks = np.stack([np.asarray(Image.open(p)) > 0 for p in written])
    return masks, int(stats["keyframes"])


def cli_evaluate(job: rf.Job, kinds: tuple[str, ...] = ("box",), in_order: bool = False) -> dict[str, Any]:
    """{"{prompt} {policy}": {"J", "share"}} of one run through the CLI (and ``"{prompt} in-order {policy}"``
    from the harness when asked)."""
    data, name, profile, seed = job
    started = time.perf_counter()
    sequence = rf.load(data, name)
    path = rf.stream(data, sequence, seed, profile)
    frames = data / "JPEGImages/480p" / name
    results: dict[str, Any] = {}
    for kind in kinds:
        for policy, flags in CLI_POLICIES.items():
            masks, count = cli_follow(sequence, frames, path, kind, flags)
            results[f"{kind} {policy}"] = {
                "J": float(rf.jaccard(sequence, masks).mean()),
                "share": count / len(sequence.images),
            }
        if in_order:
            for policy, (every, mode) in (
                ("every frame", (1, "every")),
                ("K=2", POLICIES["K=2"]),
                ("auto", POLICIES["auto"]),
            ):
                masks, count = follow(sequence, path, kind, every, mode)
                results[f"{kind} in-order {policy}"] = {
                    "J": float(rf.jaccard(sequence, masks).mean()),
                    "share": count / len(sequence.images),
                }
    line = ", ".join(f"{k} {v['J']:.3f}" for k, v in results.items())
    print(f"{profile} seed {seed} {name}: {line}, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def cli_report(results: rf.Results, kinds: list[str], command: str, timing: str) -> str:
    """Markdown: per profile, half and prompt, the share through the network, J and J over every frame's
    J for each policy; then every sequence, flagging ratios under 0.9."""
    profiles = sorted({p for p, _, _ in results}, key=list(rf.PROFILES).index)
    seeds = sorted({s for _, s, _ in results})
    names = sorted({n for _, _, n in results})
    halves = [h for h in (*rf.HALVES, "other") if any(rf.half_of(n) == h for n in names)]
    in_order = bool(results) and all(any(" in-order " in k for k in r) for r in results.values())
    harnesses = ["", "in-order "] if in_order else [""]

    def mean(profile: str, name: str, key: str, field: str = "J") -> float:
        return float(np.mean([results[(profile, s, name)][key][field] for s in seeds if (profile, s, name) in results]))

    lines = [
        f"`{command}`: the CLI's own threaded runs (`fastsam-track run FRAMES --segments STREAM --keyframe ...`, "
        f"masks read from `--save-masks`), {len(names)} DAVIS 2016 training sequences, profiles {', '.join(profiles)}, "
        f"seeds {' '.join(map(str, seeds))}, {' and '.join(kinds)} prompt on frame 0; {len(results)} runs "
        f"{timing}. J from vos-benchmark, frames 1 to the end, a sequence's J the "
        "mean over seeds. *x every* is the ratio of mean J to every frame's mean J; *worst* the lowest "
        "sequence's ratio; *< 0.9* counts sequences (seed means) under 0.9 of their every-frame J, *runs < 0.9* "
        "single runs."
        + (
            " *in-order* rows: the in-process harness (frames in order, keyframes decided on the tracking side) on the "
            "same streams."
            if in_order
            else ""
        ),
        "",
        "| profile | half | prompt | run | J every frame | K=2: network | J | x every | worst | < 0.9 | runs < 0.9 "
        "| auto: network | J | x every | worst | < 0.9 | runs < 0.9 |",
        "|---" * 17 + "|",
    ]
    flagged: dict[tuple[str, str, str, str], float] = {}
    for profile in profiles:
        for half in halves:
            chosen = [n for n in names if rf.half_of(n) == half]
            for kind in kinds:
                for harness in harnesses:
                    every = {n: mean(profile, n, f"{kind} {harness}every frame") for n in chosen}
                    cells = [f"{np.mean(list(every.values())):.3f}"]
                    for policy in ("K=2", "auto"):
                        key = f"{kind} {harness}{policy}"
                        j = {n: mean(profile, n, key) for n in chosen}
                        ratio = {n: j[n] / max(every[n], 1e-9) for n in chosen}
                        runs = [
                            results[(profile, s, n)][key]["J"]
                            / max(results[(profile, s, n)][f"{kind} {harness}every frame"]["J"], 1e-9)
                            for n in chosen
                            for s in seeds
                            if (profile, s, n) in results
                        ]
                        worst = min(ratio, key=ratio.__getitem__)
                        for n, r in ratio.items():
                            if r < 0.9:
                                flagged[(profile, n, kind, f"{harness}{policy}")] = r
                        share = np.mean([mean(profile, n, key, "share") for n in chosen])
                        cells += [
                            f"{share:.0%}",
                            f"{np.mean(list(j.values())):.3f}",
                            f"**{np.mean(list(j.values())) / np.mean(list(every.values())):.3f}**",
                            f"{ratio[worst]:.3f} ({worst})",
                            str(sum(r < 0.9 for r in ratio.values())),
                            str(sum(r < 0.9 for r in runs)),
                        ]
                    lines.append(
                        f"| {profile} | {half} ({len(chosen)}) | {kind} | {harness.strip() or 'CLI'} | "
                        + " | ".join(cells)
                        + " |"
                    )
    lines += [
        "",
        "**Every sequence** (the CLI's runs; J every frame, then J / J every frame; **bold** under 0.9):",
        "",
        "| profile | half | sequence | prompt | J every frame | K=2 | auto | auto: network |",
        "|---" * 8 + "|",
    ]
    for profile in profiles:
        for half in halves:
            for name in (n for n in names if rf.half_of(n) == half):
                for kind in kinds:
                    every = mean(profile, name, f"{kind} every frame")
                    cells = []
                    for policy in ("K=2", "auto"):
                        r = mean(profile, name, f"{kind} {policy}") / max(every, 1e-9)
                        cells.append(f"**{r:.3f}**" if r < 0.9 else f"{r:.3f}")
                    share = mean(profile, name, f"{kind} auto", "share")
                    lines.append(
                        f"| {profile} | {half} | {name} | {kind} | {every:.3f} | "
                        + " | ".join(cells)
                        + f" | {share:.0%} |"
                    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rf.add_selection(parser)
    parser.add_argument("--prompts", nargs="*", choices=rf.PROMPTS, default=["box"], help="prompt kinds (box)")
    parser.add_argument("--in-order", action="store_true", help="also the in-process harness on the same runs")
    parser.add_argument(
        "--harness",
        action="store_true",
        help="only the in-order harness's K=1/2/3/auto table (seed 0, default profile)",
    )
    args = parser.parse_args()
    if args.harness:
        return harness_main(args)
    started = time.perf_counter()
    kinds = tuple(args.prompts)
    evaluate_one = partial(cli_evaluate, kinds=kinds, in_order=args.in_order)
    results = rf.run("keyframes", evaluate_one, rf.jobs(args), args.workers, args.resume, args.saved_only)
    command = rf._command(args, "keyframes.py") + (" --in-order" if args.in_order else "")
    if kinds != ("box",):
        command += " --prompts " + " ".join(kinds)
    text = cli_report(results, list(kinds), command, rf._timing(args, started))
    print(text)
    if not args.no_write:
        write_section("keyframes", text)
        figures.keyframes(text)


def harness_main(args: argparse.Namespace) -> None:
    scores = keyframe_scores(args.data.expanduser(), args.workers)
    count = len(list((args.data.expanduser() / "JPEGImages/480p").iterdir()))
    table = "\n".join(
        [
            f"`python benchmarks/keyframes.py --data DAVIS --harness` on the {count} DAVIS 2016 training sequences, "
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
        write_section("keyframes-harness", table)


if __name__ == "__main__":
    main()
