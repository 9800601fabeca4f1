"""Long runs hold memory flat: tens of thousands of frames from a looping source.

    python benchmarks/soak.py --frames 20000

A generated 256x144 scene of moving shapes, looped, goes through the whole pipeline
(built-in model, everything-mode tracks, one prompted object, render, H.264 file).
Resident memory is sampled every 500 frames; growth is measured from the end of the
warm-up (the first 10% of frames) to the end. Frame age (decoded to written) and the
tracker's live track count are reported too: lost tracks must be freed, not pile up.
The run writes its time series (``--stats``' ``.frames.jsonl``, a line per frame) as it goes,
so the memory figures include it; the report of that series (``fastsam-track report``) is then
written and timed.
``tests/test_benchmarks.py`` runs 2,000 frames and checks the same limits.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.outputs.sinks import VideoFileSink
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.runner import run
from fastsam_track.pipeline.sources import Source
from fastsam_track.pipeline.timeline import Timeline
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import Frame, PointPrompt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section

SAMPLE_EVERY = 500
MAX_GROWTH_MB = 50.0


class LoopingSource(Source):
    """``frames`` frames cycling through a 200-frame generated scene (indices keep counting)."""

    def __init__(self, frames: int, height: int = 144, width: int = 256):
        clip = SyntheticClip(height=height, width=width, num_shapes=6, seed=4, motion=1.5)
        self._images = [clip.frame(i)[0] for i in range(200)]
        _, truth = clip.frame(0)
        ys, xs = np.nonzero(truth[np.argmax(truth.sum(axis=(1, 2)))])
        self.prompt_point = (float(xs.mean()), float(ys.mean()))  # the centre of the largest shape
        self.fps, self.size, self.frame_count = Fraction(30), (width, height), frames

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.frame_count or 0):
            yield Frame(index, self._images[index % len(self._images)], index / 30)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def soak(frames: int) -> dict[str, float]:
    """Run the pipeline over ``frames`` looped frames; the figures of the table."""
    samples: list[float] = []
    tracks: list[int] = []
    tracker = SegmentTracker()

    def on_frame(segmented, stats) -> None:  # type: ignore[no-untyped-def]
        tracks.append(len(tracker.ids))
        if segmented.frame.index % SAMPLE_EVERY == 0:
            samples.append(_rss_mb())

    segmenter = Segmenter("fastsam-tiny", imgsz=256, conf=0.25, device="cpu")
    source = LoopingSource(frames)
    prompt = PointPrompt(0, 1, np.array([source.prompt_point]), np.array([1]))
    with tempfile.TemporaryDirectory() as folder, Timeline(Path(folder) / "soak.frames.jsonl") as timeline:
        stats = run(
            source,
            segmenter,
            FrameProcessor(tracker=tracker, objects=ObjectTracker(), prompts=[prompt]),
            sinks=[VideoFileSink(Path(folder) / "soak.mp4", fps=30, preset="ultrafast")],
            on_frame=on_frame,
            timeline=timeline.source(None, source),
        )
        series_mb = timeline.path.stat().st_size / 1e6
        report_seconds = _report_seconds(Path(folder), stats.as_dict())
    warm = samples[max(len(samples) // 10, 1) :] or samples
    age = stats.age_ms()
    return {
        "frames": stats.frames,
        "fps": stats.fps,
        "rss_warm": warm[0],
        "rss_end": samples[-1],
        "growth": samples[-1] - warm[0],
        "age_median": age["median"],
        "age_p95": age["p95"],
        "age_max": age["max"],
        "tracks_max": max(tracks),
        "tracks_end": tracks[-1],
        "series_mb": series_mb,
        "report_s": report_seconds,
    }


def _report_seconds(folder: Path, totals: dict[str, float]) -> float:
    """Seconds ``fastsam-track report`` takes on the run's stats and time series, as a command (imports too)."""
    import json
    import subprocess

    stats = folder / "soak.json"
    stats.write_text(json.dumps({**totals, "timeline": "soak.frames.jsonl"}))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastsam_track.cli", "report", str(stats)], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()
    r = soak(args.frames)
    table = "\n".join(
        [
            f"`python benchmarks/soak.py --frames {args.frames}` on {os.cpu_count()} CPU cores: "
            "looping 256x144 scene, fastsam-tiny at imgsz 256, everything-mode tracks, a prompted object, MP4 output, "
            "the time series written as it goes; then `fastsam-track report` on it, timed as a command.",
            "",
            "| frames | fps | RSS after warm-up MB | RSS at end MB | growth MB (limit 50) | frame age median ms "
            "| p95 ms | max ms | live tracks, most | live tracks at end | time series MB | report s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {r['frames']:.0f} | {r['fps']:.1f} | {r['rss_warm']:.0f} | {r['rss_end']:.0f} | {r['growth']:+.1f} "
            f"| {r['age_median']:.0f} | {r['age_p95']:.0f} | {r['age_max']:.0f} | {r['tracks_max']:.0f} "
            f"| {r['tracks_end']:.0f} | {r['series_mb']:.1f} | {r['report_s']:.1f} |",
        ]
    )
    print(table)
    if not args.no_write:
        write_section("soak", table)
    if r["growth"] > MAX_GROWTH_MB:
        raise SystemExit(f"memory grew by {r['growth']:.1f} MB (limit {MAX_GROWTH_MB:.0f})")


if __name__ == "__main__":
    main()
