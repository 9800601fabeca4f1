"""Several sources in one run: every frame of each reaches its own output, frames share network passes."""

import threading

import av
import numpy as np
import pytest
import supervision as sv

from fastsam_track.pipeline.model.batching import BatchedSegmenter
from fastsam_track.pipeline.outputs.sinks import VideoFileSink
from fastsam_track.pipeline.runner import run_sources
from fastsam_track.pipeline.sources import open_source
from tests.conftest import write_clip


class _Counting:
    """A segmenter's ``segment_batch`` that records the batch sizes it is given."""

    def __init__(self, segmenter):
        self.segmenter, self.batches = segmenter, []

    def segment_batch(self, images):
        self.batches.append(len(images))
        return self.segmenter.segment_batch(images)


def _frames(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_three_sources_of_two_sizes_share_the_model(segmenter, tmp_path):
    clips = [
        write_clip(tmp_path / "a.mp4", frames=20, height=180, width=320, seed=1),
        write_clip(tmp_path / "b.mp4", frames=12, height=180, width=320, seed=2),
        write_clip(tmp_path / "c.mp4", frames=8, height=120, width=160, seed=3),
    ]
    model = _Counting(segmenter)
    outputs = [tmp_path / f"out-{n}.mp4" for n in range(3)]
    stats = run_sources([open_source(c) for c in clips], model, sinks=[[VideoFileSink(o, fps=25)] for o in outputs])
    assert [s.frames for s in stats] == [20, 12, 8]
    assert [_frames(o) for o in outputs] == [20, 12, 8]
    assert sum(model.batches) == 40 and max(model.batches) == 2  # the two 320x180 sources share passes
    assert len(model.batches) < 40


def test_an_error_in_one_source_ends_the_run_and_is_raised(segmenter, tmp_path):
    clip = write_clip(tmp_path / "a.mp4", frames=30, height=180, width=320)

    class Broken:
        live, fps, size, frame_count = False, 25, (320, 180), None

        def __iter__(self):
            yield from list(open_source(clip))[:3]
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        run_sources([open_source(clip), Broken()], segmenter, sinks=[[], []])


def test_a_stream_that_leaves_does_not_hold_the_others_up():
    class Slow:
        def segment_batch(self, images):
            return [sv.Detections.empty() for _ in images]

    with BatchedSegmenter(Slow(), streams=2, wait_ms=10_000) as shared:
        first, second = shared.client(), shared.client()
        second.done()  # this stream ended before sending anything
        result = []
        thread = threading.Thread(target=lambda: result.append(first(np.zeros((4, 4, 3), np.uint8))))
        thread.start()
        thread.join(timeout=5)
    assert result, "the model waited for a stream that had left"
