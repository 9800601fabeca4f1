"""Every file a run can write, declared once: ``OUTPUTS``, one ``OutputKind`` an output.

An entry says what the output is called (``Outputs``' attribute, the CLI's flags, the fleet
file's key), whether it is a file or a folder of frame PNGs, its suffixes, whether it needs
prompted objects, and the factory that makes its writer. Everything else is derived from it:
``Outputs`` and each source's file names with several sources (``pipeline.build``), the
checks and locks before a run (``build._claim``), the ``run`` command's flags and help
(``cli``), the fleet file's keys (``cluster.fleet``) and how a killed cluster camera's files
are put in place (``cluster.workers``). A new export is a writer and one entry here.

Example:
    >>> OUTPUTS["save_tracks"].option, OUTPUTS["save_tracks"].suffixes, OUTPUTS["save_masks"].folder
    ('--save-tracks', ('.txt',), True)
    >>> list(FLEET_KEYS)[:3]
    ['output', 'save_segments', 'save_masks']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastsam_track.pipeline.outputs.files import VIDEO_FORMATS, video_format

if TYPE_CHECKING:
    from fastsam_track.configs import RunConfig
    from fastsam_track.pipeline.sources.base import Source

__all__ = ["FLEET_KEYS", "OUTPUTS", "OutputKind", "WriterContext"]


@dataclass(frozen=True)
class WriterContext:
    """What a writer's factory may need besides its path: the source it writes and the run's settings.

    Attributes:
        source: the opened source (its ``size``, ``fps``, ``frame_count``).
        config: the run's settings.
        fragmented: a video is written as a live recording is (``Outputs.fragmented``).
    """

    source: Source
    config: RunConfig
    fragmented: bool = False


@dataclass(frozen=True)
class OutputKind:
    """One output a run can write.

    Attributes:
        name: ``Outputs``' attribute and the CLI's argument name (``save_masks``).
        flags: the ``run`` command's flags; the first names the output in messages (``--save-masks``).
        help: the flag's help.
        make: ``make(path, context)``: the writer of one source's file or folder, a context manager
            whose ``write`` takes each ``SegmentedFrame`` (an export) or, with ``sink``, each annotated
            frame; None: the caller writes it (the run's figures, from its ``RunStats``).
        folder: a folder of per-frame PNGs (else a file).
        suffixes: the file's suffixes; the first names each source's file with several sources.
        sink: its writer takes annotated (H, W, 3) uint8 BGR frames (a ``FrameSink``), not ``SegmentedFrame``s.
        needs_prompts: it writes prompted objects: a run without prompts (or a page or window to give
            them) has nothing to write in it.
        max_object_id: the largest object id it can hold (prompts and clicks are kept within it).
        edges: it needs each frame's edge map.
        per_source: each source writes its own (with several sources the path names a folder);
            False: one for the run.
        standalone: enough on its own to be worth a run (the run's figures are not).
        fleet_key: its key in a fleet file's camera (None: not a camera's output).
        rescue: how a killed cluster camera's staged file is put in place: ``whole`` (a fragmented
            video plays to its last fragment), ``lines`` (cut after its last whole line); None: nothing staged.
        what: what it is called in messages (None: ``<flag> file`` or ``<flag> folder``).
        check: raises ``FastSamTrackError`` for a path it cannot write (the video's container), before a run.
    """

    name: str
    flags: tuple[str, ...]
    help: str
    make: Callable[[Path, WriterContext], Any] | None
    folder: bool = False
    suffixes: tuple[str, ...] = ()
    sink: bool = False
    needs_prompts: bool = False
    max_object_id: int | None = None
    edges: bool = False
    per_source: bool = True
    standalone: bool = True
    fleet_key: str | None = None
    rescue: Literal["whole", "lines"] | None = None
    what: str | None = None
    check: Callable[[Path], object] | None = None

    @property
    def option(self) -> str:
        """The flag that names it in messages (``-o``, ``--save-masks``)."""
        return self.flags[0]

    @property
    def metavar(self) -> str:
        return "DIR" if self.folder else "FILE"

    def called(self, label: str) -> str:
        """What it is called in messages, ``label`` its option (with the source's name, with several)."""
        return self.what or f"{label} {'folder' if self.folder else 'file'}"


def _video(path: Path, context: WriterContext) -> Any:
    from fastsam_track.pipeline.outputs.sinks import VideoFileSink

    # a live source's recording is fragmented and stamped with capture times by the run
    live = True if context.fragmented else None  # None: as the source
    config = context.config
    return VideoFileSink(path, fps=context.source.fps, crf=config.crf, preset=config.preset, live=live)


def _segments(path: Path, context: WriterContext) -> Any:
    from fastsam_track.pipeline.exports.segments import CachedSource, SegmentsWriter

    return SegmentsWriter(path, CachedSource.of(context.source, context.config.vid_stride))


def _masks(path: Path, context: WriterContext) -> Any:
    from fastsam_track.pipeline.exports.writers import DavisMaskWriter

    return DavisMaskWriter(path)


def _tracks(path: Path, context: WriterContext) -> Any:
    from fastsam_track.pipeline.exports.writers import MotsWriter

    return MotsWriter(path)


def _edges(path: Path, context: WriterContext) -> Any:
    from fastsam_track.pipeline.exports.writers import EdgeWriter

    return EdgeWriter(path)


def _csv(path: Path, context: WriterContext) -> Any:
    from fastsam_track.pipeline.exports.csv_rows import CsvWriter

    return CsvWriter(path)


def _proposals(path: Path, context: WriterContext) -> Any:
    from fastsam_track.pipeline.exports.writers import ProposalWriter

    return ProposalWriter(path)


_KINDS = (
    OutputKind(
        "video",
        ("-o", "--output"),
        "annotated H.264 video to write",
        _video,
        suffixes=tuple(VIDEO_FORMATS),
        sink=True,
        fleet_key="output",
        rescue="whole",
        what="video",
        check=video_format,
    ),
    OutputKind(
        "stats",
        ("--stats",),
        "write run figures (fps, stage ms, frame age) as JSON, and a line per frame in FILE's .frames.jsonl",
        make=None,
        suffixes=(".json",),
        per_source=False,
        standalone=False,
    ),
    OutputKind(
        "report",
        ("--report",),
        "write an HTML report of the run (figures over time) at its end",
        make=None,
        suffixes=(".html",),
        per_source=False,
        standalone=False,
    ),
    OutputKind(
        "save_segments",
        ("--save-segments",),
        "write everything-mode segments (JSON lines)",
        _segments,
        suffixes=(".jsonl",),
        fleet_key="save_segments",
        rescue="lines",
    ),
    OutputKind(
        "save_masks",
        ("--save-masks",),
        "DAVIS-style PNG per frame of prompted objects",
        _masks,
        folder=True,
        needs_prompts=True,
        max_object_id=255,  # an 8-bit PNG
        fleet_key="save_masks",
        what="mask folder",
    ),
    OutputKind(
        "save_tracks",
        ("--save-tracks",),
        "everything-mode tracks in MOTS text format",
        _tracks,
        suffixes=(".txt",),
        fleet_key="save_tracks",
        rescue="lines",
    ),
    OutputKind(
        "save_edges",
        ("--save-edges",),
        "write the edge map of each frame as PNG",
        _edges,
        folder=True,
        edges=True,
        fleet_key="save_edges",
        what="edge folder",
    ),
    OutputKind(
        "save_proposals",
        ("--save-proposals",),
        "write object proposals (boxes, scores) as JSON lines",
        _proposals,
        suffixes=(".jsonl",),
        fleet_key="save_proposals",
        rescue="lines",
    ),
    OutputKind(
        "save_csv",
        ("--save-csv",),
        "write each frame's objects and segments (id, kind, state, box, area, score) as CSV rows",
        _csv,
        suffixes=(".csv",),
        fleet_key="save_csv",
        rescue="lines",
    ),
)

OUTPUTS: dict[str, OutputKind] = {kind.name: kind for kind in _KINDS}
"""Every output, by name, in the order their paths are checked."""

FLEET_KEYS: dict[str, OutputKind] = {kind.fleet_key: kind for kind in _KINDS if kind.fleet_key is not None}
"""The outputs a fleet file's camera may name, by key."""
