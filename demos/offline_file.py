"""Offline video file: segment everything in a clip and write the annotated MP4.

Run:  python demos/offline_file.py [clip.mp4] [out.mp4]
Without arguments it generates a synthetic clip and uses the built-in model.
"""

import sys
import tempfile
from pathlib import Path

from fastsam_track import Segmenter, SegmentRenderer, VideoFileSink, open_source, run
from fastsam_track.synthetic import SyntheticClip

folder = Path(tempfile.mkdtemp(prefix="fastsam-demo-"))
if len(sys.argv) > 1:
    clip_path, model = Path(sys.argv[1]), "FastSAM-s"
else:
    # No clip given: make 60 frames of moving textured shapes.
    clip_path, model = folder / "input.mp4", "fastsam-tiny"
    clip = SyntheticClip(height=360, width=640, seed=0)
    with VideoFileSink(clip_path, fps=30) as sink:
        for index in range(60):
            sink.write(clip.frame(index)[0])
output = Path(sys.argv[2]) if len(sys.argv) > 2 else folder / "annotated.mp4"

source = open_source(clip_path)
segmenter = Segmenter(model, imgsz=640, conf=0.25)
with VideoFileSink(output, fps=source.fps) as sink:
    stats = run(source, segmenter, renderer=SegmentRenderer(opacity=0.5), sinks=[sink])

print(f"{stats.frames} frames at {stats.fps:.1f} fps, {stats.segments / max(stats.frames, 1):.1f} segments per frame")
print(f"annotated video: {output}")
