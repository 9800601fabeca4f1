"""fastsam-track: FastSAM everything-mode on video, with tracked segments and prompted objects.

The public API, each name also importable from its own module:

    >>> from fastsam_track import Segmenter, SegmentTracker, ObjectTracker, run, open_source
"""

from fastsam_track.pipeline.exports import DavisMaskWriter, MotsWriter
from fastsam_track.pipeline.render import SegmentRenderer
from fastsam_track.pipeline.runner import RunStats, run
from fastsam_track.pipeline.segmenter import Segmenter
from fastsam_track.pipeline.segments_cache import SegmentsReplay, SegmentsWriter
from fastsam_track.pipeline.sinks import VideoFileSink
from fastsam_track.pipeline.sources import open_source
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, Frame, PointPrompt, RemovePrompt, SegmentedFrame

__all__ = [
    "BoxPrompt",
    "DavisMaskWriter",
    "Frame",
    "MotsWriter",
    "ObjectTracker",
    "PointPrompt",
    "RemovePrompt",
    "RunStats",
    "SegmentRenderer",
    "SegmentTracker",
    "SegmentedFrame",
    "Segmenter",
    "SegmentsReplay",
    "SegmentsWriter",
    "VideoFileSink",
    "open_source",
    "run",
]
