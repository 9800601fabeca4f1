"""Everything to learn from a GPU machine lent for a few minutes, in one command.

    python scripts/gpu_check.py OUTDIR            # or scripts/gpu_check.sh OUTDIR [WHEELS]

Steps, each timed, its failure recorded and the next one run anyway:
1. the machine: torch, CUDA, the GPU, the packages the project uses (present or not);
2. the GPU-marked tests (``pytest -m gpu``);
3. ``tensorrt`` from the package index (``pip install tensorrt``), for the TensorRT rows;
4. rows, for each runtime (torch fp32, torch fp16, TensorRT fp16) at imgsz 640 and 1024 with
   1 and 8 sources: the network alone (a batch of one frame per source, ms per call and per
   frame) and end to end (generated 1280x720 frames held in memory, so no decoder is needed,
   through the segmenter, mask assembly and the trackers with a prompted object per source;
   frames per second of all sources). The model is the FastSAM-s architecture (YOLOv8s-seg,
   one class) with random weights and a class bias so that it keeps about 100 masks a frame
   (``benchmarks/architectures.py``): its speed is FastSAM-s's without downloading weights.

It writes ``OUTDIR/gpu_check.json`` (every step and row) and ``OUTDIR/gpu_check.md`` (the table)
after every step, so a machine taken back midway still leaves what was measured. Without CUDA
the GPU rows are skipped, saying so; ``--cpu-rows`` adds the torch fp32 rows on the CPU, which
is how CI tests this script (with ``--tiny``: the built-in model, a small input, a few frames).
A deadline (``--budget``, 420 s) keeps the whole under 8 minutes: a row that cannot start
before it is recorded as skipped.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

PACKAGES = ("torch", "torchvision", "ultralytics", "supervision", "lapx", "av", "opencv-python",
            "opencv-python-headless", "tensorrt", "onnxruntime", "openvino", "numpy", "scipy")  # fmt: skip
RUNTIMES = ("torch fp32", "torch fp16", "tensorrt fp16")
CLASS_BIAS = 5.0  # as benchmarks/speed.py: about 100 masks a frame from random weights


class Check:
    """The steps' records, written out after each one."""

    def __init__(self, folder: Path, budget: float):
        self.folder, self.deadline = folder, time.monotonic() + budget
        self.started = time.monotonic()
        self.steps: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        folder.mkdir(parents=True, exist_ok=True)

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {message}", flush=True)

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        """Run ``action``, record its result, time and failure, write the files; its result or None."""
        self.say(f"{name} ...")
        started = time.monotonic()
        record: dict[str, Any] = {"step": name}
        try:
            result = action()
            record.update(status="ok", result=result)
        except Skip as skip:
            result, record["status"], record["reason"] = None, "skipped", str(skip)
        except Exception as error:  # recorded, and the check goes on
            result, record["status"] = None, "failed"
            record["error"] = f"{type(error).__name__}: {error}"
            record["traceback"] = traceback.format_exc(limit=6)
        record["seconds"] = round(time.monotonic() - started, 2)
        self.steps.append(record)
        self.say(f"{name}: {record['status']} ({record['seconds']} s) {record.get('reason', record.get('error', ''))}")
        self.write()
        return result

    def write(self) -> None:
        data = {"seconds": round(time.monotonic() - self.started, 1), "steps": self.steps, "rows": self.rows}
        (self.folder / "gpu_check.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        (self.folder / "gpu_check.md").write_text(table(self.rows) + "\n")


class Skip(Exception):
    """A step not run, with the reason."""


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the rows: one per runtime, input size and number of sources."""
    lines = [
        "| runtime | device | imgsz | sources | network ms per call | network ms per frame | end to end fps, "
        "all sources | masks per frame | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["runtime"], r["device"], r["imgsz"], r["sources"]]
        cells += [_cell(r.get("network_ms")), _cell(r.get("network_ms_per_frame")), _cell(r.get("fps"))]
        cells += [_cell(r.get("masks")), r.get("status", "running")]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:.1f}"


def machine() -> dict[str, Any]:
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_available": cuda,
        "torch_cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 1e9, 1) if cuda else None,
        "packages": versions,
    }


def gpu_tests(cuda: bool) -> dict[str, Any]:
    if not cuda:
        raise Skip("no CUDA device")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", str(ROOT / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    if done.returncode not in (0, 5):  # 5: none collected
        raise RuntimeError(f"pytest -m gpu exited {done.returncode}: {done.stdout[-1500:]}")
    return {"exit": done.returncode, "summary": done.stdout.strip().splitlines()[-1:]}


def install_tensorrt(cuda: bool) -> str:
    if not cuda:
        raise Skip("no CUDA device: TensorRT needs one")
    try:
        import tensorrt

        return f"already installed: {tensorrt.__version__}"
    except ImportError:
        pass
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "tensorrt"], capture_output=True, text=True, timeout=150
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install tensorrt failed: {done.stderr.strip()[-600:]}")
    return f"installed: {metadata.version('tensorrt')}"


def frames_of(count: int, height: int, width: int, seed: int) -> tuple[list[Any], tuple[float, float]]:
    """``count`` generated frames, and the centre of the largest shape on the first (the prompt)."""
    from fastsam_track.synthetic import SyntheticClip
    from fastsam_track.types import Frame

    clip = SyntheticClip(height=height, width=width, num_shapes=8, seed=seed)
    frames = [Frame(i, clip.frame(i)[0], i / 30) for i in range(count)]
    truth = clip.frame(0)[1]
    ys, xs = np.nonzero(truth[np.argmax(truth.sum(axis=(1, 2)))])
    return frames, (float(xs.mean()), float(ys.mean()))


def measure(
    weights: Path, runtime: str, device: str, imgsz: int, sources: int, calls: int, frames: int, shape: tuple[int, int]
) -> dict[str, Any]:
    """One row: the network alone on a batch of ``sources`` frames, then ``sources`` streams end to end."""
    import torch

    from fastsam_track.pipeline.model.segmenter import Segmenter
    from fastsam_track.pipeline.processor import FrameProcessor
    from fastsam_track.pipeline.runner import run_sources
    from fastsam_track.trackers.objects import ObjectTracker
    from fastsam_track.trackers.segment_tracker import SegmentTracker
    from fastsam_track.types import PointPrompt

    backend = "tensorrt" if runtime.startswith("tensorrt") else "torch"
    segmenter = Segmenter(weights, imgsz=imgsz, conf=0.25, device=device, backend=backend)
    if runtime == "torch fp32" and segmenter.half:  # the Segmenter runs fp16 on CUDA: the fp32 row undoes it
        segmenter.network.module = segmenter.network.module.float()
        segmenter.network.half = segmenter.half = False
    streams = [frames_of(frames, *shape, seed=s) for s in range(sources)]
    images = [stream[0][0].image for stream in streams]
    geometry = segmenter.letterbox(shape)
    batch = np.ascontiguousarray(np.stack([geometry.apply(i) for i in images])[..., ::-1])
    segmenter.prepare(shape)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(3):  # warm-up: cuDNN's algorithm search, an engine's first run
        segmenter.network(batch)
    sync()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        segmenter.network(batch)
        sync()
        times.append((time.perf_counter() - started) * 1000)
    masks = float(np.mean([len(d) for d in segmenter.segment_batch(images)]))
    processors = [
        FrameProcessor(
            tracker=SegmentTracker(), objects=ObjectTracker(), prompts=[PointPrompt(0, 1, np.array([point]))]
        )
        for _, point in streams
    ]
    started = time.perf_counter()
    stats = run_sources([s[0] for s in streams], segmenter, processors, sinks=[[] for _ in streams])
    seconds = time.perf_counter() - started
    network_ms = float(np.median(times))
    return {
        "network_ms": network_ms,
        "network_ms_per_frame": network_ms / sources,
        "network_ms_all": [round(t, 2) for t in times],
        "fps": sum(s.frames for s in stats) / seconds,
        "stage_ms_per_frame": stats[0].mean_ms(),
        "masks": masks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds before no new row starts (420)")
    parser.add_argument("--calls", type=int, default=20, help="timed network calls per row (20)")
    parser.add_argument("--frames", type=int, default=60, help="frames per source end to end (60)")
    parser.add_argument("--cpu-rows", action="store_true", help="also the torch fp32 rows on the CPU")
    parser.add_argument("--tiny", action="store_true", help="built-in model, imgsz 128 and 256, 1 and 2 sources")
    args = parser.parse_args(argv)
    check = Check(args.outdir, args.budget)
    found = check.step("machine", machine) or {}
    cuda = bool(found.get("cuda_available"))
    check.step("GPU tests (pytest -m gpu)", lambda: gpu_tests(cuda))
    tensorrt = check.step("tensorrt from the package index", lambda: install_tensorrt(cuda))
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    if args.tiny:
        weights: Path | None = Path("fastsam-tiny")
        sizes, counts, shape = (128, 256), (1, 2), (90, 160)
    else:
        from architectures import save_untrained_checkpoint

        weights = check.step(
            "FastSAM-s architecture",
            lambda: save_untrained_checkpoint("fastsam-s", work / "fastsam-s.pt", class_bias=CLASS_BIAS),
        )
        sizes, counts, shape = (640, 1024), (1, 8), (720, 1280)
    devices = (["cuda"] if cuda else []) + (["cpu"] if args.cpu_rows else [])
    for runtime in RUNTIMES:
        for device in ["cuda", *(["cpu"] if args.cpu_rows and runtime == "torch fp32" else [])]:
            for imgsz in sizes:
                for sources in counts:
                    row: dict[str, Any] = {"runtime": runtime, "device": device, "imgsz": imgsz, "sources": sources}
                    check.rows.append(row)
                    reason = _why_not(device, devices, runtime, tensorrt, weights, check)
                    if reason:
                        row["status"] = f"skipped: {reason}"
                        check.say(f"{runtime} {device} {imgsz} x{sources}: {row['status']}")
                        check.write()
                        continue
                    assert weights is not None
                    name = f"{runtime} on {device}, imgsz {imgsz}, {sources} source(s)"
                    task = functools.partial(
                        measure, weights, runtime, device, imgsz, sources, args.calls, args.frames, shape
                    )
                    result = check.step(name, task)
                    row.update(result or {}, status=check.steps[-1]["status"])
                    check.write()
    check.say(f"done: {args.outdir / 'gpu_check.json'}, {args.outdir / 'gpu_check.md'}")
    print(table(check.rows))
    return 0


def _why_not(device: str, devices: list[str], runtime: str, tensorrt: Any, weights: Any, check: Check) -> str | None:
    if device not in devices:
        return "no CUDA device" if device == "cuda" else "no --cpu-rows"
    if runtime.startswith("tensorrt") and tensorrt is None:
        return "tensorrt is not installed (see its step)"
    if weights is None:
        return "no model (see the FastSAM-s architecture step)"
    if time.monotonic() > check.deadline:
        return "out of time (--budget)"
    return None


if __name__ == "__main__":
    sys.exit(main())
