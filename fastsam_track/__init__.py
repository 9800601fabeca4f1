"""fastsam-track: FastSAM everything-mode on video, with tracked segments and prompted objects.

The public API, each name also importable from its own module:

    >>> from fastsam_track import Segmenter, SegmentTracker, ObjectTracker, run, open_source
"""

from fastsam_track.edges import edge_map
from fastsam_track.pipeline.batching import BatchedSegmenter
from fastsam_track.pipeline.clip_text import ClipEmbedder
from fastsam_track.pipeline.exports import DavisMaskWriter, EdgeWriter, MotsWriter, ProposalWriter
from fastsam_track.pipeline.interactive import PromptInbox
from fastsam_track.pipeline.live import Reconnect, StreamSource, WebcamSource
from fastsam_track.pipeline.multi import run_sources
from fastsam_track.pipeline.render import SegmentRenderer
from fastsam_track.pipeline.runner import RunStats, StopRun, run
from fastsam_track.pipeline.segmenter import Segmenter
from fastsam_track.pipeline.segments_cache import SegmentsReplay, SegmentsWriter
from fastsam_track.pipeline.sinks import RtspSink, VideoFileSink
from fastsam_track.pipeline.sources import open_source
from fastsam_track.pipeline.text_prompts import TextPrompter
from fastsam_track.pipeline.web import WebServer
from fastsam_track.pipeline.window import WindowSink
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, Frame, MaskPrompt, PointPrompt, RemovePrompt, SegmentedFrame, TextPrompt

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
