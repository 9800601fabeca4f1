"""int8 against the runtimes' own precisions: the network alone, and what quantization does to the segments.

    python benchmarks/int8.py --calls 10 --repeats 5 --davis ~/davis2016

Speed, one process, every network fed the same letterboxed frame of a generated 1280x720
clip (384x640 input at imgsz 640), in interleaved rounds so that load from other work on the
machine falls on every row alike: ONNX Runtime fp32, OpenVINO f32, OpenVINO bf16 (its
default where the CPU has bf16 instructions: ``--precision auto``) and OpenVINO int8
(``--precision int8``: NNCF on the clip's first ``--calibration-frames`` frames). ONNX
Runtime int8 (its static QDQ quantization on the same frames, per-channel weights) is there
to answer whether ``--backend onnx`` should get int8 too; it is not in the package. The
FastSAM-s row is its architecture with random weights (time does not depend on them); the
built-in model is timed too. *x fastest existing*: median over the fastest median among
the rows that are not int8. The one-time column is the export (fp32 rows) or export plus
quantization (int8 rows), in seconds.

Quality, on the built-in model (random weights say nothing about it): each frame is
segmented by the torch fp32 network and by the one compared, with the same conf, NMS and
mask assembly; segments are paired one to one by mask IoU at prototype resolution
(Hungarian assignment) and a pair counts as matched at IoU >= 0.5. *Mean matched IoU*: over
the matched pairs; *matched*: matched pairs over the fp32 segments; *count difference*:
mean over frames of (compared - fp32) segments, and of its absolute value. int8 is
calibrated on each clip's first ``--calibration-frames`` frames, as ``fastsam-track run``
does by default, and scored on every frame. Clips: generated scenes like the model's
held-out split (seeds the training did not use), and with ``--davis`` DAVIS 2016 training
sequences (real footage; the built-in model has never seen any, so its segments there are
few and rough: the rows show whether int8 keeps what fp32 finds, not how good that is).

Prompted-object J, with ``--davis``: what int8 does to what a user gets, the object followed.
Every sequence under ``DIR/JPEGImages/480p`` (DAVIS 2016 training sequences: ``davis_data.py``
extracts only those; validation sequences are never used), each whole, is segmented on every
frame by the built-in model in torch fp32 and in OpenVINO int8 (calibrated on the sequence's
first ``--calibration-frames`` frames, as above). The object is prompted on frame 0 from the
ground truth, with one point (the truth's point farthest from its edge) or its box, and
followed on those segments as ``real_footage.py``'s *ours* (``FrameProcessor`` with
``SegmentTracker``, ``ObjectTracker`` and DIS flow between the real frames). J comes from
vos-benchmark, frames 1 to the end, as in ``real_footage.py``; a sequence's J is the mean over
the two prompts, and *int8 / fp32* is the ratio of J (of the mean J on the mean rows). Unlike
``real_footage.py``'s streams, synthesised from the truth, these segments come from a network
trained on generated scenes only, so J is far below real_footage.py's: the ratio is the
measure. The 30 sequences (2079 frames) take about 10 minutes on 2 idle cores, 22 on 2 cores
shared with other work. Needs the bench extra (vos-benchmark) with ``--davis``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import numpy as np
from architectures import save_untrained_checkpoint
from scipy.optimize import linear_sum_assignment

from fastsam_track.pipeline.model.backends import ExportCache
from fastsam_track.pipeline.model.quantize import Calibration
from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.outputs.sinks import VideoFileSink
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.sources import open_source
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import Frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures
import real_footage as rf  # benchmarks/ is not a package
from report import spread, write_section

CLASS_BIAS = 5.0  # as speed.py: random-weight scores like a trained model's
MATCH_IOU = 0.5
SCENE_SEEDS = (21, 22, 23)  # the training used seeds 0 (train) and 1 (held out)
DAVIS_SEQUENCES = ("bear", "boat", "car-turn", "dog-agility", "elephant")


def write_clip(path: Path, frames: int, height: int, width: int, seed: int, shapes: int) -> Path:
    clip = SyntheticClip(height=height, width=width, num_shapes=shapes, seed=seed)
    with VideoFileSink(path, fps=30, crf=18) as sink:
        for index in range(frames):
            sink.write(clip.frame(index)[0])
    return path


def _timed(make: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    made = make()
    return made, time.perf_counter() - started


def networks(weights: Path | str, clip: Path, args: argparse.Namespace, cache: ExportCache) -> dict[str, Any]:
    """Every network of the speed table for ``weights``, loaded for the clip's input shape, with its one-time cost."""
    import openvino as ov

    image = next(iter(open_source(clip))).image
    made: dict[str, Any] = {}

    def segmenter(**kwargs: Any) -> Segmenter:
        return Segmenter(weights, imgsz=args.imgsz, device="cpu", export_cache=cache, **kwargs)

    onnx = segmenter(backend="onnx")
    made["ONNX Runtime fp32"] = (onnx, _timed(lambda: onnx.prepare(image.shape[:2]))[1])
    if args.onnx_int8:
        made["ONNX Runtime int8 (static QDQ)"] = onnx_int8(weights, clip, image, args, cache)
    vino = segmenter(backend="openvino")
    seconds = _timed(lambda: vino.prepare(image.shape[:2]))[1]
    shape = vino.letterbox(image.shape[:2]).input_shape
    f32 = segmenter(backend="openvino")
    path = cache.get(f32.weights, "openvino", shape, "fp32")
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": f32.threads}
    f32.network._models[shape] = ov.Core().compile_model(
        str(path), "CPU", {**config, "INFERENCE_PRECISION_HINT": "f32"}
    )  # type: ignore[attr-defined]
    made["OpenVINO f32"] = (f32, seconds)
    runs_in = "bf16" if "bf" in str(vino.network.inference_precision) else "f32"  # type: ignore[attr-defined]
    made[f"OpenVINO {runs_in} (auto)"] = (vino, seconds)
    calibration = Calibration(clip, frames=args.calibration_frames, progress=False)
    int8 = segmenter(backend="openvino", precision="int8", calibration=calibration)
    made["OpenVINO int8 (ours)"] = (int8, seconds + _timed(lambda: int8.prepare(image.shape[:2]))[1])
    return made


def onnx_int8(
    weights: Path | str, clip: Path, image: np.ndarray, args: argparse.Namespace, cache: ExportCache
) -> tuple[Any, float]:
    """ONNX Runtime's static int8 quantization (QDQ, per-channel weights) of the ONNX export, on the same frames."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from fastsam_track.pipeline.model.segmenter import _calibration_inputs

    segmenter = Segmenter(weights, imgsz=args.imgsz, device="cpu", backend="onnx", export_cache=cache)
    shape = segmenter.letterbox(image.shape[:2]).input_shape
    source = cache.get(segmenter.weights, "onnx", shape, "fp32")
    inputs = _calibration_inputs(Calibration(clip, frames=args.calibration_frames), shape)
    name = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            image = next(self.left, None)
            if image is None:
                return None
            return {name: np.ascontiguousarray(image.transpose(2, 0, 1)[None], np.float32) / 255}

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="ort-int8-", dir=cache.root))
    quant_pre_process(str(source), str(work / "pre.onnx"))
    quantize_static(
        str(work / "pre.onnx"),
        str(work / "int8.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    seconds = time.perf_counter() - started
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = segmenter.threads, 1
    segmenter.network._models[shape] = ort.InferenceSession(  # type: ignore[attr-defined]
        str(work / "int8.onnx"), options, providers=["CPUExecutionProvider"]
    )
    return segmenter, seconds


def speed_rows(label: str, weights: Path | str, clip: Path, args: argparse.Namespace, cache: ExportCache) -> list[str]:
    made = networks(weights, clip, args, cache)
    image = next(iter(open_source(clip))).image
    any_segmenter = next(iter(made.values()))[0]
    geometry = any_segmenter.letterbox(image.shape[:2])
    batch = np.ascontiguousarray(geometry.apply(image)[None, ..., ::-1])
    times: dict[str, list[float]] = {name: [] for name in made}
    for segmenter, _ in made.values():
        segmenter.network(batch)  # warm-up
    for _ in range(args.repeats):  # interleaved rounds: the machine's load falls on every row alike
        for name, (segmenter, _) in made.items():
            for _ in range(args.calls):
                started = time.perf_counter()
                segmenter.network(batch)
                times[name].append((time.perf_counter() - started) * 1000)
    medians = {name: statistics.median(values) for name, values in times.items()}
    fastest = min(medians[name] for name in made if "int8" not in name)
    shape = geometry.input_shape
    return [
        f"| {label} | {name} | {shape[0]}x{shape[1]} | {spread(times[name])} | {1000 / medians[name]:.1f} "
        f"| {medians[name] / fastest:.2f} | {seconds:.1f} |"
        for name, (_, seconds) in made.items()
    ]


def matched(reference: Any, other: Any) -> tuple[list[float], int, int]:
    """IoUs of the one-to-one pairs with IoU >= MATCH_IOU, and the two segment counts."""
    if len(reference) == 0 or len(other) == 0:
        return [], len(reference), len(other)
    a = reference.mask.reshape(len(reference), -1).astype(np.float32)
    b = other.mask.reshape(len(other), -1).astype(np.float32)
    inter = a @ b.T
    iou = inter / np.maximum(a.sum(1)[:, None] + b.sum(1)[None] - inter, 1)
    rows, cols = linear_sum_assignment(-iou)
    pairs = iou[rows, cols]
    return [float(v) for v in pairs[pairs >= MATCH_IOU]], len(reference), len(other)


Scores = dict[str, tuple[list[float], list[tuple[int, int]]]]  # network: matched IoUs, (fp32, its) counts per frame


def quality(clip: Path, args: argparse.Namespace, cache: ExportCache) -> Scores:
    """fp32 (torch) against OpenVINO auto (bf16 here) and int8 on every frame of ``clip``, built-in model."""

    def segmenter(**kwargs: Any) -> Segmenter:
        return Segmenter("fastsam-tiny", imgsz=args.imgsz, conf=0.25, device="cpu", export_cache=cache, **kwargs)

    reference = segmenter(backend="torch")
    compared = {
        "OpenVINO auto (bf16 here)": segmenter(backend="openvino"),
        "OpenVINO int8 (ours)": segmenter(
            backend="openvino",
            precision="int8",
            calibration=Calibration(clip, frames=args.calibration_frames, progress=False),
        ),
    }
    scores: Scores = {name: ([], []) for name in compared}
    for frame in open_source(clip):
        base = reference(frame.image)
        for name, other in compared.items():
            pairs, n_ref, n_other = matched(base, other(frame.image))
            scores[name][0].extend(pairs)
            scores[name][1].append((n_ref, n_other))
    return scores


def pooled(all_scores: list[Scores]) -> Scores:
    names = all_scores[0].keys()
    return {
        name: ([v for s in all_scores for v in s[name][0]], [c for s in all_scores for c in s[name][1]])
        for name in names
    }


def quality_rows(label: str, scores: Scores) -> list[str]:
    rows = []
    for name, (ious, counts) in scores.items():
        frames, n_ref = len(counts), sum(r for r, _ in counts)
        diffs = [o - r for r, o in counts]
        mean_iou = statistics.mean(ious) if ious else float("nan")
        rows.append(
            f"| {label} | {frames} | {name} | {n_ref / frames:.1f} | {mean_iou:.3f} "
            f"| {len(ious) / max(n_ref, 1):.1%} | {statistics.mean(diffs):+.2f} "
            f"| {statistics.mean(abs(d) for d in diffs):.2f} |"
        )
    return rows


def davis_clip(folder: Path, frames: int, out: Path) -> Path:
    """The first ``frames`` JPEGs of a DAVIS sequence as a folder the sources read (a link per frame)."""
    out.mkdir(parents=True, exist_ok=True)
    for jpeg in sorted(folder.glob("*.jpg"))[:frames]:
        (out / jpeg.name).symlink_to(jpeg)
    return out


def davis_names(root: Path) -> list[str]:
    """Every sequence under ``root/JPEGImages/480p`` (DAVIS 2016 training sequences only), in name order."""
    return sorted(p.name for p in (root / "JPEGImages" / "480p").iterdir() if p.is_dir())


def followed_j(sequence: rf.Sequence, segmenter: Segmenter) -> dict[str, float]:
    """Mean J (frames 1 to the end) of the object prompted on frame 0 by point and by box, each followed
    on ``segmenter``'s segments of every frame as ``real_footage.py``'s *ours* (``keyframes.follow``
    with every frame a keyframe): ``FrameProcessor`` with ``SegmentTracker``, ``ObjectTracker`` and the
    DIS flow between the real frames."""
    processors = {
        kind: FrameProcessor(
            tracker=SegmentTracker(), objects=ObjectTracker(), prompts=[rf.prompt_for(kind, sequence.truths[0])]
        )
        for kind in rf.PROMPTS
    }
    masks: dict[str, list[np.ndarray]] = {kind: [] for kind in processors}
    for t, image in enumerate(sequence.images):
        segments = segmenter(image)  # one network pass; the trackers do not modify it
        for kind, processor in processors.items():
            done = processor.process(Frame(t, image, t / 25), segments)
            grid = np.asarray(done.segments.mask).shape[1:]
            found = done.objects is not None and len(done.objects)
            masks[kind].append(done.objects.mask[0] if found else np.zeros(grid, bool))
    return {kind: float(rf.score(sequence, np.stack(stack))[0].mean()) for kind, stack in masks.items()}


JScores = dict[str, dict[str, dict[str, float]]]  # sequence: {"fp32" or "int8": {prompt kind: J}}


def davis_j(
    root: Path, names: list[str], args: argparse.Namespace, cache: ExportCache
) -> tuple[JScores, dict[str, int]]:
    """Prompted-object J per sequence with the built-in model's torch fp32 segments and with its OpenVINO
    int8 segments, int8 calibrated on the sequence's first ``--calibration-frames`` frames; and each
    sequence's frame count."""

    def segmenter(**kwargs: Any) -> Segmenter:
        return Segmenter("fastsam-tiny", imgsz=args.imgsz, conf=0.25, device="cpu", export_cache=cache, **kwargs)

    fp32 = segmenter(backend="torch")
    scores: JScores = {}
    frames: dict[str, int] = {}
    for name in names:
        started = time.perf_counter()
        sequence = rf.load(root, name)
        calibration = Calibration(root / "JPEGImages" / "480p" / name, frames=args.calibration_frames, progress=False)
        int8 = segmenter(backend="openvino", precision="int8", calibration=calibration)
        scores[name] = {"fp32": followed_j(sequence, fp32), "int8": followed_j(sequence, int8)}
        frames[name] = len(sequence.images)
        j = {network: statistics.mean(by_kind.values()) for network, by_kind in scores[name].items()}
        print(
            f"{name}: {len(sequence.images)} frames, J fp32 {j['fp32']:.3f}, int8 {j['int8']:.3f}, "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return scores, frames


def j_rows(scores: JScores, frames: dict[str, int]) -> list[str]:
    """A row per sequence (J: mean over the point and box prompts), then the mean over sequences of each
    prompt kind and of both; the mean rows' ratio is of the mean J."""

    def row(label: str, count: str, fp32: float, int8: float) -> str:
        return f"| {label} | {count} | {fp32:.3f} | {int8:.3f} | {int8 / fp32 if fp32 > 0 else float('nan'):.3f} |"

    def mean_j(name: str, network: str, kinds: tuple[str, ...]) -> float:
        return statistics.mean(scores[name][network][kind] for kind in kinds)

    kinds = tuple(next(iter(scores.values()))["fp32"])
    rows = [row(n, str(frames[n]), mean_j(n, "fp32", kinds), mean_j(n, "int8", kinds)) for n in scores]
    total = str(sum(frames.values()))
    for label, chosen in [*((f"**mean, {kind} prompt**", (kind,)) for kind in kinds), ("**mean**", kinds)]:
        fp32, int8 = (statistics.mean(mean_j(n, network, chosen) for n in scores) for network in ("fp32", "int8"))
        rows.append(row(label, total, fp32, int8))
    return rows


def j_section(root: Path, args: argparse.Namespace, cache: ExportCache) -> list[str]:
    """The J table on every training sequence under ``root``, with its header (lines to append)."""
    scores, frames = davis_j(root, davis_names(root), args, cache)
    return [
        "",
        f"Prompted-object J on real footage: the {len(scores)} DAVIS 2016 training sequences, every frame "
        f"segmented by the built-in model (conf 0.25, imgsz {args.imgsz}) in torch fp32 and in OpenVINO int8 "
        f"calibrated on the sequence's first {args.calibration_frames} frames; the object prompted on frame 0 from "
        "the truth (one point, or its box) and followed as real_footage.py's *ours*; J from vos-benchmark, frames 1 "
        "to the end; a sequence's J is the mean over the two prompts. The built-in model was trained on generated "
        "scenes only, so J says little about it on real footage: the ratio is the measure. Mean rows: the ratio of "
        "the mean J.",
        "",
        "| sequence | frames | J fp32 | J int8 | int8 / fp32 |",
        "|---|---|---|---|---|",
        *j_rows(scores, frames),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10, help="network calls per row and round")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--calibration-frames", type=int, default=30)
    parser.add_argument("--frames", type=int, default=60, help="frames of each quality clip")
    parser.add_argument("--scenes", type=int, default=len(SCENE_SEEDS), help="generated quality clips")
    parser.add_argument("--models", default="fastsam-s,fastsam-tiny", help="speed table models, comma-separated")
    parser.add_argument(
        "--davis", type=Path, help="DAVIS 2016 root (JPEGImages/480p/<sequence>/): real clips and the J table"
    )
    parser.add_argument("--no-onnx-int8", dest="onnx_int8", action="store_false", help="leave out ONNX Runtime int8")
    parser.add_argument("--no-write", action="store_true", help="print the tables, do not update README.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fastsam-int8-"))
    try:
        cache = ExportCache(work / "exports", notify=lambda message: None)
        speed = []
        clip_frames = max(args.calibration_frames, 2)
        for model in filter(None, args.models.split(",")):
            if model == "fastsam-tiny":
                clip = write_clip(work / "tiny.mp4", clip_frames, 720, 1280, seed=7, shapes=12)
                speed += speed_rows("fastsam-tiny (built in)", "fastsam-tiny", clip, args, cache)
            else:
                clip = write_clip(work / "clip.mp4", clip_frames, 720, 1280, seed=5, shapes=12)
                weights = save_untrained_checkpoint(model, work / f"{model}.pt", class_bias=CLASS_BIAS)
                speed += speed_rows(f"{model.replace('fastsam', 'FastSAM')} arch.", weights, clip, args, cache)
        rows: list[str] = []
        scenes = []
        for seed in SCENE_SEEDS[: args.scenes]:
            clip = write_clip(work / f"scene-{seed}.mp4", args.frames, 360, 640, seed=seed, shapes=8)
            scenes.append(quality(clip, args, cache))
            rows += quality_rows(f"generated scene, seed {seed}", scenes[-1])
        rows += quality_rows("**all generated scenes**", pooled(scenes))
        if args.davis is not None:
            real = []
            for sequence in DAVIS_SEQUENCES:
                folder = davis_clip(
                    args.davis.expanduser() / "JPEGImages" / "480p" / sequence, args.frames, work / sequence
                )
                real.append(quality(folder, args, cache))
                rows += quality_rows(f"DAVIS train: {sequence}", real[-1])
            rows += quality_rows("**all DAVIS clips**", pooled(real))
        real_j = j_section(args.davis.expanduser(), args, cache) if args.davis is not None else []
        command = (
            f"python benchmarks/int8.py --calls {args.calls} --repeats {args.repeats} --imgsz {args.imgsz} "
            f"--calibration-frames {args.calibration_frames} --frames {args.frames}"
            + (" --davis DAVIS" if args.davis is not None else "")
        )
        table = "\n".join(
            [
                f"`{command}` on {os.cpu_count()} CPU cores. The network alone: ms per call, median (min-max) over "
                f"{args.repeats} interleaved rounds of {args.calls} calls; x fastest existing: over the fastest "
                "precision that is not int8.",
                "",
                "| model | network | input | ms | fps | x fastest existing | one-time s |",
                "|---|---|---|---|---|---|---|",
                *speed,
                "",
                f"Quality, built-in model, conf 0.25, imgsz {args.imgsz}: against torch fp32 on the same frames, "
                f"segments paired by mask IoU (matched at IoU >= {MATCH_IOU}); int8 calibrated on each clip's first "
                f"{args.calibration_frames} frames.",
                "",
                "| clip | frames | network | fp32 segments/frame | mean matched IoU | matched | count difference "
                "| mean abs. count difference |",
                "|---|---|---|---|---|---|---|---|",
                *rows,
                *real_j,
            ]
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)  # exports and clips: hundreds of MB
    print(table)
    if not args.no_write:
        write_section("int8", table)
        figures.int8(table)


if __name__ == "__main__":
    main()
