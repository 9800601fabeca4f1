"""Frame age and memory on a live RTSP camera faster than the model, over a long run.

    python benchmarks/live_latency.py --seconds 600

A GStreamer RTSP server (``tests/support/rtsp_camera.py``, run by Debian's Python with the
GStreamer packages of ``.ci/run``) serves a live 640x360 test pattern at 30 fps on
127.0.0.1. The pipeline reads it with ``StreamSource``, segments with the built-in model,
tracks, follows one box-prompted object and serves the annotated stream (``WebServer``),
as ``fastsam-track run rtsp://... --box ... --serve :0`` does. Frame age is capture
(decoded) to output (handed to the page), over all frames; resident memory is sampled
every 10 s (more often on short runs) and once at the end, and compared between the end
of the first minute (warm-up) and the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.outputs.web import WebServer
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.runner import run
from fastsam_track.pipeline.sources.live import StreamSource
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, StopRun

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402
from report import write_section  # noqa: E402  (benchmarks/ is not a package)

WARM_UP_S = 60.0


def _rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _camera() -> tuple[subprocess.Popen[str], str]:
    script = ROOT / "tests" / "support" / "rtsp_camera.py"
    args = ["/usr/bin/python3", str(script), "--width", "640", "--height", "360", "--fps", "30"]
    camera = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert camera.stdout is not None
    readable, _, _ = select.select([camera.stdout], [], [], 10)
    line = camera.stdout.readline() if readable else ""
    if not line.startswith("READY "):
        camera.kill()
        raise SystemExit(f"the RTSP camera did not start ({line!r}): see .ci/run for its packages")
    return camera, line.split()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()

    segmenter = Segmenter("fastsam-tiny", imgsz=args.imgsz, conf=0.25, device="cpu")
    segmenter(np.zeros((360, 640, 3), np.uint8))  # an exported backend exports and compiles here, not on the clock
    camera, url = _camera()
    samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
    ages: list[float] = []
    every_s = min(10.0, args.seconds / 8)
    started = time.monotonic()

    def on_frame(segmented, stats) -> None:  # type: ignore[no-untyped-def]
        elapsed = time.monotonic() - started
        if not samples or elapsed - samples[-1][0] >= every_s:
            samples.append((elapsed, _rss_mb()))
        ages.extend(stats.ages_ms)
        stats.ages_ms.clear()
        if elapsed >= args.seconds:
            raise StopRun("time is up")

    try:
        source = StreamSource(url)
        prompt = BoxPrompt(0, 1, np.array([200.0, 100.0, 440.0, 300.0]))
        stats = run(
            source,
            segmenter,
            FrameProcessor(tracker=SegmentTracker(), objects=ObjectTracker(), prompts=[prompt]),
            sinks=[WebServer("127.0.0.1", 0)],
            on_frame=on_frame,
        )
    finally:
        camera.kill()
    seconds = time.monotonic() - started
    samples.append((seconds, _rss_mb()))
    warm = [mb for t, mb in samples if t >= min(WARM_UP_S, seconds / 2)]
    growth = warm[-1] - warm[0]
    frames = len(ages)
    if not frames:
        raise SystemExit(f"no frame came from the camera in {seconds:.0f} s")
    table = "\n".join(
        [
            f"`python benchmarks/live_latency.py --seconds {args.seconds:.0f}` on {os.cpu_count()} CPU cores: "
            f"live RTSP 640x360 at 30 fps, fastsam-tiny at imgsz {args.imgsz}, one prompted object, web page output.",
            "",
            "| run | frames processed | fps | frames dropped (stale) | frame age median ms | p95 ms | max ms "
            "| RSS after warm-up MB | RSS at end MB | growth MB | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {seconds:.0f} s | {frames} | {frames / seconds:.1f} | {stats.dropped} "
            f"| {statistics.median(ages):.0f} | {np.percentile(ages, 95):.0f} | {max(ages):.0f} "
            f"| {warm[0]:.0f} | {warm[-1]:.0f} | {growth:+.1f} "
            f"| {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6:.0f} |",
        ]
    )
    print(table)
    if not args.no_write:
        write_section("live_latency", table)
        figures.live_latency(table, ages)


if __name__ == "__main__":
    main()
