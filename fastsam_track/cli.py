"""The ``fastsam-track`` command: ``run`` a source through FastSAM, or ``demo`` on a generated clip."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastsam_track.configs import PRESETS, RunConfig, load_config
from fastsam_track.errors import ConfigError
from fastsam_track.pipeline.model.backends import BACKENDS, PRECISIONS
from fastsam_track.types import TextPrompt

if TYPE_CHECKING:
    from fastsam_track.pipeline.outputs.files import OutputLocks

__all__ = ["main"]

_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130


class _CliError(Exception):
    """An error the user can fix, printed as one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastsam-track", description="Segment and track everything in video with FastSAM."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="segment a video, camera or stream; write, show, serve or push the result")
    run.add_argument("source", help="video file, folder of images, webcam number (0) or rtsp:// / http(s):// URL")
    run.add_argument("-o", "--output", type=Path, help="annotated H.264 MP4 to write")
    run.add_argument("--config", help=f"YAML file or preset ({', '.join(PRESETS)}); flags override it")
    run.add_argument("--model", help="FastSAM-s (default), FastSAM-x, fastsam-tiny (built in) or a checkpoint path")
    run.add_argument("--imgsz", type=int, help="longer side of the network input, a multiple of 32 up to 4096 (640)")
    run.add_argument("--conf", type=float, help="minimum segment confidence (0.4)")
    run.add_argument("--iou", type=float, help="NMS IoU threshold (0.9)")
    run.add_argument("--max-det", type=int, help="most segments per frame (300)")
    run.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    run.add_argument(
        "--backend",
        choices=BACKENDS,
        help="network runtime: auto (default: torch on CUDA, else OpenVINO when installed, else torch); "
        "exported models are made once and cached",
    )
    run.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (default: each runtime's own, OpenVINO bf16 where the CPU has it) or int8 (OpenVINO quantized "
        "with NNCF on calibration frames, made once per input shape and calibration set and cached; "
        "needs the openvino extra)",
    )
    run.add_argument(
        "--calibration",
        metavar="VIDEO|DIR",
        help="with --precision int8: a video file or folder of images to calibrate on (default: the source's "
        "first frames)",
    )
    run.add_argument(
        "--calibration-frames", type=int, metavar="N", help="with --precision int8: frames to calibrate on (30)"
    )
    run.add_argument("--threads", type=int, help="CPU threads of the network runtime (all cores)")
    run.add_argument("--vid-stride", type=int, help="process every n-th frame (1)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="write outputs another run is writing, and replace the frame PNGs in a used --save-masks/--save-edges "
        "folder (a finished output is always replaced, whole)",
    )
    prompts = run.add_argument_group("prompts (pixel coordinates of the source, frames from 0)")
    prompts.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="X,Y[,LABEL][@FRAME]",
        help="a point; LABEL 1 foreground (default) or 0 background; points on one frame are one object",
    )
    prompts.add_argument(
        "--box", action="append", default=[], metavar="X1,Y1,X2,Y2[@FRAME]", help="a box around one object"
    )
    prompts.add_argument(
        "--text",
        action="append",
        default=[],
        metavar='"WORDS"[@FRAME]',
        help="an object described in words, picked by CLIP (needs the text extra)",
    )
    prompts.add_argument("--prompts", type=Path, metavar="FILE", help="prompts JSON file (see README)")
    prompts.add_argument("--smooth", type=int, help="morphological close/open of prompted masks, in mask cells (0)")
    prompts.add_argument("--clip-model", help="open-clip model for --text (ViT-B-32)")
    prompts.add_argument("--clip-pretrained", help="its pretrained tag or a weights file (openai)")
    live = run.add_argument_group("live outputs and streams")
    live.add_argument(
        "--source",
        action="append",
        default=[],
        dest="source_more",
        metavar="SOURCE",
        help="another source, batched through the same model (repeatable; -o is then a folder)",
    )
    live.add_argument("--show", action="store_true", help="a window; click: object, right click: background, drag: box")
    live.add_argument("--serve", metavar="HOST:PORT", help="a web page with the stream and click prompts (:8080)")
    live.add_argument(
        "--serve-token",
        metavar="TOKEN",
        help="require this token on every request (or $FASTSAM_TRACK_TOKEN); an address other than loopback "
        "gets a generated one when none is given",
    )
    live.add_argument(
        "--no-pace",
        action="store_true",
        help="with --serve, process a file as fast as the model goes (default: at its own frame rate, so the "
        "page plays it in real time; cameras and streams are always real time)",
    )
    live.add_argument("--rtsp-out", metavar="URL", help="push the annotated stream to an RTSP server")
    live.add_argument("--stats", type=Path, metavar="FILE", help="write run figures (fps, stage ms, frame age) as JSON")
    live.add_argument(
        "--reconnect-limit", type=int, help="failed reconnections of a camera or stream before giving up (10; 0: never)"
    )
    outputs = run.add_argument_group("exports")
    outputs.add_argument(
        "--save-segments", type=Path, metavar="FILE", help="write everything-mode segments (JSON lines)"
    )
    outputs.add_argument("--segments", type=Path, metavar="FILE", help="replay saved segments instead of the model")
    outputs.add_argument("--save-masks", type=Path, metavar="DIR", help="DAVIS-style PNG per frame of prompted objects")
    outputs.add_argument("--save-tracks", type=Path, metavar="FILE", help="everything-mode tracks in MOTS text format")
    outputs.add_argument("--edges", action="store_true", help="draw the segments' edge map instead of the segments")
    outputs.add_argument("--save-edges", type=Path, metavar="DIR", help="write the edge map of each frame as PNG")
    outputs.add_argument(
        "--save-proposals", type=Path, metavar="FILE", help="write object proposals (boxes, scores) as JSON lines"
    )

    demo = commands.add_parser("demo", help="segment a generated clip with the built-in model")
    demo.add_argument("-o", "--output", type=Path, help="annotated MP4 to write (default: a temporary folder)")
    demo.add_argument("--frames", type=int, default=60, help="length of the generated clip (60)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _config_from(args: argparse.Namespace) -> RunConfig:
    keys = (
        "model",
        "imgsz",
        "conf",
        "iou",
        "max_det",
        "device",
        "backend",
        "precision",
        "calibration",
        "calibration_frames",
        "threads",
        "vid_stride",
        "smooth",
        "clip_model",
        "clip_pretrained",
    )
    return load_config(args.config, {key: getattr(args, key, None) for key in keys})


def _segment_to_outputs(
    source: Any,
    config: RunConfig,
    *,
    sinks: Sequence[Any],
    progress: bool,
    prompts: Sequence[Any] = (),
    replay: Path | None = None,
    exports: Sequence[Any] = (),
    edges: bool = False,
    draw_edges: bool = False,
    inbox: Any = None,
    stats_path: Path | None = None,
    output: Path | None = None,
    pace: bool = False,
) -> None:
    from tqdm import tqdm

    from fastsam_track.pipeline.exports.segments import SegmentsReplay
    from fastsam_track.pipeline.outputs.files import write_text
    from fastsam_track.pipeline.outputs.render import SegmentRenderer
    from fastsam_track.pipeline.outputs.web import WebServer
    from fastsam_track.pipeline.runner import run
    from fastsam_track.trackers.objects import ObjectTracker
    from fastsam_track.trackers.segment_tracker import SegmentTracker

    # CLIP before the segmenter: missing weights are said before a model loads.
    text = _text_prompter(config) if any(isinstance(p, TextPrompt) for p in prompts) else None
    frames: Any = source
    if replay is not None:
        segment: Any = SegmentsReplay(replay, _cached_source(source, config))
        frames = segment.follow(source)  # each image's frame index, for the record of that frame
    else:
        segment = _segmenter(config, probabilities=edges, calibrate_on=source, progress=progress)
        width, height = source.size
        segment.prepare((height, width))  # an export happens now, before a window or page opens
    renderer: Any = SegmentRenderer(
        opacity=config.opacity, contour_thickness=config.contour_thickness, edges=draw_edges
    )
    objects = ObjectTracker(smooth=config.smooth) if prompts or inbox is not None else None
    latest: list[Any] = []
    with tqdm(total=source.frame_count, unit="frame", disable=not progress, dynamic_ncols=True) as bar:

        def report(segmented: Any, stats: Any) -> None:
            if not latest:
                for sink in sinks:
                    if isinstance(sink, WebServer):
                        bar.write(f"serving {_with_token(sink.url, sink.token)}")
                        if sink.token_generated:
                            bar.write(
                                f"  (on {sink.host}, every request needs a token: this one was generated for this run; "
                                "from another machine, use this machine's address with the same port and token)"
                            )
                latest.append(stats)
            bar.update(1)
            age = stats.age_ms()
            bar.set_postfix(
                fps=f"{stats.fps:.1f}",
                segments=len(segmented.segments),
                age=f"{age['median']:.0f}ms",
                dropped=stats.dropped,
                refresh=False,
            )

        try:
            stats = run(
                frames,
                segment,
                live=bool(getattr(source, "live", False)),
                tracker=SegmentTracker(),
                objects=objects,
                prompts=prompts,
                text=text,
                inbox=inbox,
                edges=edges,
                renderer=renderer,
                sinks=sinks,
                exports=exports,
                on_frame=report,
                pace=pace,
            )
        finally:
            if stats_path is not None and latest:  # also when the run was stopped or failed midway
                write_text(stats_path, json.dumps(latest[0].as_dict(), indent=2) + "\n")
    damage = getattr(source, "damage_report", None)
    if damage is not None and (message := damage()):
        _warn(message)
    for prompt in stats.unused_prompts:
        _warn(f"object {prompt.object_id}: frame {prompt.frame} is past the last frame; the prompt was not used")
    timings = ", ".join(f"{stage} {ms:.1f}" for stage, ms in stats.mean_ms().items())
    where = f" to {output}" if output else ""
    age = stats.age_ms()
    print(
        f"processed {stats.frames} frames{where} ({stats.fps:.1f} fps; ms per frame: {timings}; "
        f"frame age median {age['median']:.0f} ms, p95 {age['p95']:.0f} ms; {stats.dropped} dropped)"
    )


def _cached_source(source: Any, config: RunConfig) -> Any:
    """What a segments file records of ``source``: its size, frame count and stride."""
    from fastsam_track.pipeline.exports.segments import CachedSource

    width, height = source.size
    return CachedSource(width, height, source.frame_count, config.vid_stride)


def _segmenter(config: RunConfig, probabilities: bool = False, calibrate_on: Any = None, progress: bool = True) -> Any:
    """The segmenter ``config`` asks for; with int8, calibrated on ``config.calibration`` or else the
    first frames of ``calibrate_on`` (the run's source)."""
    from fastsam_track.pipeline.model.quantize import Calibration
    from fastsam_track.pipeline.model.segmenter import Segmenter

    calibration = None
    if config.precision == "int8":
        frames = config.calibration if config.calibration is not None else calibrate_on
        calibration = Calibration(frames, frames=config.calibration_frames, progress=progress)
    return Segmenter(
        config.model,
        imgsz=config.imgsz,
        conf=config.conf,
        iou=config.iou,
        max_det=config.max_det,
        device=config.device,
        backend=config.backend,
        threads=config.threads,
        probabilities=probabilities,
        precision=config.precision,
        calibration=calibration,
    )


def _with_token(url: str, token: str | None) -> str:
    return f"{url}?token={token}" if token else url


def _sinks(args: argparse.Namespace, source: Any, config: RunConfig, inbox: Any) -> list[Any]:
    """The annotated-frame outputs asked for: file, window, web page, RTSP push."""
    from fastsam_track.pipeline.outputs.sinks import RtspSink, VideoFileSink
    from fastsam_track.pipeline.outputs.web import WebServer, parse_address
    from fastsam_track.pipeline.outputs.window import WindowSink

    sinks: list[Any] = []
    if args.output:
        # a live source's recording is fragmented and stamped with capture times by the run
        sinks.append(VideoFileSink(args.output, fps=source.fps, crf=config.crf, preset=config.preset))
    if args.show:
        sinks.append(WindowSink(inbox))
    if args.serve:
        try:
            host, port = parse_address(args.serve)
        except ValueError as error:
            raise _CliError(str(error)) from None
        # Without a token, an address other than loopback gets a generated one (WebServer), printed with the URL.
        token = args.serve_token or os.environ.get("FASTSAM_TRACK_TOKEN") or None
        sinks.append(WebServer(host, port, inbox, token=token))
    if args.rtsp_out:
        sinks.append(RtspSink(args.rtsp_out, fps=source.fps, on_event=_note))
    return sinks


def _note(message: str) -> None:
    _say(f"fastsam-track: {message}")


def _say(line: str) -> None:
    """Print ``line`` on stderr on a line of its own, also while a progress bar is drawn.

    Messages come from other threads (a camera reconnecting, an RTSP push retrying) while
    the bar sits on the terminal's last line without a newline: printed plainly, a message
    would go on after the bar's text. ``tqdm.write`` clears the bar, prints, and draws it again.
    """
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _text_prompter(config: RunConfig) -> Any:
    from fastsam_track.pipeline.model.clip import ClipEmbedder
    from fastsam_track.pipeline.model.segmenter import select_device
    from fastsam_track.pipeline.prompts.text import TextPrompter

    device, _ = select_device(config.device)
    embedder = ClipEmbedder(config.clip_model, config.clip_pretrained, device=device)
    return TextPrompter(embedder, retry_every=config.text_retry_every, retry_limit=config.text_retry_limit)


def _warn(message: str) -> None:
    _say(f"fastsam-track: warning: {message}")


def _run(args: argparse.Namespace) -> None:
    written = (args.output, args.save_segments, args.save_masks, args.save_tracks, args.save_edges, args.save_proposals)
    if not any(written) and not (args.show or args.serve or args.rtsp_out):
        raise _CliError(
            "nothing to write: give --output, --show, --serve or --rtsp-out and/or --save-segments, --save-masks, "
            "--save-tracks, --save-edges, --save-proposals"
        )
    if args.reconnect_limit is not None and args.reconnect_limit < 0:
        raise _CliError(f"--reconnect-limit must be 0 (never give up) or more, got {args.reconnect_limit}")
    if args.save_masks and not (args.point or args.box or args.text or args.prompts or args.show or args.serve):
        raise _CliError(
            "--save-masks writes prompted objects: give --point, --box, --text, --prompts, --show or --serve"
        )
    config = _config_from(args)
    if config.calibration is not None:
        from fastsam_track.pipeline.model.quantize import check_calibration_path

        check_calibration_path(config.calibration)  # before a source opens or a model loads
    from fastsam_track.pipeline.sources.live import Reconnect

    limit = 10 if args.reconnect_limit is None else (args.reconnect_limit or None)
    specs = _source_specs(args.source, args.source_more)
    if len(specs) > 1:
        _run_several(args, config, specs, Reconnect(limit=limit))
        return
    with _claim_outputs(args, specs):
        _run_one(args, config, specs[0], Reconnect(limit=limit))


def _run_one(args: argparse.Namespace, config: RunConfig, spec: str, reconnect: Any) -> None:
    """One source into the outputs asked for (checked and locked by the caller)."""
    from fastsam_track.pipeline.exports.segments import SegmentsWriter
    from fastsam_track.pipeline.exports.writers import DavisMaskWriter, EdgeWriter, MotsWriter, ProposalWriter
    from fastsam_track.pipeline.prompts.inbox import PromptInbox
    from fastsam_track.pipeline.prompts.parse import check_in_frame, check_object_ids, load_prompts, prompts_from_cli
    from fastsam_track.pipeline.sources import open_source

    source = open_source(spec, vid_stride=config.vid_stride, reconnect=reconnect, on_event=_note)
    prompts = load_prompts(args.prompts) if args.prompts else []
    first_free = max((p.object_id for p in prompts), default=0) + 1
    prompts += prompts_from_cli(args.point, args.box, first_object=first_free, texts=args.text)
    check_in_frame(prompts, source.size)
    check_object_ids(prompts, maximum=255 if args.save_masks else None)
    exports: list[Any] = []
    if args.save_segments:
        exports.append(SegmentsWriter(args.save_segments, _cached_source(source, config)))
    if args.save_masks:
        exports.append(DavisMaskWriter(args.save_masks))
    if args.save_tracks:
        exports.append(MotsWriter(args.save_tracks))
    if args.save_edges:
        exports.append(EdgeWriter(args.save_edges))
    if args.save_proposals:
        exports.append(ProposalWriter(args.save_proposals))
    inbox = (
        PromptInbox(
            first_object=max((p.object_id for p in prompts), default=0) + 1,
            # ids of clicked objects stay within what a mask PNG holds, as the prompts' ids are checked to
            max_id=255 if args.save_masks else None,
            reserved={p.object_id for p in prompts},
        )
        if args.show or args.serve
        else None
    )
    _segment_to_outputs(
        source,
        config,
        sinks=_sinks(args, source, config, inbox),
        output=args.output,
        inbox=inbox,
        stats_path=args.stats,
        progress=not args.no_progress,
        prompts=prompts,
        replay=args.segments,
        exports=exports,
        edges=args.edges or bool(args.save_edges),
        draw_edges=args.edges,
        pace=_paced(args, source),
    )


def _paced(args: argparse.Namespace, source: Any) -> bool:
    """Whether frames go at the source's own rate: a file (or folder) served to a page, unless ``--no-pace``.
    Cameras and streams come in real time already; a run without a page goes as fast as it can."""
    return bool(args.serve) and not args.no_pace and not getattr(source, "live", False)


def _outputs(args: argparse.Namespace, specs: list[str]) -> dict[str, Path]:
    """Every path the run writes, by the option that names it (``-o`` is a folder of files with several sources)."""
    named = {
        "--stats": args.stats,
        "--save-segments": args.save_segments,
        "--save-masks": args.save_masks,
        "--save-tracks": args.save_tracks,
        "--save-edges": args.save_edges,
        "--save-proposals": args.save_proposals,
    }
    if args.output and len(specs) > 1:
        named.update({f"-o (source {n})": args.output / f"source-{n}.mp4" for n in range(len(specs))})
    else:
        named["-o"] = args.output
    return {name: path for name, path in named.items() if path is not None}


def _inputs(args: argparse.Namespace, specs: list[str]) -> dict[str, Path]:
    """Every local file or folder the run reads, by what it is."""
    named = {"source list": Path(args.source)} if len(specs) > 1 or specs[0] != args.source else {}
    named.update({"source" if len(specs) == 1 else f"source {n}": Path(spec) for n, spec in enumerate(specs)})
    named.update({"--segments file": args.segments, "--prompts file": args.prompts})
    named.update({"--config file": args.config and Path(args.config), "--model file": args.model and Path(args.model)})
    # os.path.exists: False, not an error, for a path behind a folder this user cannot enter
    return {name: path for name, path in named.items() if path is not None and os.path.exists(path)}


def _claim_outputs(args: argparse.Namespace, specs: list[str]) -> OutputLocks:
    """Check every output before anything loads, and lock it for this run; the locks to hold while it runs.

    An output must not be an input or another output; file outputs must be writable (a
    video also needs a container for H.264); frame folders must be empty. A second run on
    the same output is refused (``--overwrite``: it goes on, and empties the frame folders).
    """
    from fastsam_track.pipeline.outputs.files import (
        OutputLocks,
        check_distinct,
        check_frame_folder,
        check_writable,
        check_writable_folder,
        video_format,
    )

    outputs = _outputs(args, specs)
    check_distinct(outputs, _inputs(args, specs))
    folders = {name: path for name, path in outputs.items() if name in ("--save-masks", "--save-edges")}
    for name, path in outputs.items():
        if name in folders:
            check_writable_folder(path, "mask folder" if name == "--save-masks" else "edge folder")
        elif name.startswith("-o"):
            check_writable(path, "video")
            video_format(path)
        else:
            check_writable(path, f"{name} file")
    locks = OutputLocks(outputs.values(), overwrite=args.overwrite)
    try:
        for name, path in folders.items():
            check_frame_folder(path, f"{name} folder", args.overwrite)
    except BaseException:
        locks.release()
        raise
    return locks


def _source_specs(first: str, more: list[str]) -> list[str]:
    """The sources of a run: the positional one (a ``.txt`` file lists sources, one a line) and ``--source``."""
    specs = [first, *more]
    listed: list[str] = []
    for spec in specs:
        if spec.endswith(".txt") and Path(spec).is_file():
            lines = [line.strip() for line in Path(spec).read_text().splitlines()]
            listed += [line for line in lines if line and not line.startswith("#")]
        else:
            listed.append(spec)
    if not listed:
        raise _CliError(f"no sources listed in {first!r}")
    return listed


def _run_several(args: argparse.Namespace, config: RunConfig, specs: list[str], reconnect: Any) -> None:
    """Several sources through one model; each writes ``<output folder>/source-<n>.mp4``."""
    single_only = {
        "--point/--box/--text/--prompts": args.point or args.box or args.text or args.prompts,
        "--show": args.show,
        "--serve": args.serve,
        "--rtsp-out": args.rtsp_out,
        "--segments": args.segments,
        "--edges": args.edges,
        "exports (--save-*)": args.save_segments
        or args.save_masks
        or args.save_tracks
        or args.save_edges
        or args.save_proposals,
    }
    refused = [name for name, given in single_only.items() if given]
    if refused:
        raise _CliError(f"with several sources, -o FOLDER and --stats are supported; not {', '.join(refused)}")
    if not args.output or args.output.suffix:
        raise _CliError("with several sources, -o names a folder (each source writes source-<n>.mp4 into it)")
    with _claim_outputs(args, specs):
        _run_sources(args, config, specs, reconnect)


def _run_sources(args: argparse.Namespace, config: RunConfig, specs: list[str], reconnect: Any) -> None:
    """Several sources through one model (outputs checked and locked by the caller)."""
    from tqdm import tqdm

    from fastsam_track.pipeline.multi import run_sources
    from fastsam_track.pipeline.outputs.files import write_text
    from fastsam_track.pipeline.outputs.render import SegmentRenderer
    from fastsam_track.pipeline.outputs.sinks import VideoFileSink
    from fastsam_track.pipeline.sources import open_source

    sources = [open_source(spec, vid_stride=config.vid_stride, reconnect=reconnect, on_event=_note) for spec in specs]
    sinks = [
        [VideoFileSink(args.output / f"source-{n}.mp4", fps=s.fps, crf=config.crf, preset=config.preset)]
        for n, s in enumerate(sources)
    ]
    segmenter = _segmenter(config, calibrate_on=sources[0], progress=not args.no_progress)
    renderer = SegmentRenderer(opacity=config.opacity, contour_thickness=config.contour_thickness)
    counts = [s.frame_count for s in sources]
    total = sum(c for c in counts if c) if all(counts) else None
    with tqdm(total=total, unit="frame", disable=args.no_progress, dynamic_ncols=True) as bar:
        stats = run_sources(sources, segmenter, sinks=sinks, renderer=renderer, on_frame=lambda *_: bar.update(1))
    if args.stats:
        write_text(args.stats, json.dumps([s.as_dict() for s in stats], indent=2) + "\n")
    for n, (spec, s) in enumerate(zip(specs, stats, strict=True)):
        print(f"source {n} ({spec}): {s.frames} frames to {args.output / f'source-{n}.mp4'} ({s.fps:.1f} fps)")


def _demo(args: argparse.Namespace) -> None:
    from fastsam_track.pipeline.outputs.files import video_format
    from fastsam_track.pipeline.outputs.sinks import VideoFileSink
    from fastsam_track.pipeline.sources.files import VideoFileSource
    from fastsam_track.synthetic import SyntheticClip

    if args.frames < 1:
        raise _CliError(f"--frames must be 1 or more, got {args.frames}")
    if args.output:
        video_format(args.output)  # before the clip is made, not after the run
    output = args.output or Path(tempfile.mkdtemp(prefix="fastsam-track-demo-")) / "demo.mp4"
    clip_path = output.with_name(output.stem + "-input.mp4")
    clip = SyntheticClip(height=360, width=640, num_shapes=8, seed=0)
    with VideoFileSink(clip_path, fps=30, crf=18) as sink:
        for index in range(args.frames):
            sink.write(clip.frame(index)[0])
    print(f"generated {args.frames} frames of synthetic video: {clip_path}")
    config = load_config(overrides={"model": "fastsam-tiny", "imgsz": 640, "conf": 0.25})
    source = VideoFileSource(clip_path)
    sinks = [VideoFileSink(output, fps=source.fps, crf=config.crf, preset=config.preset)]
    _segment_to_outputs(source, config, sinks=sinks, output=output, progress=not args.no_progress)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a usage error, with a one-line message)."""
    os.environ.setdefault("YOLO_VERBOSE", "False")
    args = _parser().parse_args(argv)
    from fastsam_track.errors import (
        ClipError,
        ExportError,
        ModelError,
        OutputError,
        PromptError,
        SegmentsCacheError,
        SinkError,
        SourceError,
        WindowError,
    )
    from fastsam_track.trackers.prompting import PromptWarning

    def show(message: Any, category: Any, *rest: Any, **kwargs: Any) -> None:
        _warn(str(message)) if issubclass(category, PromptWarning) else default_show(message, category, *rest, **kwargs)

    default_show, warnings.showwarning = warnings.showwarning, show
    # SIGTERM (a service manager, `kill`) stops the run like Ctrl-C: outputs are finalised.
    signal.signal(signal.SIGTERM, _interrupt)
    known = (
        _CliError,
        ClipError,
        ConfigError,
        ExportError,
        ModelError,
        OutputError,
        PromptError,
        SegmentsCacheError,
        SinkError,
        SourceError,
        WindowError,
    )
    try:
        _run(args) if args.command == "run" else _demo(args)
    except known as error:
        print(f"fastsam-track: error: {error}", file=sys.stderr)
        return _EXIT_USAGE
    except KeyboardInterrupt:
        print("fastsam-track: interrupted; outputs written so far are finalised", file=sys.stderr)
        return _EXIT_INTERRUPTED
    return 0


def entry() -> None:
    """The ``fastsam-track`` command: ``main``, then exit with its code.

    After an interruption every output is already finalised and closed; what is left is the
    interpreter's own teardown of torch, OpenVINO and their thread pools, over a second
    here. A stopped run skips it, so Ctrl-C gives the prompt back at once.
    """
    code = main()
    if code == _EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
