"""The ``fastsam-track`` command: ``run`` a source through FastSAM, or ``demo`` on a generated clip."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastsam_track.configs import BACKENDS, KEYFRAME_MODES, PRECISIONS, PRESETS, RunConfig, load_config, options
from fastsam_track.errors import FastSamTrackError, UsageError, io_reason, mask_credentials
from fastsam_track.pipeline.build import Outputs, Pipeline, build
from fastsam_track.pipeline.exports.registry import OUTPUTS

if TYPE_CHECKING:
    from fastsam_track.pipeline.runner import RunStats
    from fastsam_track.types import SegmentedFrame

__all__ = ["main"]

_EXIT_FAILURE = 1
_EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastsam-track", description="Segment and track everything in video with FastSAM."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="segment a video, camera or stream; write, show, serve or push the result")
    run.add_argument("source", help="video file, folder of images, webcam number (0) or rtsp:// / http(s):// URL")
    run.add_argument("--config", help=f"YAML file or preset ({', '.join(PRESETS)}); flags override it")
    model = run.add_argument_group("model and run settings (a flag wins over --config; defaults in brackets)")
    for name, (default, text) in options().items():
        kind = {"int": int, "float": float}.get(str(RunConfig.__dataclass_fields__[name].type).split(" ")[0], str)
        choices = {"backend": BACKENDS, "precision": PRECISIONS, "keyframe": KEYFRAME_MODES}.get(name)
        shown = "none" if default is None else default
        model.add_argument(
            "--" + name.replace("_", "-"), type=kind, choices=choices, help=f"{text} [{shown}]", metavar=None
        )
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
    live = run.add_argument_group("live outputs and streams")
    live.add_argument(
        "--source",
        action="append",
        default=[],
        dest="source_more",
        metavar="SOURCE",
        help="another source, batched through the same model (repeatable); each source's outputs are then named "
        "after it inside the folders -o and --save-* name, and prompts name their source (@FRAME:SOURCE)",
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
    outputs = run.add_argument_group("files and exports")
    for output in OUTPUTS.values():
        path_type: Callable[[str], Path] = Path if output.folder else _file_path
        outputs.add_argument(*output.flags, type=path_type, metavar=output.metavar, dest=output.name, help=output.help)
    outputs.add_argument("--segments", type=Path, metavar="FILE", help="replay saved segments instead of the model")
    outputs.add_argument("--edges", action="store_true", help="draw the segments' edge map instead of the segments")

    report = commands.add_parser("report", help="an HTML page of figures from a run's --stats file")
    report.add_argument("stats", type=Path, help="the --stats JSON of a run (its .frames.jsonl beside it)")
    report.add_argument("-o", "--output", type=Path, help="HTML file to write (default: the stats file's, .html)")
    report.add_argument("--video", type=Path, help="the run's annotated video, for a contact sheet (default: none)")

    cluster = commands.add_parser(
        "cluster", help="run a fleet of cameras on Ray: a segmenter per machine, a camera actor per source"
    )
    cluster.add_argument("fleet", type=Path, help="fleet file (YAML: settings, cameras with prompts and outputs)")
    cluster.add_argument(
        "--address", help="auto (the cluster this machine is in) or ray://HOST:PORT (default: a local Ray instance)"
    )
    cluster.add_argument("--status-every", type=float, default=5.0, help="seconds between status tables (5)")
    cluster.add_argument(
        "--report",
        type=Path,
        metavar="FILE.html",
        help="write a report of the fleet at its end (each camera's fps, age and restarts over time, segmenter "
        "utilisation), from the statuses kept in FILE's .status.jsonl",
    )
    cluster.add_argument(
        "--serve",
        metavar="HOST:PORT",
        help="a web page with every camera: its state, its live frames, click prompts, and cameras added and "
        "removed (:8080); the fleet then runs until Ctrl-C, also once its files end",
    )
    cluster.add_argument(
        "--serve-token",
        metavar="TOKEN",
        help="require this token on every request (or $FASTSAM_TRACK_TOKEN); an address other than loopback "
        "gets a generated one when none is given",
    )

    demo = commands.add_parser("demo", help="segment a generated clip with the built-in model")
    demo.add_argument("-o", "--output", type=Path, help="annotated MP4 to write (default: a temporary folder)")
    demo.add_argument("--frames", type=int, default=60, help="length of the generated clip (60)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _config_from(args: argparse.Namespace) -> RunConfig:
    """The run's settings: the defaults, then ``--config``, then the flags given."""
    return load_config(args.config, {name: getattr(args, name, None) for name in options()})


def _outputs_from(args: argparse.Namespace) -> Outputs:
    """The run's outputs: every registered file output's flag, and the window, page and push."""
    files = {name: getattr(args, name) for name in OUTPUTS}
    live = {"show": args.show, "serve": args.serve, "serve_token": args.serve_token, "rtsp_out": args.rtsp_out}
    return Outputs(
        files, **live, pace=not args.no_pace, draw_edges=args.edges, replay=args.segments, overwrite=args.overwrite
    )


def _run(args: argparse.Namespace) -> None:
    from fastsam_track.pipeline.prompts.parse import load_prompts, prompts_from_cli

    outputs = _outputs_from(args)
    if not outputs.any:
        written = [kind.flags[-1] for kind in OUTPUTS.values() if kind.standalone]
        raise UsageError(f"nothing to write: give {', '.join(written)}, --show, --serve or --rtsp-out")
    config = _config_from(args)
    specs = _source_specs(args.source, args.source_more)
    prompts = load_prompts(args.prompts) if args.prompts else []
    first_free = max((p.object_id for p in prompts), default=0) + 1
    prompts += prompts_from_cli(args.point, args.box, first_object=first_free, texts=args.text)
    pipeline = build(
        config,
        specs,
        prompts,
        outputs,
        progress=not args.no_progress,
        on_event=_note,
        config_file=args.config if args.config and Path(args.config).is_file() else None,
        inputs=_listed_inputs(args, specs),
    )
    with pipeline:
        _run_pipeline(pipeline, outputs, progress=not args.no_progress)


def _listed_inputs(args: argparse.Namespace, specs: list[str]) -> dict[str, Path]:
    """Inputs the command reads besides the sources: a source list file and the prompts file."""
    named = {"source list": Path(args.source)} if len(specs) > 1 or specs[0] != args.source else {}
    if args.prompts:
        named["--prompts file"] = args.prompts
    return named


def _run_pipeline(pipeline: Pipeline, outputs: Outputs, progress: bool) -> None:
    """Run ``pipeline`` with a progress bar; write ``--stats`` and its time series, and ``--report``; say
    what each source did."""
    from tqdm import tqdm

    from fastsam_track.pipeline.outputs.files import write_text
    from fastsam_track.pipeline.timeline import Timeline, timeline_path

    report = outputs.report
    scratch = tempfile.TemporaryDirectory(prefix="fastsam-track-report-") if report and not outputs.stats else None
    stats_path = outputs.stats or (Path(scratch.name) / "stats.json" if scratch else None)

    counts = [s.frame_count for s in pipeline.sources]
    total = sum(c or 0 for c in counts) if all(counts) else None
    latest: dict[int, RunStats] = {}
    with tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True) as bar:

        def show(number: int, segmented: SegmentedFrame, stats: RunStats) -> None:
            if _STOPPING.is_set():  # an interrupt a C callback dropped: stop here, outputs finalised
                raise KeyboardInterrupt
            if not latest:
                _announce(pipeline, bar.write)
            latest[number] = stats
            bar.update(1)
            if len(pipeline.sources) == 1:
                age = stats.age_ms()
                bar.set_postfix(
                    fps=f"{stats.fps:.1f}",
                    segments=len(segmented.segments),
                    age=f"{age['median']:.0f}ms",
                    dropped=stats.dropped,
                    refresh=False,
                )

        timeline = Timeline(timeline_path(stats_path)) if stats_path is not None else None
        try:
            with timeline or contextlib.nullcontext():
                results = pipeline.run(on_frame=show, timeline=timeline)
        finally:
            if stats_path is not None and latest:  # also when the run was stopped or failed midway
                figures: Any = [
                    {"source": name, **latest[n].as_dict(), "timeline": timeline_path(stats_path).name}
                    for n, name in enumerate(pipeline.names)
                    if n in latest
                ]
                figures = figures[0] if len(pipeline.names) == 1 else figures
                write_text(stats_path, json.dumps(figures, indent=2) + "\n")
    if report is not None and stats_path is not None:
        from fastsam_track.report import write_report

        videos = [outputs.source_paths(pipeline.names, n).get("-o") for n in range(len(pipeline.names))]
        write_report(stats_path, report, videos=[v for v in videos if v is not None])
        print(f"report: {report}")
    if scratch is not None:
        scratch.cleanup()
    for source, name, stats in zip(pipeline.sources, pipeline.names, results, strict=True):
        damage = getattr(source, "damage_report", None)
        if damage is not None and (message := damage()):
            _warn(message)
        for prompt in stats.unused_prompts:
            _warn(f"object {prompt.object_id}: frame {prompt.frame} is past the last frame; the prompt was not used")
        timings = ", ".join(f"{stage} {ms:.1f}" for stage, ms in stats.mean_ms().items())
        age = stats.age_ms()
        where = f"source {name}: " if len(pipeline.names) > 1 else ""
        video = outputs.source_paths(pipeline.names, pipeline.names.index(name)).get("-o")
        print(
            f"{where}processed {stats.frames} frames{f' to {video}' if video else ''} ({stats.fps:.1f} fps; "
            f"ms per frame: {timings}; frame age median {age['median']:.0f} ms, p95 {age['p95']:.0f} ms; "
            f"{stats.dropped} dropped)"
        )


def _announce(pipeline: Pipeline, write: Any) -> None:
    """Say where the page is served (with its token), once the run is under way."""
    for server in pipeline.servers:
        write(f"serving {_with_token(server.url, server.token)}")
        if server.token_generated:
            write(
                f"  (on {server.host}, every request needs a token: this one was generated for this run; "
                "from another machine, use this machine's address with the same port and token)"
            )


def _with_token(url: str, token: str | None) -> str:
    return f"{url}?token={token}" if token else url


def _note(message: str) -> None:
    _say(f"fastsam-track: {message}")


def _say(line: str) -> None:
    """Print ``line`` on stderr on a line of its own, also while a progress bar is drawn.

    Messages come from other threads (a camera reconnecting, an RTSP push retrying) while
    the bar sits on the terminal's last line without a newline: printed plainly, a message
    would go on after the bar's text. ``tqdm.write`` clears the bar, prints, and draws it again.
    """
    from tqdm import tqdm

    tqdm.write(mask_credentials(line), file=sys.stderr)


def _warn(message: str) -> None:
    _say(f"fastsam-track: warning: {message}")


def _file_path(text: str) -> Path:
    """An output file's path as given: one that names a folder (a trailing slash, which ``Path`` drops) is refused."""
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(
            f"{text!r} names a folder: give a file name in it, e.g. {text.rstrip('/')}/out.mp4"
        )
    return Path(text)


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
        raise UsageError(f"no sources listed in {first!r}")
    return listed


def _demo(args: argparse.Namespace) -> None:
    from fastsam_track.pipeline.outputs.files import video_format
    from fastsam_track.pipeline.outputs.sinks import VideoFileSink
    from fastsam_track.synthetic import SyntheticClip

    if args.frames < 1:
        raise UsageError(f"--frames must be 1 or more, got {args.frames}")
    if args.output:
        video_format(args.output)  # before the clip is made, not after the run
    output = args.output or Path(tempfile.mkdtemp(prefix="fastsam-track-demo-")) / "demo.mp4"
    clip_path = output.with_name(output.stem + "-input.mp4")
    _check_demo_input(clip_path)
    clip = SyntheticClip(height=360, width=640, num_shapes=8, seed=0)
    with VideoFileSink(clip_path, fps=30, crf=18, comment=_DEMO_INPUT) as sink:
        for index in range(args.frames):
            sink.write(clip.frame(index)[0])
    print(f"generated {args.frames} frames of synthetic video: {clip_path}")
    config = load_config(overrides={"model": "fastsam-tiny", "imgsz": 640, "conf": 0.25})
    outputs = Outputs(video=output)
    with build(config, [str(clip_path)], outputs=outputs) as pipeline:
        _run_pipeline(pipeline, outputs, progress=not args.no_progress)


def _report(args: argparse.Namespace) -> None:
    """Write the HTML report of a run's ``--stats`` file."""
    from fastsam_track.report import write_report

    output = args.output or args.stats.with_suffix(".html")
    _check_report(output, {"stats file": args.stats, "--video": args.video})
    write_report(args.stats, output, videos=[args.video] if args.video else [])
    print(f"report: {output}")


_DEMO_INPUT = "fastsam-track demo input"  # the comment tag of the clips the demo makes, and only of those


def _check_demo_input(path: Path) -> None:
    """Refuse to replace ``path`` unless it is absent or a clip an earlier demo made (its comment tag says so)."""
    from fastsam_track.pipeline.paths import kind_of

    kind = kind_of(path)
    if kind is None:
        return
    made = False
    if kind == "a file":
        import av

        try:
            with av.open(str(path)) as container:
                made = container.metadata.get("comment") == _DEMO_INPUT
        except (OSError, av.error.FFmpegError):
            made = False
    if not made:
        raise UsageError(
            f"the demo writes its input to {str(path)!r}, which is {kind} it did not make: "
            "move it or give --output another name"
        )


def _cluster(args: argparse.Namespace) -> None:
    """Run a fleet file on Ray to its end (Ctrl-C: every camera stops, outputs finalised); status tables on stderr.
    With ``--serve``, the fleet's page is served and the fleet runs until Ctrl-C (cameras can be added from it)."""
    from fastsam_track.cluster import format_status, load_fleet

    if args.status_every <= 0:
        raise UsageError(f"--status-every must be more than 0 seconds, got {args.status_every}")
    if args.serve_token is not None and args.serve is None:
        raise UsageError("--serve-token needs --serve")
    fleet = load_fleet(args.fleet)
    if args.report is not None:
        from fastsam_track.report.cluster import status_log_path

        read: dict[str, Path | None] = {"fleet file": args.fleet}
        for camera in fleet.cameras:
            read[f"source of camera {camera.name!r}"] = None if camera.live else Path(camera.source)
            read.update({f"{key} of camera {camera.name!r}": path for key, path in camera.paths().items()})
        _check_report(args.report, read, {"its status history": status_log_path(args.report)})
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(_status_log(args.report)) if args.report else None
        keep = log.write if log is not None else (lambda status: None)

        def show(status: dict[str, Any]) -> None:
            print(format_status(status) + "\n", file=sys.stderr, flush=True)
            keep(status)

        _run_fleet(args, fleet, show, keep)


def _check_report(report: Path, read: dict[str, Path | None], written: dict[str, Path] | None = None) -> None:
    """Refuse a ``--report`` file that cannot be written or that is a file the command reads or writes."""
    from fastsam_track.pipeline.outputs.files import check_writable
    from fastsam_track.pipeline.paths import check_paths

    check_writable(report, "--report file")
    check_paths({"--report": report, **(written or {})}, {k: v for k, v in read.items() if v is not None})


@contextlib.contextmanager
def _status_log(report: Path) -> Any:
    """The fleet's status history, kept beside ``report``, and the report written from it at the end."""
    from fastsam_track.report.cluster import StatusLog, status_log_path, write_cluster_report

    with StatusLog(status_log_path(report)) as log:
        try:
            yield log
        finally:
            log.__exit__()
            write_cluster_report(log.path, report)
            print(f"report: {report}", file=sys.stderr)


def _run_fleet(args: argparse.Namespace, fleet: Any, show: Any, keep: Any) -> None:
    """Run the fleet (served, until Ctrl-C, with ``--serve``); ``show`` each status, ``keep`` the last one."""
    import time

    from fastsam_track.cluster import format_status, run_fleet, start_fleet

    if args.serve is None:
        final = run_fleet(fleet, address=args.address, on_status=show, every=args.status_every)
        keep(final)
        print(format_status(final))
        return
    folder = args.fleet.resolve().parent  # cameras added from the page: paths from the fleet file's folder
    with start_fleet(
        fleet, address=args.address, serve=args.serve, serve_token=args.serve_token, serve_folder=folder
    ) as running:
        assert running.page is not None
        print(f"serving {running.page.url}", flush=True)  # as `run --serve` says it
        if running.page.server.token_generated:
            print(
                f"  (on {running.page.server.host}, every request needs a token: this one was generated for this "
                "run; from another machine, use this machine's address with the same port and token)",
                flush=True,
            )
        while True:  # until Ctrl-C: the `with` block stops every camera, outputs finalised
            time.sleep(args.status_every)
            show(running.status())


_STOPPING = threading.Event()  # Ctrl-C or SIGTERM came: also checked once a frame (see ``_interrupt``)


def _interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C and SIGTERM: a ``KeyboardInterrupt`` now, and noted, because one raised while Python runs a
    callback from C (a library's log or thread hook) is printed and dropped; the next frame raises it again."""
    _STOPPING.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code: 0, 2 for a usage error (a bad argument, an unusable file
    given), 1 for a failure at run time (a camera lost past its reconnection limit, a full disk),
    130 after Ctrl-C or SIGTERM; errors are one line on stderr."""
    os.environ.setdefault("YOLO_VERBOSE", "False")
    args = _parser().parse_args(argv)
    from fastsam_track.pipeline.model.quantize import CalibrationWarning
    from fastsam_track.trackers.prompting import PromptWarning

    ours = (PromptWarning, CalibrationWarning)

    def show(message: Any, category: Any, *rest: Any, **kwargs: Any) -> None:
        _warn(str(message)) if issubclass(category, ours) else default_show(message, category, *rest, **kwargs)

    default_show, warnings.showwarning = warnings.showwarning, show
    # SIGTERM (a service manager, `kill`) stops the run like Ctrl-C: outputs are finalised. Both are
    # given back on return: a caller in Python (a test, a notebook) keeps its own.
    _STOPPING.clear()
    default_term = signal.signal(signal.SIGTERM, _interrupt)
    default_int = signal.signal(signal.SIGINT, _interrupt) if _main_thread() else None
    try:
        {"run": _run, "cluster": _cluster, "demo": _demo, "report": _report}[args.command](args)
    except FastSamTrackError as error:
        print(mask_credentials(f"fastsam-track: error: {error}"), file=sys.stderr)
        return error.exit_code
    except OSError as error:  # a write that failed midway: a full disk, a file size limit, a device gone
        from fastsam_track.pipeline.outputs.files import output_of

        where = f" {str(output_of(error.filename))!r}" if error.filename else ""  # the user's name, not a staged one
        message = f"fastsam-track: error: input/output failed{where}: {io_reason(error)}"
        print(mask_credentials(message), file=sys.stderr)
        return _EXIT_FAILURE
    except KeyboardInterrupt:
        print("fastsam-track: interrupted; outputs written so far are finalised", file=sys.stderr)
        return _EXIT_INTERRUPTED
    finally:
        warnings.showwarning = default_show
        signal.signal(signal.SIGTERM, default_term)
        if default_int is not None:
            signal.signal(signal.SIGINT, default_int)
    return 0


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def entry() -> None:
    """The ``fastsam-track`` command: ``main``, then exit with its code.

    When ``main`` returns every output is finalised and closed (and a cluster's Ray shut down);
    what is left is the interpreter's own teardown of torch, OpenVINO and their thread pools.
    It is skipped: it takes over a second, Ctrl-C should give the prompt back at once, and
    OpenVINO's telemetry (openvino-telemetry 2025.2, sent by its converter and NNCF after an
    int8 export) forks a sender from a worker thread that the teardown then waits for forever
    (a run that had written everything never exited).
    """
    try:
        code = main()
    except KeyboardInterrupt:  # pressed again while main returned: every output is already finalised
        code = _EXIT_INTERRUPTED
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
