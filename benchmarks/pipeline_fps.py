"""End-to-end `run` speed at 720p beside the network alone, for the built-in model and FastSAM-s.

The pipeline is the one `fastsam-track run` builds (threaded decode, segment, everything-mode
tracking, render, threaded H.264 encode). One command, one process, the same generated
1280x720 clip for every row:

    python benchmarks/pipeline_fps.py --frames 30 --repeats 3

FastSAM-s is its architecture with random weights (the release cannot be downloaded
here; time does not depend on the weights), run with a near-zero confidence threshold so
frames carry many segments, as real footage does. The table goes to stdout and replaces
the section between the markers in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

from fastsam_track.pipeline.architectures import save_untrained_checkpoint
from fastsam_track.pipeline.render import SegmentRenderer
from fastsam_track.pipeline.runner import run
from fastsam_track.pipeline.segmenter import Segmenter
from fastsam_track.pipeline.sinks import VideoFileSink
from fastsam_track.pipeline.sources import open_source
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.trackers.segment_tracker import SegmentTracker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import spread as _spread
from report import write_section


def _network_ms(segmenter: Segmenter, image, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds of the forward pass alone on the letterboxed frame."""
    import numpy as np
    import torch

    geometry = segmenter.letterbox(image.shape[:2])
    tensor = torch.from_numpy(np.ascontiguousarray(geometry.apply(image)[..., ::-1]))
    tensor = tensor.permute(2, 0, 1)[None].float().div(255).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        segmenter.network(tensor)
        for _ in range(repeats):
            started = time.perf_counter()
            segmenter.network(tensor)
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fastsam-bench-"))
    clip = SyntheticClip(height=720, width=1280, num_shapes=12, seed=5)
    clip_path = work / "clip720.mp4"
    with VideoFileSink(clip_path, fps=30, crf=18) as sink:
        for index in range(args.frames):
            sink.write(clip.frame(index)[0])
    models = {
        "fastsam-tiny (built in)": dict(model="fastsam-tiny", conf=0.25),
        "FastSAM-s architecture": dict(model=save_untrained_checkpoint("fastsam-s", work / "s.pt"), conf=0.001),
    }
    rows = []
    for name, settings in models.items():
        segmenter = Segmenter(settings["model"], imgsz=args.imgsz, conf=settings["conf"], max_det=100, device="cpu")
        network = _network_ms(segmenter, clip.frame(0)[0], repeats=10)
        fps, stages, segments = [], [], []
        for _ in range(args.repeats):
            with VideoFileSink(work / "out.mp4", fps=30) as sink:
                stats = run(
                    open_source(clip_path),
                    segmenter,
                    tracker=SegmentTracker(),
                    renderer=SegmentRenderer(),
                    sinks=[sink],
                )
            fps.append(stats.fps)
            stages.append(stats.mean_ms())
            segments.append(stats.segments / stats.frames)
        per_stage = {k: [s[k] for s in stages] for k in stages[0]}
        rows.append(
            f"| {name} | {segmenter.letterbox((720, 1280)).input_shape} | {statistics.median(segments):.0f} "
            f"| {_spread(network)} | {_spread(fps)} | {_spread(per_stage['segment'])} "
            f"| {_spread(per_stage['track'])} | {_spread(per_stage['render'])} | {_spread(per_stage['encode'])} |"
        )
    table = "\n".join(
        [
            f"`python benchmarks/pipeline_fps.py --frames {args.frames} --repeats {args.repeats}` "
            f"on {os.cpu_count()} CPU cores, 1280x720 clip, imgsz {args.imgsz}; median (min-max).",
            "",
            "| model | network input | segments/frame | network alone ms | `run` fps | segment ms/frame "
            "| track ms/frame | render ms/frame | encode wait ms/frame |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.no_write:
        return
    write_section("pipeline_fps", table)


if __name__ == "__main__":
    main()
