"""fastsam-track: FastSAM everything-mode on video, with tracked segments and prompted objects.

The public API, each name also importable from its own module. The loop of your own:

    >>> from fastsam_track import PointPrompt, track
    >>> # for result in track("clip.mp4", [PointPrompt(0, 1, [[320, 180]])]):
    >>> #     print(result.frame.index, result.objects.tracker_id)

and the parts it is made of (``build`` puts them together from a ``RunConfig``):

    >>> from fastsam_track import Segmenter, SegmentTracker, ObjectTracker, FrameProcessor, run, open_source
"""

from importlib.metadata import PackageNotFoundError, version

from fastsam_track.api import track
from fastsam_track.configs import RunConfig, load_config
from fastsam_track.edges import edge_map
from fastsam_track.errors import (
    ClipError,
    ConfigError,
    ExportError,
    FastSamTrackError,
    ModelError,
    OutputError,
    PromptError,
    RunFailure,
    SegmentsCacheError,
    SinkError,
    SourceError,
    SourceLost,
    UsageError,
    WindowError,
)
from fastsam_track.pipeline.build import Outputs, Pipeline, build
from fastsam_track.pipeline.exports.segments import SegmentsReplay, SegmentsWriter
from fastsam_track.pipeline.exports.writers import DavisMaskWriter, EdgeWriter, MotsWriter, ProposalWriter
from fastsam_track.pipeline.model.batching import BatchedSegmenter
from fastsam_track.pipeline.model.clip import ClipEmbedder
from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.outputs.render import SegmentRenderer
from fastsam_track.pipeline.outputs.sinks import RtspSink, VideoFileSink
from fastsam_track.pipeline.outputs.web import WebServer
from fastsam_track.pipeline.outputs.window import WindowSink
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.prompts.inbox import PromptInbox
from fastsam_track.pipeline.prompts.text import TextPrompter
from fastsam_track.pipeline.runner import RunStats, frames_through, run, run_sources
from fastsam_track.pipeline.sources import Reconnect, StreamSource, WebcamSource, open_source
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import (
    BoxPrompt,
    Frame,
    MaskPrompt,
    PointPrompt,
    RemovePrompt,
    SegmentedFrame,
    StopRun,
    TextPrompt,
)

try:
    __version__ = version("fastsam-track")
except PackageNotFoundError:  # run from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "BatchedSegmenter",
    "BoxPrompt",
    "ClipEmbedder",
    "ClipError",
    "ConfigError",
    "DavisMaskWriter",
    "EdgeWriter",
    "ExportError",
    "FastSamTrackError",
    "Frame",
    "FrameProcessor",
    "MaskPrompt",
    "ModelError",
    "MotsWriter",
    "ObjectTracker",
    "OutputError",
    "Outputs",
    "Pipeline",
    "PointPrompt",
    "PromptError",
    "PromptInbox",
    "ProposalWriter",
    "Reconnect",
    "RemovePrompt",
    "RtspSink",
    "RunConfig",
    "RunFailure",
    "RunStats",
    "SegmentRenderer",
    "SegmentTracker",
    "SegmentedFrame",
    "Segmenter",
    "SegmentsCacheError",
    "SegmentsReplay",
    "SegmentsWriter",
    "SinkError",
    "SourceError",
    "SourceLost",
    "StopRun",
    "StreamSource",
    "TextPrompt",
    "TextPrompter",
    "UsageError",
    "VideoFileSink",
    "WebServer",
    "WebcamSource",
    "WindowError",
    "WindowSink",
    "__version__",
    "build",
    "edge_map",
    "frames_through",
    "load_config",
    "open_source",
    "run",
    "run_sources",
    "track",
]
