"""The ``fastsam-track`` command: ``run`` a source through FastSAM, or ``demo`` on a generated clip."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastsam_track.configs import PRESETS, ConfigError, RunConfig, load_config

__all__ = ["main"]

_EXIT_USAGE = 2


class _CliError(Exception):
    """An error the user can fix, printed as one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastsam-track", description="Segment and track everything in video with FastSAM."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="segment a video file or image folder into an annotated MP4")
    run.add_argument("source", help="video file or folder of images")
    run.add_argument("-o", "--output", required=True, type=Path, help="annotated H.264 MP4 to write")
    run.add_argument("--config", help=f"YAML file or preset ({', '.join(PRESETS)}); flags override it")
    run.add_argument("--model", help="FastSAM-s (default), FastSAM-x, fastsam-tiny (built in) or a checkpoint path")
    run.add_argument("--imgsz", type=int, help="longer side of the network input, a multiple of 32 (640)")
    run.add_argument("--conf", type=float, help="minimum segment confidence (0.4)")
    run.add_argument("--iou", type=float, help="NMS IoU threshold (0.9)")
    run.add_argument("--max-det", type=int, help="most segments per frame (300)")
    run.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    run.add_argument("--threads", type=int, help="torch CPU threads (all cores)")
    run.add_argument("--vid-stride", type=int, help="process every n-th frame (1)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    demo = commands.add_parser("demo", help="segment a generated clip with the built-in model")
    demo.add_argument("-o", "--output", type=Path, help="annotated MP4 to write (default: a temporary folder)")
    demo.add_argument("--frames", type=int, default=60, help="length of the generated clip (60)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _config_from(args: argparse.Namespace) -> RunConfig:
    keys = ("model", "imgsz", "conf", "iou", "max_det", "device", "threads", "vid_stride")
    return load_config(args.config, {key: getattr(args, key) for key in keys})


def _segment_to_mp4(source: Any, config: RunConfig, output: Path, progress: bool) -> None:
    from tqdm import tqdm

    from fastsam_track.pipeline.render import SegmentRenderer
    from fastsam_track.pipeline.runner import run
    from fastsam_track.pipeline.segmenter import Segmenter
    from fastsam_track.pipeline.sinks import VideoFileSink
    from fastsam_track.trackers.segment_tracker import SegmentTracker

    sink = VideoFileSink(output, fps=source.fps, crf=config.crf, preset=config.preset)
    segmenter = Segmenter(
        config.model,
        imgsz=config.imgsz,
        conf=config.conf,
        iou=config.iou,
        max_det=config.max_det,
        device=config.device,
        threads=config.threads,
    )
    renderer = SegmentRenderer(opacity=config.opacity, contour_thickness=config.contour_thickness)
    with tqdm(total=source.frame_count, unit="frame", disable=not progress, dynamic_ncols=True) as bar:

        def report(segmented: Any, stats: Any) -> None:
            bar.update(1)
            bar.set_postfix(fps=f"{stats.fps:.1f}", segments=len(segmented.segments), refresh=False)

        stats = run(source, segmenter, tracker=SegmentTracker(), renderer=renderer, sinks=[sink], on_frame=report)
    timings = ", ".join(f"{stage} {ms:.1f}" for stage, ms in stats.mean_ms().items())
    print(f"wrote {stats.frames} frames to {output} ({stats.fps:.1f} fps; ms per frame: {timings})")


def _run(args: argparse.Namespace) -> None:
    from fastsam_track.pipeline.sources import open_source

    config = _config_from(args)
    source = open_source(args.source, vid_stride=config.vid_stride)
    _segment_to_mp4(source, config, args.output, progress=not args.no_progress)


def _demo(args: argparse.Namespace) -> None:
    from fastsam_track.pipeline.sinks import VideoFileSink
    from fastsam_track.pipeline.sources import VideoFileSource
    from fastsam_track.synthetic import SyntheticClip

    if args.frames < 1:
        raise _CliError(f"--frames must be 1 or more, got {args.frames}")
    output = args.output or Path(tempfile.mkdtemp(prefix="fastsam-track-demo-")) / "demo.mp4"
    clip_path = output.with_name(output.stem + "-input.mp4")
    clip = SyntheticClip(height=360, width=640, num_shapes=8, seed=0)
    with VideoFileSink(clip_path, fps=30, crf=18) as sink:
        for index in range(args.frames):
            sink.write(clip.frame(index)[0])
    print(f"generated {args.frames} frames of synthetic video: {clip_path}")
    config = load_config(overrides={"model": "fastsam-tiny", "imgsz": 640, "conf": 0.25})
    _segment_to_mp4(VideoFileSource(clip_path), config, output, progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a usage error, with a one-line message)."""
    os.environ.setdefault("YOLO_VERBOSE", "False")
    args = _parser().parse_args(argv)
    from fastsam_track.pipeline.models import ModelError
    from fastsam_track.pipeline.sinks import SinkError
    from fastsam_track.pipeline.sources import SourceError

    try:
        _run(args) if args.command == "run" else _demo(args)
    except (_CliError, ConfigError, ModelError, SinkError, SourceError) as error:
        print(f"fastsam-track: error: {error}", file=sys.stderr)
        return _EXIT_USAGE
    except KeyboardInterrupt:
        print("fastsam-track: interrupted; outputs written so far are finalised", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
