"""Webcam live demo: segment everything the camera sees, click objects to follow them.

Run:  python demos/webcam_live.py [camera number] [--serve]
A window opens (left click: follow an object, right click: background point, drag: box,
c: clear, space: pause, q: quit). With --serve, or without a display, the page at the
printed address shows the same stream and takes the same clicks. FASTSAM_MODEL=fastsam-tiny
picks the built-in model.
"""

import os
import sys

from fastsam_track import (
    FrameProcessor,
    ObjectTracker,
    PromptInbox,
    Segmenter,
    SegmentTracker,
    SourceError,
    WebServer,
    WindowError,
    WindowSink,
    open_source,
    run,
)

camera = next((arg for arg in sys.argv[1:] if arg.isdigit()), "0")
try:
    source = open_source(camera)
except SourceError as error:  # no such camera: one line, not a traceback
    sys.exit(f"webcam_live: {error}")

# A smaller input than for files: the webcam preset's imgsz 480 keeps the frame rate up on a CPU.
segmenter = Segmenter(os.environ.get("FASTSAM_MODEL", "FastSAM-s"), imgsz=480, conf=0.4, max_det=100)
inbox = PromptInbox()  # where clicks go; the frame loop takes them on its next frame

try:
    output = WebServer("127.0.0.1", 8080, inbox) if "--serve" in sys.argv else WindowSink(inbox)
except WindowError:
    output = WebServer("127.0.0.1", 8080, inbox)
if isinstance(output, WebServer):
    print("open http://127.0.0.1:8080/ and click an object")

# Only the newest camera frame is segmented: older ones are dropped, so the picture stays current.
stats = run(
    source, segmenter, FrameProcessor(tracker=SegmentTracker(), objects=ObjectTracker(), inbox=inbox), sinks=[output]
)
age = stats.age_ms()
print(f"{stats.frames} frames at {stats.fps:.1f} fps; frame age median {age['median']:.0f} ms; {stats.dropped} dropped")
