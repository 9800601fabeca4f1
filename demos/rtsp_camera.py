"""RTSP camera: follow an object on a network camera, survive drop-outs, push the result on.

Run:  python demos/rtsp_camera.py rtsp://user:pass@camera/stream X1,Y1,X2,Y2 [rtsp://server/out]
(FASTSAM_MODEL=fastsam-tiny picks the built-in model; DEMO_OUTPUT the MP4's path.)
The box selects the object on the first frame. The camera is read over TCP with timeouts;
when it drops, stalls or restarts, the source reconnects with back-off and the tracks go
on. The annotated stream goes to an MP4 and, when a third URL is given, to an RTSP server.
A line every 25 frames says how far it got.
The MP4 is recorded like the command line's: written under a hidden name and renamed into
place at the end, locked against a second run, each frame at its capture time, in fragments
that play even if the process is killed outright.
"""

import os
import sys

import numpy as np

from fastsam_track import (
    BoxPrompt,
    FrameProcessor,
    ObjectTracker,
    OutputError,
    Reconnect,
    RtspSink,
    Segmenter,
    SegmentTracker,
    SinkError,
    StreamSource,
    VideoFileSink,
    run,
)
from fastsam_track.pipeline.outputs.files import OutputLocks

url, box = sys.argv[1], np.array([float(v) for v in sys.argv[2].split(",")])

# Reconnect forever, backing off up to 5 s between attempts; print each loss and return.
source = StreamSource(url, reconnect=Reconnect(limit=None), on_event=print)
# The output is checked and locked before the model loads: a second run on it stops here, in one line.
output = os.environ.get("DEMO_OUTPUT", "rtsp_camera.mp4")
try:
    sinks = [VideoFileSink(output, fps=source.fps, preset="ultrafast")]
    lock = OutputLocks([output])
except (OutputError, SinkError) as error:
    sys.exit(f"rtsp_camera: {error}")
if len(sys.argv) > 3:
    sinks.append(RtspSink(sys.argv[3], fps=source.fps, on_event=print))

segmenter = Segmenter(os.environ.get("FASTSAM_MODEL", "FastSAM-s"), imgsz=480, conf=0.5, max_det=100)
width, height = source.size
segmenter.prepare((height, width))  # an exported model is made now (seconds), before the outputs open


def progress(segmented, stats):
    if stats.frames % 25 == 0:
        print(f"{stats.frames} frames, {stats.fps:.1f} fps", flush=True)


try:
    stats = run(
        source,
        segmenter,
        FrameProcessor(
            tracker=SegmentTracker(), objects=ObjectTracker(), prompts=[BoxPrompt(frame=0, object_id=1, box=box)]
        ),
        sinks=sinks,
        on_frame=progress,
    )
except KeyboardInterrupt:  # Ctrl-C: the MP4 is already finalised
    print("stopped")
else:
    print(f"{stats.frames} frames, {stats.dropped} stale frames dropped, {source.reconnects} reconnections")
finally:
    lock.release()
