"""fastsam-track: FastSAM everything-mode on video, with tracked segments and prompted objects.

The public API, each name also importable from its own module:

    >>> from fastsam_track import Segmenter, SegmentTracker, ObjectTracker, run, open_source
"""

from fastsam_track.edges import edge_map
from fastsam_track.pipeline.exports.segments import SegmentsReplay, SegmentsWriter
from fastsam_track.pipeline.exports.writers import DavisMaskWriter, EdgeWriter, MotsWriter, ProposalWriter
from fastsam_track.pipeline.model.batching import BatchedSegmenter
from fastsam_track.pipeline.model.clip import ClipEmbedder
from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.multi import run_sources
from fastsam_track.pipeline.outputs.render import SegmentRenderer
from fastsam_track.pipeline.outputs.sinks import RtspSink, VideoFileSink
from fastsam_track.pipeline.outputs.web import WebServer
from fastsam_track.pipeline.outputs.window import WindowSink
from fastsam_track.pipeline.prompts.inbox import PromptInbox
from fastsam_track.pipeline.prompts.text import TextPrompter
from fastsam_track.pipeline.runner import RunStats, run
from fastsam_track.pipeline.sources import open_source
from fastsam_track.pipeline.sources.live import Reconnect, StreamSource, WebcamSource
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

__all__ = [
    "BatchedSegmenter",
    "BoxPrompt",
    "ClipEmbedder",
    "DavisMaskWriter",
    "EdgeWriter",
    "Frame",
    "MaskPrompt",
    "MotsWriter",
    "ObjectTracker",
    "PointPrompt",
    "PromptInbox",
    "ProposalWriter",
    "Reconnect",
    "RemovePrompt",
    "RtspSink",
    "RunStats",
    "SegmentRenderer",
    "SegmentTracker",
    "SegmentedFrame",
    "Segmenter",
    "SegmentsReplay",
    "SegmentsWriter",
    "StopRun",
    "StreamSource",
    "TextPrompt",
    "TextPrompter",
    "VideoFileSink",
    "WebServer",
    "WebcamSource",
    "WindowSink",
    "edge_map",
    "open_source",
    "run",
    "run_sources",
]
