"""Speed side by side: the network alone, our pipeline end to end, and ultralytics' FastSAM tracking.

    python benchmarks/speed.py --frames 20 --repeats 3

One process, one generated 1280x720 H.264 clip, the same weights and input size for every
row of a model. Rows:

- the network alone (the limit) on each CPU backend: torch fp32, ONNX Runtime, OpenVINO
  (bf16 where the CPU has it), and OpenVINO int8 (``--precision int8``: NNCF quantization
  calibrated on the clip's own frames; its ratio to OpenVINO's own precision in brackets),
  fed the letterboxed frame;
- the floor on the fastest backend: our frame loop with nothing between decoding, the
  network and H.264 encoding (no NMS, masks, tracking or drawing), what any pipeline that
  reads and writes the video pays on top of the network;
- ours end to end, as ``fastsam-track run CLIP -o OUT.mp4`` builds it (threaded decode,
  segment, everything-mode tracking, render, threaded H.264 encode), on torch, on the
  fastest backend and on OpenVINO int8, in everything mode and with two box-prompted objects;
- ours with keyframes (``--keyframe-every 2``, ``3``, ``--keyframe auto``) on the fastest
  backend with the two prompted objects: the network on keyframes only, the frames between
  carried by the optical flow; each with its fps over K = 1's and, with ``--davis DIR``, the
  real-footage J over K = 1's (``benchmarks/keyframes.py`` on the DAVIS training sequences);
- ultralytics ``FastSAM(weights).track(CLIP, stream=True)`` with its defaults, and with the
  FastSAM docs' settings (``retina_masks=True, iou=0.9``), each plus ``result.plot()``;
- ours on realistic masks, no network: segments that tile the frame as a trained model's do
  on real video (``davis_streams``: a Felzenszwalb over-segmentation of each frame, about 100
  segments on the 160x90 grid, one object split, merged and missed in turn), replayed into the
  same frame loop, in everything mode and with four box-prompted objects. Random weights put
  every mask in a few cells, which hides the cost of association (flow included) and drawing:
  these rows' track and render columns are the realistic ones. With ``--against OLD`` (the root
  of another checkout, e.g. ``git worktree add OLD <commit>``), the same rows of that code run
  beside ours, each run in its own process, the two round-robin; ``--models ""`` runs these
  rows alone (written to a section of their own in benchmarks/README.md). With
  ``--without-avx512``, each code's realistic rows also run in a process where NumPy, OpenCV
  and torch dispatch no AVX-512 kernels (``AVX2_ONLY``: the instruction set of the AVX2-only
  machine class, not its clock, caches or memory): the row says what the child process found.

FastSAM-s and FastSAM-x are their architectures with random weights (the releases cannot
be downloaded here; time does not depend on the weights), with the class bias raised so
the best anchors score about 0.5, as a trained model scores its segments: at the untrained
0.003, the tracker behind ultralytics' ``track`` drops nearly every detection and draws
almost nothing. ``conf`` and ``max_det`` are set per model from the first frame: the
fewest candidates that leave about 100 masks (many random boxes are too small to hold a
mask cell). Ultralytics rows use the same conf, imgsz and max_det (the docs' imgsz=1024
would change the input size). The built-in model runs on its own kind of clip with its
usual conf 0.25.

ms per frame: wall time of a run over its frames (ultralytics: from its first result to
the last, so model setup is left out); median (min-max) over ``--repeats`` runs. The stage
columns are each stage's wall time a frame, the mean over the run's frames; track CPU ms is
the tracking thread's own CPU time in ``FrameProcessor.process`` on the run's median frame
(``time.thread_time``): the track column less the waits for the GIL and for the cores that the
decode, render and encode threads hold on a small machine, and less the first frame's setup
(what ``benchmarks/track_stage.py`` measures on one thread). The floor
and our OpenVINO rows run round-robin (one run of each in turn), so a machine whose speed
drifts during the benchmark weighs on them alike; the torch rows run before them on their
own (torch's OpenMP threads spin on after a run and would slow the next). Threads:
every row gets all cores (ultralytics sets torch to one thread on import; restored here).
Our rows write an H.264 MP4 with ``--preset`` (default ultrafast, as the webcam and rtsp
presets; the file preset's veryfast costs about 9 ms more CPU per 720p frame); the
ultralytics rows write nothing.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

import numpy as np
import supervision as sv
import torch
from architectures import save_untrained_checkpoint

from fastsam_track.pipeline.keyframes import Keyframes
from fastsam_track.pipeline.model.quantize import Calibration
from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.outputs.render import SegmentRenderer
from fastsam_track.pipeline.outputs.sinks import VideoFileSink
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.runner import run
from fastsam_track.pipeline.sources import open_source
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, Frame, SegmentedFrame

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures as charts
from keyframes import keyframe_scores
from report import spread, write_section  # benchmarks/ is not a package

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "onnx", "openvino")
INT8 = "openvino int8"
# At most 3 candidates per mask: a trained model keeps about as many candidates as masks, and NMS
# and mask assembly cost follows the candidates.
CANDIDATES = (100, 130, 170, 220, 300)
MASKS = 100
DEFAULT_MODELS = "fastsam-s,fastsam-x,fastsam-tiny"
CLASS_BIAS = 5.0  # scores like a trained model's, so ultralytics' tracker keeps the segments (see below)
# Two objects prompted by box on frame 0 (1280x720 source pixels).
PROMPT_BOXES = ((200.0, 150.0, 520.0, 450.0), (700.0, 250.0, 1050.0, 600.0))
# What turns off AVX-512 in the libraries the track stage runs on: their runtime dispatch reads these on import.
AVX2_ONLY = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENCV_CPU_DISABLE": "AVX512-SKX,AVX512-CLX",
    "ATEN_CPU_CAPABILITY": "avx2",
}


class PeakRss:
    """Peak resident memory of this process while the block runs, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()

    @staticmethod
    def now_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, self.now_mb())

    @contextmanager
    def watch(self) -> Iterator[PeakRss]:
        self.peak_mb = self.now_mb()
        self._stop.clear()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield self
        finally:
            self._stop.set()
            sampler.join()
            self.peak_mb = max(self.peak_mb, self.now_mb())


def write_clip(path: Path, frames: int, seed: int) -> Path:
    """A 1280x720 H.264 clip of moving textured shapes."""
    clip = SyntheticClip(height=720, width=1280, num_shapes=12, seed=seed)
    with VideoFileSink(path, fps=30, crf=18) as sink:
        for index in range(frames):
            sink.write(clip.frame(index)[0])
    return path


def first_frame(path: Path) -> np.ndarray:
    return next(iter(open_source(path))).image


def letterboxed(segmenter: Segmenter, image: np.ndarray) -> np.ndarray:
    """(1, h, w, 3) uint8 RGB network input of one (H, W, 3) BGR frame, as ``Segmenter`` feeds it."""
    return segmenter.letterbox(image.shape[:2]).apply(image)[None, ..., ::-1].copy()


def calibrated(segmenter: Segmenter, image: np.ndarray) -> tuple[float, int]:
    """(conf, max_det) that leave ``image`` about ``MASKS`` masks: the fewest candidates that do.

    Random weights make many boxes too small to hold a mask cell, so more candidates than
    masks are kept; the count rises step by step to at most 300 (fewer masks then: the
    frame carries what 300 candidates give).
    """
    predictions, _ = segmenter.network(letterboxed(segmenter, image))
    scores = np.sort(predictions[0, 4].float().numpy())[::-1]
    for candidates in CANDIDATES:
        segmenter.conf = float(scores[min(candidates, len(scores) - 1)])
        segmenter.max_det = candidates
        if len(segmenter(image)) >= 0.95 * MASKS:
            break
    return segmenter.conf, segmenter.max_det


def network_ms(segmenter: Segmenter, image: np.ndarray, calls: int) -> list[float]:
    """Milliseconds of the network alone on the letterboxed frame, one per call after a warm-up.

    One network at a time: called in turn with torch's, OpenVINO's calls ran 1.4x slower here
    (torch's OpenMP threads spin on after each of its calls)."""
    batch = letterboxed(segmenter, image)
    segmenter.network(batch)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        segmenter.network(batch)
        times.append((time.perf_counter() - started) * 1000)
    return times


def ours(
    segment: Callable[[np.ndarray], sv.Detections],
    clip: Path,
    out: Path,
    boxes: list[np.ndarray],
    preset: str,
    peak: PeakRss,
    keyframes: tuple[int | None, str] = (1, "every"),
) -> dict[str, float]:
    """One end-to-end run (objects prompted by ``boxes`` on frame 0, the network on ``keyframes``:
    ``(keyframe_every, keyframe)``): ms per frame, per-stage ms, masks per frame, peak RSS."""
    prompts = [BoxPrompt(0, n + 1, box) for n, box in enumerate(boxes)]
    policy = Keyframes.from_config(*keyframes)
    # The keyframe arguments only with a policy: an older checkout (``--against``) may take none of them.
    flow = {} if policy is None else {"carry": True, "residual": policy.auto}
    loop = {} if policy is None else {"keyframes": policy}
    processor = _TimedProcessor(
        tracker=SegmentTracker(), objects=ObjectTracker() if prompts else None, prompts=prompts, **flow
    )
    with peak.watch(), VideoFileSink(out, fps=30, preset=preset) as sink:
        stats = run(
            open_source(clip),
            segment,
            processor,
            renderer=SegmentRenderer(),
            sinks=[sink],
            **loop,
        )
    stages = stats.mean_ms()
    return {
        "ms": stats.seconds * 1000 / stats.frames,
        "masks": stats.segments / stats.frames,
        "segment": stages["segment"],
        "track": stages["track"],
        "track cpu": statistics.median(processor.cpu_ms),
        "render": stages["render"],
        "rss": peak.peak_mb,
    }


class _TimedProcessor(FrameProcessor):
    """A ``FrameProcessor`` that keeps the tracking thread's CPU ms of each ``process`` call (``cpu_ms``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cpu_ms: list[float] = []

    def process(self, frame: Frame, segments: sv.Detections | None) -> SegmentedFrame:
        started = time.thread_time()
        done = super().process(frame, segments)
        self.cpu_ms.append((time.thread_time() - started) * 1000)
        return done


class _Unchanged:
    """A renderer that hands the frame on as decoded (the floor row draws nothing)."""

    def render(self, segmented: SegmentedFrame) -> np.ndarray:
        return segmented.frame.image


def floor(segmenter: Segmenter, clip: Path, out: Path, preset: str, peak: PeakRss) -> dict[str, float]:
    """Our frame loop with only decode, the network and encode: ms per frame, network ms, peak RSS."""

    def network_only(image: np.ndarray) -> sv.Detections:
        segmenter.network(letterboxed(segmenter, image))
        return sv.Detections.empty()

    with peak.watch(), VideoFileSink(out, fps=30, preset=preset) as sink:
        stats = run(open_source(clip), network_only, renderer=_Unchanged(), sinks=[sink])  # type: ignore[arg-type]
    return {
        "ms": stats.seconds * 1000 / stats.frames,
        "masks": 0.0,
        "segment": stats.mean_ms()["segment"],
        "track": float("nan"),
        "track cpu": float("nan"),
        "render": float("nan"),
        "rss": peak.peak_mb,
    }


def ultralytics_track(weights: Path, clip: Path, settings: dict, threads: int, peak: PeakRss) -> dict[str, float]:  # type: ignore[type-arg]
    """ultralytics' FastSAM ``track(stream=True)`` plus its ``plot()``: ms per frame after the first."""
    from ultralytics import FastSAM

    model = FastSAM(str(weights))
    times, masks, plot_ms, speed = [], [], [], []
    with peak.watch():
        stream = model.track(source=str(clip), stream=True, device="cpu", verbose=False, **settings)
        last = None
        for index, result in enumerate(stream):
            plot_started = time.perf_counter()
            result.plot()
            plot_ms.append((time.perf_counter() - plot_started) * 1000)
            masks.append(0 if result.masks is None else len(result.masks))
            speed.append(sum(result.speed.values()))
            now = time.perf_counter()
            if index == 0:
                torch.set_num_threads(threads)  # its device selection set one thread
            elif last is not None:
                times.append((now - last) * 1000)
            last = now
    return {
        "ms": statistics.mean(times),
        "masks": statistics.mean(masks),
        "segment": statistics.mean(speed[1:]),
        "track": float("nan"),
        "track cpu": float("nan"),
        "render": statistics.mean(plot_ms[1:]),
        "rss": peak.peak_mb,
    }


def realistic_inputs(args: argparse.Namespace, work: Path) -> Path:
    """The realistic rows' segments (about 100 a frame) and four prompt boxes, pickled in ``work``."""
    from davis_streams import StreamMaker

    synthetic = SyntheticClip(height=720, width=1280, num_shapes=12, seed=5)
    views = [synthetic.frame(index) for index in range(args.frames + 1)]
    images = [image for image, _ in views]
    stacks, _ = StreamMaker(scale=80.0).stream(images, [visible[0] for _, visible in views], seed=0)
    visible = views[0][1]
    largest = np.argsort(-visible.sum(axis=(1, 2)))[:4]  # the four largest shapes on frame 0
    boxes = [box.astype(float) for box in sv.mask_to_xyxy(visible[largest])]
    path = work / "realistic.pkl"
    with open(path, "wb") as out:
        pickle.dump({"stacks": stacks, "boxes": boxes}, out)
    return path


def realistic_run(clip: Path, inputs: Path, prompted: bool, preset: str, work: Path) -> dict[str, float]:
    """One run of ours on the pickled realistic segments (no network), replayed into the frame loop."""
    with open(inputs, "rb") as stored:
        stored_inputs = pickle.load(stored)
    stacks = stored_inputs["stacks"]
    grid = stacks[0].shape[1:]  # imgsz 640's mask grid, whatever --imgsz
    scale = np.array([1280 / grid[1], 720 / grid[0]] * 2, np.float32)
    frames = [
        sv.Detections(
            xyxy=sv.mask_to_xyxy(stack).astype(np.float32) * scale, mask=stack, confidence=np.ones(len(stack))
        )
        for stack in stacks
    ]
    replay = functools.partial(next, itertools.cycle(frames))
    figures = ours(replay, clip, work / "out.mp4", stored_inputs["boxes"] if prompted else [], preset, PeakRss())
    return {**figures, "avx512": avx512_in_use()}


def realistic_rows(clip: Path, args: argparse.Namespace, work: Path) -> list[str]:
    """Ours on segments that tile the frame (no network): everything mode and four prompted objects; with
    ``--against``, the same runs of the other checkout beside them, one process per run, round-robin; with
    ``--without-avx512``, each code's runs again in processes that dispatch no AVX-512 kernels."""
    inputs = realistic_inputs(args, work)
    codes = {"ours": None} if args.against is None else {"ours": ROOT, "against": args.against.resolve()}
    instruction_sets = (True, False) if args.without_avx512 else (True,)
    runs: dict[tuple[str, bool, bool], Callable[[], dict[str, float]]] = {}
    for code, root in codes.items():
        for avx512 in instruction_sets:
            for prompted in (False, True):
                if root is None and avx512:
                    measure = functools.partial(realistic_run, clip, inputs, prompted, args.preset, work)
                else:
                    env = {} if avx512 else AVX2_ONLY
                    measure = functools.partial(
                        _child_run, root or ROOT, clip, inputs, prompted, args.preset, work, env
                    )
                runs[code, avx512, prompted] = measure
    measured = interleaved(runs, args.repeats)
    rows = []
    for (code, _, prompted), figures in measured.items():
        label = "four prompted objects" if prompted else "everything mode"
        who = "**ours**" if code == "ours" else f"the code at {_commit(codes[code])} (``--against``)"
        found = "" if min(figures["avx512"]) else ", AVX-512 off"
        rows.append(_row("realistic masks, replayed", f"{who}, {label}{found}, no network", "none", figures, ""))
    return rows


def avx512_in_use() -> float:
    """1.0 when NumPy, OpenCV or torch in this process dispatch AVX-512 kernels, else 0.0."""
    import cv2
    from numpy._core._multiarray_umath import __cpu_features__

    opencv = any("AVX512" in name and not name.endswith("?") for name in cv2.getCPUFeaturesLine().split())
    torch_avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return float(bool(__cpu_features__.get("X86_V4")) or opencv or torch_avx512)


def _child_run(
    root: Path, clip: Path, inputs: Path, prompted: bool, preset: str, work: Path, env: dict[str, str]
) -> dict[str, float]:
    """``realistic_run`` in a new process importing the package of the checkout at ``root``, ``env`` added."""
    argv = [sys.executable, __file__, "--realistic-run", str(clip), str(inputs), str(int(prompted)), str(work)]
    child = subprocess.run(
        [*argv, "--preset", preset],
        env={**os.environ, "PYTHONPATH": str(root), **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(child.stdout.splitlines()[-1])


def _commit(root: Path | None) -> str:
    """The short commit of the checkout at ``root``."""
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or str(root)


def repeat(measure: Callable[[], dict[str, float]], times: int) -> dict[str, list[float]]:
    runs = [measure() for _ in range(times)]
    return {key: [r[key] for r in runs] for key in runs[0]}


def _boxes(prompted: bool) -> list[np.ndarray]:
    """The two prompt boxes of the prompted rows (none for everything mode)."""
    return [np.array(box) for box in PROMPT_BOXES] if prompted else []


def interleaved(runs: dict[Any, Callable[[], dict[str, float]]], times: int) -> dict[Any, dict[str, list[float]]]:
    """Each of ``runs`` ``times`` times, round-robin (one of each, then again): ``repeat`` for each, side by side."""
    results: dict[Any, list[dict[str, float]]] = {key: [] for key in runs}
    for _ in range(times):
        for key, measure in runs.items():
            results[key].append(measure())
    return {key: {column: [r[column] for r in done] for column in done[0]} for key, done in results.items()}


def model_rows(
    name: str,
    weights: Path | str,
    clip: Path,
    args: argparse.Namespace,
    work: Path,
    keyframe_j: dict[str, tuple[float, float, float, float]],
) -> list[str]:
    """Every row of one model: networks, ours (every frame, then keyframes), ultralytics."""
    image = first_frame(clip)
    threads = os.cpu_count() or 1
    probe = Segmenter(weights, imgsz=args.imgsz, conf=0.25, max_det=MASKS, device="cpu", backend="torch")
    conf, max_det = (0.25, MASKS) if name.startswith("fastsam-tiny") else calibrated(probe, image)
    shape = probe.letterbox(image.shape[:2]).input_shape
    peak = PeakRss()
    segmenters = {
        backend: Segmenter(
            weights, imgsz=args.imgsz, conf=conf, max_det=max_det, device="cpu", backend=backend, threads=threads
        )
        for backend in BACKENDS
    }
    segmenters[INT8] = Segmenter(
        weights,
        imgsz=args.imgsz,
        conf=conf,
        max_det=max_det,
        device="cpu",
        backend="openvino",
        threads=threads,
        precision="int8",
        calibration=Calibration(clip, frames=args.frames, progress=False),
    )
    network = {key: network_ms(segmenter, image, calls=args.frames) for key, segmenter in segmenters.items()}
    fastest = min(("onnx", "openvino"), key=lambda b: statistics.median(network[b]))
    name = f"{name} (conf {conf:.3g}, max_det {max_det})"
    int8_ratio = statistics.median(network[INT8]) / statistics.median(network["openvino"])
    rows = [
        f"| {name} | network alone, {backend}{f' ({int8_ratio:.2f}x openvino)' if backend == INT8 else ''} "
        f"| {shape[0]}x{shape[1]} | {spread(network[backend])} "
        f"| {1000 / statistics.median(network[backend]):.1f} | 1.00 | | | | | | | |"
        for backend in (*BACKENDS, INT8)
    ]
    # The floor and every configuration of ours on the exported backends, run round-robin: a machine that slows
    # down or speeds up midway (other tenants, clocks) weighs on every row alike, so the ratios between rows
    # hold. The torch rows run first, on their own: torch's OpenMP threads spin on after its runs.
    measured = {
        ("torch", prompted, ""): repeat(
            functools.partial(ours, segmenters["torch"], clip, work / "out.mp4", _boxes(prompted), args.preset, peak),
            args.repeats,
        )
        for prompted in (False, True)
    }
    runs: dict[tuple[str, bool, str], Callable[[], dict[str, float]]] = {
        ("floor", False, ""): functools.partial(floor, segmenters[fastest], clip, work / "out.mp4", args.preset, peak)
    }
    policies = {"K=2": (2, "every"), "K=3": (3, "every"), "auto": (None, "auto")}
    for backend in (fastest, INT8):
        for prompted in (False, True):
            runs[backend, prompted, ""] = functools.partial(
                ours, segmenters[backend], clip, work / "out.mp4", _boxes(prompted), args.preset, peak
            )
    for label, policy in policies.items():
        runs[fastest, True, label] = functools.partial(
            ours, segmenters[fastest], clip, work / "out.mp4", _boxes(True), args.preset, peak, keyframes=policy
        )
    measured |= interleaved(runs, args.repeats)
    figures = measured["floor", False, ""]
    floor_ms = statistics.median(figures["ms"])
    ratio = floor_ms / statistics.median(network[fastest])
    rows.append(_row(name, f"floor: decode, network, encode only, {fastest}", shape, figures, f"{ratio:.2f}", 1.0))
    ours_ms = {}
    for backend in ("torch", fastest, INT8):
        for prompted in (False, True):
            figures = measured[backend, prompted, ""]
            ours_ms[backend, prompted] = statistics.median(figures["ms"])
            label = "two prompted objects" if prompted else "everything mode"
            ratio = ours_ms[backend, prompted] / statistics.median(network[backend])
            over = ours_ms[backend, prompted] / floor_ms
            rows.append(_row(name, f"**ours**, {backend}, {label}", shape, figures, f"{ratio:.2f}", over))
    keyframe_ms: dict[str, float] = {}
    for label in policies:
        figures = measured[fastest, True, label]
        speedup = ours_ms[fastest, True] / statistics.median(figures["ms"])
        quality = f", real-footage J {keyframe_j[label][1]:.3f} of K=1's" if keyframe_j else ""
        ratio = statistics.median(figures["ms"]) / statistics.median(network[fastest])
        what = f"**ours**, {fastest}, two prompted objects, keyframes {label} ({speedup:.2f}x K=1's fps{quality})"
        rows.append(_row(name, what, shape, figures, f"{ratio:.2f}", statistics.median(figures["ms"]) / floor_ms))
        keyframe_ms[label] = statistics.median(figures["ms"])
    # Our fastest configuration, keyframes included (ultralytics has none).
    configs = {f"{b}, {'two prompted objects' if p else 'everything mode'}": ms for (b, p), ms in ours_ms.items()}
    configs |= {f"{fastest}, keyframes {label}": ms for label, ms in keyframe_ms.items()}
    fastest_config = min(configs, key=configs.__getitem__)
    best = configs[fastest_config]
    base = dict(imgsz=args.imgsz, conf=conf, max_det=max_det)
    for label, settings in (("defaults", base), ("docs' settings", {**base, "retina_masks": True, "iou": 0.9})):
        track_once = functools.partial(ultralytics_track, probe.weights, clip, settings, threads, peak)
        figures = repeat(track_once, args.repeats)
        slower = statistics.median(figures["ms"]) / best
        what = f"ultralytics FastSAM.track, {label} (ours {slower:.1f}x faster: {fastest_config})"
        rows.append(_row(name, what, shape, figures, "", statistics.median(figures["ms"]) / floor_ms))
    return rows


def _row(
    name: str,
    what: str,
    shape: tuple[int, int] | str,
    figures: dict[str, list[float]],
    ratio: str,
    over_floor: float | None = None,
) -> str:
    """One table row; ``ratio``: the x network column, ``over_floor``: ms over the floor row's (None: blank)."""
    ms = figures["ms"]
    floor = "" if over_floor is None else f"{over_floor:.2f}"
    size = shape if isinstance(shape, str) else f"{shape[0]}x{shape[1]}"
    track = "" if np.isnan(figures["track"][0]) else spread(figures["track"])
    track_cpu = "" if np.isnan(figures["track cpu"][0]) else spread(figures["track cpu"])
    render = "" if np.isnan(figures["render"][0]) else spread(figures["render"])
    return (
        f"| {name} | {what} | {size} | {spread(ms)} | {1000 / statistics.median(ms):.1f} | {ratio} | {floor} "
        f"| {statistics.median(figures['masks']):.0f} | {spread(figures['segment'])} | {track} | {track_cpu} "
        f"| {render} | {max(figures['rss']):.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated")
    parser.add_argument("--preset", default="ultrafast", help="x264 preset of our output (as the live presets)")
    parser.add_argument(
        "--davis", type=Path, help="DAVIS 2016 training data (davis_data.py): the keyframe rows' real-footage J"
    )
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    parser.add_argument(
        "--against",
        type=Path,
        help="root of another checkout (e.g. a git worktree of an older commit): its realistic rows beside ours",
    )
    parser.add_argument(
        "--without-avx512",
        action="store_true",
        help="the realistic rows also with AVX-512 off in NumPy, OpenCV and torch (an AVX2 machine's instruction set)",
    )
    parser.add_argument("--realistic-run", nargs=4, help=argparse.SUPPRESS)  # a child: CLIP INPUTS PROMPTED WORK
    args = parser.parse_args()
    if args.realistic_run:
        clip, inputs, prompted, work_dir = args.realistic_run
        figures = realistic_run(Path(clip), Path(inputs), prompted == "1", args.preset, Path(work_dir))
        print(json.dumps(figures))
        return
    keyframe_j = keyframe_scores(args.davis) if args.davis else {}

    work = Path(tempfile.mkdtemp(prefix="fastsam-speed-"))  # clips, checkpoints, exports: about 130 MB
    os.environ.setdefault("FASTSAM_TRACK_CACHE", str(work / "cache"))
    try:
        rows = realistic_rows(write_clip(work / "clip.mp4", args.frames + 1, seed=5), args, work)
        for model in filter(None, args.models.split(",")):  # --models "": the realistic rows only
            if model == "fastsam-tiny":
                clip = write_clip(work / "tiny.mp4", args.frames + 1, seed=7)
                rows += model_rows("fastsam-tiny (built in)", "fastsam-tiny", clip, args, work, keyframe_j)
            else:
                clip = write_clip(work / "clip.mp4", args.frames + 1, seed=5)
                weights = save_untrained_checkpoint(model, work / f"{model}.pt", class_bias=CLASS_BIAS)
                name = f"{model.replace('fastsam', 'FastSAM')} arch."
                rows += model_rows(name, weights, clip, args, work, keyframe_j)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    models = "" if args.models == DEFAULT_MODELS else " --models " + (args.models or '""')
    table = "\n".join(
        [
            f"`python benchmarks/speed.py --frames {args.frames} --repeats {args.repeats} --imgsz {args.imgsz}{models}"
            f"{' --davis DAVIS' if args.davis else ''}{' --against OLD' if args.against else ''}"
            f"{' --without-avx512' if args.without_avx512 else ''}` "
            f"on {os.cpu_count()} CPU cores, 1280x720 clip, our output H.264 {args.preset}; median (min-max) over runs "
            f"(network alone: over {args.frames} calls), OpenVINO rows round-robin. x network: ms per frame over the "
            "network alone of the same backend; x floor: over the floor row's (decode, network, encode only); "
            "track ms: the tracking thread's wall time a frame, mean over a run's frames; track CPU ms: its own CPU "
            "time in FrameProcessor.process on a run's median frame."
            + (
                " AVX-512 off: a process where NumPy, OpenCV and torch dispatch no AVX-512 kernels, as checked in "
                "that process (the instruction set of an AVX2-only machine, not its clock, caches or memory)."
                if args.without_avx512
                else ""
            ),
            "",
            "| model | what | network input | ms/frame | fps | x network | x floor | masks/frame | segment ms "
            "| track ms | track CPU ms | render / plot ms | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.no_write:
        return
    if not args.models:  # the realistic rows alone: a section of their own, the full table and its figure kept
        write_section("speed_realistic", table)
        return
    write_section(f"speed_{args.imgsz}", table)
    charts.speed(table, charts.FOLDER / f"speed_{args.imgsz}.svg")


if __name__ == "__main__":
    main()
