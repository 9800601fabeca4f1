"""A run's settings to a ready pipeline: its sources, the model, a processor per source, the outputs.

``build(config, sources, prompts, outputs)`` is the one place a run is put together, for the
CLI and for Python users alike. Everything that can be checked is checked before a model
loads: the outputs (not an input, not one another, writable, not being written by another
run, which they are then locked against), the prompts (inside their source's frame, ids an
8-bit mask holds when masks are saved). With several sources, each source gets a processor,
exports and outputs of its own, named after it (``source_names``); they share one model that
batches their frames.

Example:
    >>> outputs = Outputs(video=Path("out.mp4"))
    >>> outputs.paths(["a"])
    {'-o': PosixPath('out.mp4')}
    >>> Outputs(video=Path("out"), save_masks=Path("masks")).paths(["a", "b"])["--save-masks (b)"]
    PosixPath('masks/b')
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastsam_track.configs import RunConfig
from fastsam_track.errors import UsageError
from fastsam_track.pipeline.exports.registry import OUTPUTS, OutputKind, WriterContext
from fastsam_track.pipeline.keyframes import Keyframes
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.runner import Exporter, FrameSink, LoopOptions, RunStats, frames_through, run, run_sources
from fastsam_track.pipeline.timeline import Timeline
from fastsam_track.types import Frame, Prompt, SegmentedFrame, TextPrompt

if TYPE_CHECKING:
    import numpy as np
    import supervision as sv

    from fastsam_track.pipeline.exports.segments import SegmentsReplay
    from fastsam_track.pipeline.model.clip import ClipEmbedder
    from fastsam_track.pipeline.model.protocol import Segment
    from fastsam_track.pipeline.model.segmenter import Segmenter
    from fastsam_track.pipeline.outputs.files import OutputLocks
    from fastsam_track.pipeline.outputs.render import SegmentRenderer
    from fastsam_track.pipeline.outputs.web import WebServer
    from fastsam_track.pipeline.prompts.inbox import PromptInbox
    from fastsam_track.pipeline.sources.base import Source

    SegmentFunction = Segment | Callable[[np.ndarray], sv.Detections]
    """A frame's segments: a segmenter (the model, a cluster's remote one), or a function of the image."""

__all__ = ["Outputs", "Pipeline", "build", "make_segmenter", "source_names"]


@dataclass(frozen=True, init=False)
class Outputs:
    """What a run writes, shows, serves and pushes.

    The files and folders are those of the output registry (``exports.registry.OUTPUTS``), each
    given by its name: ``video``, ``stats``, ``save_segments``, ``save_masks``, ``save_tracks``,
    ``save_edges``, ``save_proposals``, ... (a ``Path``, or None for none), read back as attributes
    (``outputs.video``) and held in ``files``. With several sources every path but ``stats`` names a
    folder, and each source writes its own file or folder in it, named after the source:
    ``video/<name>.mp4``, ``save_masks/<name>/``, ``save_tracks/<name>.txt`` (see ``paths``);
    ``rtsp_out`` gets ``/<name>`` appended.

    Attributes:
        files: each output's path, by its registry name (only those given).
        show: a window per source, taking clicks.
        serve: ``HOST:PORT`` of a web page with every source, taking clicks.
        serve_token: the token the page requires (None: one is generated for an address other than loopback).
        pace: with ``serve``, files play at their own frame rate (False: as fast as the model goes).
        rtsp_out: an ``rtsp://`` URL to push the annotated stream to.
        draw_edges: draw the edge map instead of the segments.
        replay: segments saved by ``save_segments`` to use instead of the model (with several
            sources, a folder of ``<name>.jsonl``).
        overwrite: go on past another run's lock and empty used frame folders.
        live_prompts: prompts also come while the video plays from the caller (a cluster's
            controller), through each processor's ``inbox``.
        fragmented: write the video as a live recording is written (a fragmented MP4 that plays
            up to its last fragment if the process is killed), also for a file source.

    Raises:
        TypeError: a keyword that is neither an attribute nor a registered output.
    """

    files: Mapping[str, Path]
    show: bool = False
    serve: str | None = None
    serve_token: str | None = None
    pace: bool = True
    rtsp_out: str | None = None
    draw_edges: bool = False
    replay: Path | None = None
    overwrite: bool = False
    live_prompts: bool = False
    fragmented: bool = False

    def __init__(self, files: Mapping[str, str | Path | None] | None = None, **values: Any):
        given = {**(files or {}), **{k: v for k, v in values.items() if k in OUTPUTS}}
        settings = {k: v for k, v in values.items() if k not in OUTPUTS}
        for setting in dataclasses.fields(self):
            if setting.name != "files":
                object.__setattr__(self, setting.name, settings.pop(setting.name, setting.default))
        unknown = sorted(settings) + sorted(set(given) - set(OUTPUTS))
        if unknown:
            valid = ", ".join([*OUTPUTS, *(f.name for f in dataclasses.fields(self) if f.name != "files")])
            raise TypeError(f"Outputs() got an unknown keyword {unknown[0]!r}; valid: {valid}")
        # in the registry's order, so paths are checked and named in one order
        paths = {name: Path(given[name]) for name in OUTPUTS if given.get(name) is not None}
        object.__setattr__(self, "files", paths)

    def __getattr__(self, name: str) -> Path | None:
        """A registered output's path (None when it is not written)."""
        if name.startswith("_") or name not in OUTPUTS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.__dict__.get("files", {}).get(name)

    def chosen(self) -> list[tuple[OutputKind, Path]]:
        """The outputs written, with their paths (as given: folders with several sources)."""
        return [(OUTPUTS[name], path) for name, path in self.files.items()]

    @property
    def any(self) -> bool:
        """Whether the run writes, shows, serves or pushes anything (the command needs it to)."""
        written = any(kind.standalone for kind, _ in self.chosen())
        return written or self.show or self.serve is not None or self.rtsp_out is not None

    @property
    def edges(self) -> bool:
        """Whether each frame's edge map is computed (drawn or saved)."""
        return self.draw_edges or any(kind.edges for kind, _ in self.chosen())

    @property
    def max_object_id(self) -> int | None:
        """The largest object id every output can hold (None: no limit)."""
        limits = [kind.max_object_id for kind, _ in self.chosen() if kind.max_object_id is not None]
        return min(limits, default=None)

    def paced(self, live: bool) -> bool:
        """Whether a source's frames go at its own rate: a file (or folder) served to a page, unless ``pace``
        is off. Cameras and streams come in real time already; a run without a page goes as fast as it can.

        Example:
            >>> Outputs(serve=":8080").paced(live=False), Outputs(serve=":8080").paced(live=True)
            (True, False)
        """
        return self.serve is not None and self.pace and not live

    @property
    def interactive(self) -> bool:
        """Whether prompts can come while the video plays (a window, a page, the caller)."""
        return self.show or self.serve is not None or self.live_prompts

    def entries(self, names: Sequence[str]) -> list[tuple[str, OutputKind, Path]]:
        """Every file and folder the run writes: (the option that names it, and with several sources the
        source, e.g. ``--save-masks (b)``; its kind; its path)."""
        found: list[tuple[str, OutputKind, Path]] = []
        for kind, path in self.chosen():
            if len(names) == 1 or not kind.per_source:
                found.append((kind.option, kind, path))
            else:
                suffix = kind.suffixes[0] if kind.suffixes and not kind.folder else ""
                found += [(f"{kind.option} ({name})", kind, path / f"{name}{suffix}") for name in names]
        return found

    def paths(self, names: Sequence[str]) -> dict[str, Path]:
        """Every path the run writes, by the option (and, with several sources, the source) that names it."""
        return {label: path for label, _, path in self.entries(names)}

    def source_entries(self, names: Sequence[str], number: int) -> list[tuple[str, OutputKind, Path]]:
        """The files and folders source ``number`` writes, by option (the run's own, ``--stats``, left out)."""
        tail = f" ({names[number]})" if len(names) > 1 else ""
        return [
            (label[: len(label) - len(tail)], kind, path)
            for label, kind, path in self.entries(names)
            if kind.per_source and label.endswith(tail)
        ]

    def source_paths(self, names: Sequence[str], number: int) -> dict[str, Path]:
        """The paths source ``number`` writes, by option (``--stats`` is the run's)."""
        return {label: path for label, _, path in self.source_entries(names, number)}


def source_names(specs: Sequence[str]) -> list[str]:
    """A short name for each source, unique in the run: a file's or folder's stem, a stream's last path
    part or host, ``webcam<N>``; letters, digits, ``.``, ``_`` and ``-`` only; repeats get ``-2``, ``-3``.

    Example:
        >>> source_names(["clips/a.mp4", "rtsp://user:pw@cam:8554/yard", "0", "b/a.mp4"])
        ['a', 'yard', 'webcam0', 'a-2']
    """
    from urllib.parse import urlsplit

    names: list[str] = []
    for spec in specs:
        if spec.isascii() and spec.isdigit():
            name = f"webcam{spec}"
        elif "://" in spec:
            url = urlsplit(spec)
            name = url.path.rstrip("/").rsplit("/", 1)[-1] or (url.hostname or "stream")
        else:
            name = Path(spec.rstrip("/")).stem or "source"
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "source"
        unique, count = name, 1
        while unique in names:
            count += 1
            unique = f"{name}-{count}"
        names.append(unique)
    return names


@dataclass
class Pipeline:
    """A run put together, ready to go: ``run()`` once, then ``close()`` (or use it as a context manager).

    Attributes:
        names: each source's name (``source_names``).
        sources: the opened sources.
        frames: what each source's frame loop iterates (the source, or its replay's frames).
        segment: the model shared by every source, or one segments replay per source.
        processors: each source's ``FrameProcessor``.
        sinks: each source's annotated-frame outputs.
        exports: each source's exports (the registered outputs' writers that take ``SegmentedFrame``s).
        keyframes: each source's keyframe policy (None: every frame goes through the network).
        renderer: draws every source's frames.
        outputs: what the run writes and shows.
        servers: the web page, when one is served (its URL and token: ``url``, ``token``).
    """

    names: list[str]
    sources: list[Source]
    frames: list[Iterable[Frame]]
    segment: SegmentFunction | list[SegmentsReplay]
    processors: list[FrameProcessor]
    sinks: list[list[FrameSink]]
    exports: list[list[Exporter]]
    keyframes: list[Keyframes | None]
    renderer: SegmentRenderer
    outputs: Outputs = field(default_factory=Outputs)
    servers: list[WebServer] = field(default_factory=list)
    _locks: OutputLocks | None = None

    def run(
        self,
        on_frame: Callable[[int, SegmentedFrame, RunStats], None] | None = None,
        stop: threading.Event | None = None,
        timeline: Timeline | None = None,
    ) -> list[RunStats]:
        """Run every source to its end (or a stop); each source's ``RunStats``.

        Args:
            on_frame: ``on_frame(source number, segmented, stats)`` after each frame; it may raise
                ``StopRun`` to end the run normally.
            stop: a ``threading.Event`` that ends every source's loop normally (several sources).
            timeline: an open ``Timeline`` that gets a line per frame out (a ``source`` name in each
                with several sources).
        """
        several = len(self.sources) > 1
        logs = [
            timeline.source(name if several else None, source) if timeline else None
            for name, source in zip(self.names, self.sources, strict=True)
        ]
        if not several:
            each = (lambda s, st: on_frame(0, s, st)) if on_frame is not None else None
            segment, options = self._loop()
            options["timeline"] = logs[0]
            return [run(self.frames[0], segment, self.processors[0], on_frame=each, **options)]
        return run_sources(
            self.frames,
            self.segment,
            self.processors,
            sinks=self.sinks,
            exports=self.exports,
            keyframes=self.keyframes,
            renderer=self.renderer,
            on_frame=on_frame,
            stop=stop,
            pace=self.outputs.paced(live=False),  # and each live source is not paced
            timelines=logs,
        )

    def stream(self, stats: RunStats | None = None) -> Generator[SegmentedFrame, None, None]:
        """The one source's frames as they are processed, in a loop of the caller's (``frames_through``):
        leaving it stops the run and finalises the outputs."""
        if len(self.sources) != 1:
            raise UsageError(f"stream() follows one source; this pipeline has {len(self.sources)}: use run()")
        segment, options = self._loop()
        return frames_through(self.frames[0], segment, self.processors[0], stats=stats, **options)

    def _loop(self) -> tuple[SegmentFunction, LoopOptions]:
        """The one source's segmenter and frame-loop options."""
        live = self.sources[0].live
        options: LoopOptions = {
            "renderer": self.renderer,
            "sinks": self.sinks[0],
            "exports": self.exports[0],
            "keyframes": self.keyframes[0],
            "live": live,
            "pace": self.outputs.paced(live),
        }
        return (self.segment[0] if isinstance(self.segment, list) else self.segment), options

    def close(self) -> None:
        """Release the outputs' locks (the outputs themselves are finalised by ``run``)."""
        if self._locks is not None:
            self._locks.release()
            self._locks = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build(
    config: RunConfig,
    sources: Sequence[str | Path] | str | Path,
    prompts: Sequence[Prompt] = (),
    outputs: Outputs | None = None,
    *,
    progress: bool = False,
    on_event: Callable[[str], None] | None = None,
    sinks: Sequence[Sequence[FrameSink]] | None = None,
    config_file: str | Path | None = None,
    inputs: dict[str, Path] | None = None,
    segment: SegmentFunction | None = None,
) -> Pipeline:
    """Put a run together: open the sources, check and lock the outputs, load the model, make each
    source's processor, exports and sinks.

    Args:
        config: model and run settings.
        sources: file, folder, webcam number or stream URL of each source (or one of them).
        prompts: point, box, text and remove prompts; with several sources, each names its
            source (``Prompt.source``), except text and remove prompts, which go to every source.
        outputs: what the run writes and shows (None: nothing but what ``sinks`` takes).
        progress: show progress while an int8 model is calibrated.
        on_event: told, one line each, when a camera or stream is lost and back, or an RTSP push retries.
        sinks: more annotated-frame outputs of each source (the Python API's own).
        config_file: the YAML file the config came from (an input: no output may overwrite it).
        inputs: other files the caller read, by what they are (a prompts file, a list of sources):
            no output may overwrite them either.
        segment: the segments of a frame, instead of a model loaded here (a cluster's segmenter actor).

    Raises:
        FastSamTrackError: a bad source, prompt, output or model, before anything is written.
    """
    from fastsam_track.pipeline.prompts.parse import check_in_frame, check_object_ids, split_by_source
    from fastsam_track.pipeline.sources import Reconnect, is_stream_url, open_source
    from fastsam_track.pipeline.sources.files import status

    specs = [str(sources)] if isinstance(sources, (str, Path)) else [str(s) for s in sources]
    if not specs:
        raise UsageError("no sources given")
    outputs = outputs if outputs is not None else Outputs()
    names = source_names(specs)
    by_source = split_by_source(list(prompts), names)
    for kind, path in outputs.chosen():
        if kind.needs_prompts and not (any(by_source) or outputs.interactive):
            raise UsageError(
                f"{kind.option} writes prompted objects: give --point, --box, --text, --prompts, --show or --serve"
            )
        if len(specs) > 1 and kind.per_source and not kind.folder and path.suffix.lower() in kind.suffixes:
            raise UsageError(
                f"with several sources, {kind.option} names a folder (each source writes <name>{kind.suffixes[0]} "
                f"into it), got {path}"
            )
    for source_prompts in by_source:
        check_object_ids(source_prompts, maximum=outputs.max_object_id)
    if config.calibration is not None:
        from fastsam_track.pipeline.model.quantize import check_calibration_path

        check_calibration_path(config.calibration)  # before a source opens or a model loads
    for spec in specs:  # a missing file before any output folder is made (a source list's entry too)
        if not (is_stream_url(spec) or (spec.isascii() and spec.isdigit())):
            status(Path(spec))  # not found, or behind a folder without permission: said as such
    locks = _claim(outputs, names, specs, config, {**(inputs or {}), "--config file": config_file})
    try:
        reconnect = Reconnect(limit=config.reconnect_limit or None)
        opened = [open_source(s, vid_stride=config.vid_stride, reconnect=reconnect, on_event=on_event) for s in specs]
        for source, source_prompts in zip(opened, by_source, strict=True):
            check_in_frame(source_prompts, source.size)
        pipeline = _assemble(config, names, opened, by_source, outputs, progress, on_event, sinks, segment)
    except BaseException:
        locks.release()
        raise
    pipeline._locks = locks
    return pipeline


def _assemble(
    config: RunConfig,
    names: list[str],
    opened: list[Source],
    by_source: list[list[Prompt]],
    outputs: Outputs,
    progress: bool,
    on_event: Callable[[str], None] | None,
    extra_sinks: Sequence[Sequence[FrameSink]] | None,
    given_segment: SegmentFunction | None,
) -> Pipeline:
    from fastsam_track.pipeline.outputs.render import SegmentRenderer
    from fastsam_track.pipeline.prompts.inbox import PromptInbox

    inboxes = [
        PromptInbox(
            first_object=max((p.object_id for p in prompts), default=0) + 1,
            # ids of clicked objects stay within what a mask PNG holds, as the prompts' ids are checked to
            max_id=outputs.max_object_id,
            reserved={p.object_id for p in prompts},
        )
        if outputs.interactive
        else None
        for prompts in by_source
    ]
    # Sinks before the model: a bad address or no display is said before a model loads or exports.
    sinks, servers = _sinks(config, outputs, names, opened, inboxes, on_event)
    for n, more in enumerate(extra_sinks or ()):
        sinks[n] += list(more)
    # CLIP before the segmenter: missing weights are said before a model loads.
    wants_text = any(isinstance(p, TextPrompt) for prompts in by_source for p in prompts)
    embedder = _clip(config) if wants_text else None
    keyframes = [Keyframes.from_config(config.keyframe_every, config.keyframe) for _ in names]
    processors = [
        _processor(config, prompts, inboxes[n], embedder, outputs.edges, keyframes[n])
        for n, prompts in enumerate(by_source)
    ]
    exports = [_writers(outputs, names, n, source, config, sink=False) for n, source in enumerate(opened)]
    # The model last: everything a user can get wrong is said before it loads (and exports).
    frames: list[Iterable[Frame]] = list(opened)
    segment: SegmentFunction | list[SegmentsReplay]
    if outputs.replay is not None:
        replays = [_replay(outputs.replay, names, n, s, config) for n, s in enumerate(opened)]
        frames = [replay.follow(source) for replay, source in zip(replays, opened, strict=True)]
        segment = replays
    elif given_segment is not None:
        segment = given_segment
    else:
        segmenter = make_segmenter(config, opened[0], progress)
        for size in {s.size for s in opened}:
            segmenter.prepare((size[1], size[0]))  # an export happens now, before a window or page opens
        segment = segmenter
    renderer = SegmentRenderer(
        opacity=config.opacity, contour_thickness=config.contour_thickness, edges=outputs.draw_edges
    )
    return Pipeline(
        names=names,
        sources=opened,
        frames=frames,
        segment=segment,
        processors=processors,
        sinks=sinks,
        exports=exports,
        keyframes=keyframes,
        renderer=renderer,
        outputs=outputs,
        servers=servers,
    )


def _processor(
    config: RunConfig,
    prompts: list[Prompt],
    inbox: PromptInbox | None,
    embedder: ClipEmbedder | None,
    edges: bool,
    keyframes: Keyframes | None,
) -> FrameProcessor:
    """One source's processor: trackers, its prompts and inbox, CLIP; the flow its keyframe policy needs."""
    from fastsam_track.pipeline.prompts.text import TextPrompter
    from fastsam_track.trackers.objects import ObjectTracker
    from fastsam_track.trackers.segment_tracker import SegmentTracker

    text = None
    if embedder is not None and any(isinstance(p, TextPrompt) for p in prompts):
        text = TextPrompter(embedder, retry_every=config.text_retry_every, retry_limit=config.text_retry_limit)
    return FrameProcessor(
        tracker=SegmentTracker(),
        objects=ObjectTracker(config.tracker, smooth=config.smooth) if prompts or inbox is not None else None,
        prompts=prompts,
        text=text,
        inbox=inbox,
        edges=edges,
        carry=keyframes is not None,
        residual=keyframes is not None and keyframes.auto,
    )


def _sinks(
    config: RunConfig,
    outputs: Outputs,
    names: list[str],
    opened: list[Source],
    inboxes: list[PromptInbox | None],
    on_event: Callable[[str], None] | None,
) -> tuple[list[list[FrameSink]], list[WebServer]]:
    """Each source's annotated-frame outputs (file, window, page, RTSP push), and the page's server."""
    from fastsam_track.pipeline.outputs.sinks import RtspSink
    from fastsam_track.pipeline.outputs.web import WebServer, parse_address
    from fastsam_track.pipeline.outputs.window import WindowSink

    several = len(names) > 1
    sinks: list[list[FrameSink]] = [[] for _ in names]
    servers: list[WebServer] = []
    if outputs.serve is not None:
        try:
            host, port = parse_address(outputs.serve)
        except ValueError as error:
            raise UsageError(str(error)) from None
        # Without a token, an address other than loopback gets a generated one (WebServer), printed with the URL.
        token = outputs.serve_token or os.environ.get("FASTSAM_TRACK_TOKEN") or None
        server = WebServer(host, port, token=token, sources=list(zip(names, inboxes, strict=True)))
        servers.append(server)
    for n, (name, source) in enumerate(zip(names, opened, strict=True)):
        sinks[n] += _writers(outputs, names, n, source, config, sink=True)
        if outputs.show:
            sinks[n].append(WindowSink(inboxes[n], title=f"fastsam-track: {name}" if several else "fastsam-track"))
        if servers:
            sinks[n].append(servers[0].sink(n).follow(source))
        if outputs.rtsp_out is not None:
            url = f"{outputs.rtsp_out.rstrip('/')}/{name}" if several else outputs.rtsp_out
            sinks[n].append(RtspSink(url, fps=source.fps, on_event=on_event))
    return sinks, servers


def _claim(
    outputs: Outputs, names: list[str], specs: list[str], config: RunConfig, read: Mapping[str, str | Path | None]
) -> OutputLocks:
    """Check every output before anything loads, and lock it for this run; the locks to hold while it runs.

    An output must not be an input or another output; file outputs must be writable (a
    video also needs a container for H.264); frame folders must be empty. A second run on
    the same output is refused (``overwrite``: it goes on, and empties the frame folders).
    """
    from fastsam_track.pipeline.outputs.files import (
        OutputLocks,
        check_frame_folder,
        check_writable,
        check_writable_folder,
        remove_stale,
    )
    from fastsam_track.pipeline.paths import check_paths

    paths = outputs.paths(names)
    inputs: dict[str, Path | None] = {
        ("source" if len(specs) == 1 else f"source {n}"): Path(s) for n, s in enumerate(specs)
    }
    inputs.update({"--segments": outputs.replay, **{k: Path(v) for k, v in read.items() if v is not None}})
    inputs["--model file"] = Path(config.model)
    inputs["--calibration"] = Path(config.calibration) if config.calibration is not None else None
    entries = outputs.entries(names)
    folders = {label: path for label, kind, path in entries if kind.folder}
    # os.path.exists: False, not an error, for a path behind a folder this user cannot enter
    check_paths(paths, {k: v for k, v in inputs.items() if v is not None and os.path.exists(v)}, folders)
    for label, kind, path in entries:
        if kind.folder:
            check_writable_folder(path, kind.called(label))
        else:
            check_writable(path, kind.called(label))
        if kind.check is not None:
            kind.check(path)
    # A frame folder being written by another run is refused even with --overwrite: two writers would mix.
    locks = OutputLocks([p for k, p in paths.items() if k not in folders], overwrite=outputs.overwrite)
    try:
        locks.add(folders.values(), overwrite=False)
        remove_stale(paths.values(), folders.values())  # what killed runs left half-written
        for label, kind, path in entries:
            if kind.folder:
                check_frame_folder(path, f"{label} folder", outputs.overwrite)
    except BaseException:
        locks.release()
        raise
    return locks


def _writers(
    outputs: Outputs, names: list[str], number: int, source: Source, config: RunConfig, sink: bool
) -> list[Any]:  # Exporter or (sink) FrameSink: the registry, a layer below, makes them
    """Source ``number``'s writers of the registered outputs: its exports, or (``sink``) its annotated-frame files."""
    context = WriterContext(source, config, outputs.fragmented)
    return [
        kind.make(path, context)
        for _, kind, path in outputs.source_entries(names, number)
        if kind.make is not None and kind.sink == sink
    ]


def _replay(path: Path, names: list[str], number: int, source: Source, config: RunConfig) -> SegmentsReplay:
    """Source ``number``'s segments replay: ``path`` itself, or with several sources ``path/<name>.jsonl``."""
    from fastsam_track.pipeline.exports.segments import CachedSource, SegmentsReplay

    file = path if len(names) == 1 else path / f"{names[number]}.jsonl"
    return SegmentsReplay(file, CachedSource.of(source, config.vid_stride))


def make_segmenter(config: RunConfig, calibrate_on: Source | None = None, progress: bool = False) -> Segmenter:
    """The segmenter ``config`` asks for; with int8, calibrated on ``config.calibration`` or else the
    first frames of ``calibrate_on`` (the run's first source; None: ``config.calibration`` is needed)."""
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
        precision=config.precision,
        calibration=calibration,
    )


def _clip(config: RunConfig) -> ClipEmbedder:
    from fastsam_track.pipeline.model.clip import ClipEmbedder
    from fastsam_track.pipeline.model.segmenter import select_device

    device, _ = select_device(config.device)
    return ClipEmbedder(config.clip_model, config.clip_pretrained, device=device)
