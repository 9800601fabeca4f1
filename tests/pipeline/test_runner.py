import threading
import time

import av
import numpy as np
import pytest
import supervision as sv

from fastsam_track.pipeline.outputs.sinks import VideoFileSink
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.runner import run
from fastsam_track.pipeline.sources import open_source
from fastsam_track.types import Frame, SegmentedFrame
from tests.support.waiting import CEILING


def _frames_in(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _one_square(image):
    mask = np.zeros((1, image.shape[0] // 8, image.shape[1] // 8), bool)
    mask[0, 2:6, 2:6] = True
    return sv.Detections(xyxy=np.array([[16, 16, 48, 48]], np.float32), mask=mask, confidence=np.ones(1, np.float32))


def test_every_frame_reaches_the_sink(clip_path, segmenter, tmp_path):
    seen = []
    with VideoFileSink(tmp_path / "out.mp4", fps=25) as sink:
        stats = run(open_source(clip_path), segmenter, sinks=[sink], on_frame=lambda s, _: seen.append(s))
    assert stats.frames == 12 == _frames_in(tmp_path / "out.mp4")
    assert [s.frame.index for s in seen] == list(range(12))
    assert stats.segments == sum(len(s.segments) for s in seen)
    assert set(stats.mean_ms()) == {"decode", "segment", "track", "render", "encode"}


def test_a_failing_segmenter_leaves_a_playable_file(clip_path, tmp_path):
    calls = []

    def failing(image):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("model crashed")
        return _one_square(image)

    with pytest.raises(RuntimeError, match="model crashed"):
        run(open_source(clip_path), failing, sinks=[VideoFileSink(tmp_path / "out.mp4", fps=25)])
    assert _frames_in(tmp_path / "out.mp4") == 5


def test_a_failing_source_stops_the_run_and_closes_sinks(tmp_path):
    def frames():
        for index in range(3):
            yield Frame(index, np.zeros((64, 64, 3), np.uint8), index / 25)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        run(frames(), _one_square, sinks=[VideoFileSink(tmp_path / "out.mp4", fps=25)])
    assert _frames_in(tmp_path / "out.mp4") == 3


def test_empty_source():
    stats = run(iter(()), _one_square)
    assert stats.frames == 0 and stats.fps == 0.0


def test_the_tracker_gives_ids_from_the_first_frame(clip_path, segmenter):
    from fastsam_track.trackers.segment_tracker import SegmentTracker

    seen = []
    run(
        open_source(clip_path),
        segmenter,
        FrameProcessor(tracker=SegmentTracker()),
        on_frame=lambda s, _: seen.append(s.segments),
    )
    assert all(s.tracker_id is not None and len(s.tracker_id) == len(s) for s in seen)


class _Camera:
    """A live source faster than the model: 200 frames, ``burst`` of them for each model pass.

    The camera and the model take turns by events, not by times: the camera sends a burst,
    then waits for the model to start a pass; the model's pass lasts until the next burst is
    out. ``newest`` is the index of the newest frame sent.
    """

    live = True

    def __init__(self, burst: int = 5):
        self.burst, self.newest, self.passes = burst, -1, 0
        self._turn = threading.Condition()

    def __iter__(self):
        for index in range(200):
            if index % self.burst == 0:
                burst = index // self.burst
                with self._turn:  # a burst per model pass
                    assert self._turn.wait_for(lambda b=burst: self.passes >= b, CEILING)
            with self._turn:
                self.newest = index
                self._turn.notify_all()
            yield Frame(index, np.full((64, 64, 3), index, np.uint8), index / 400)
        with self._turn:
            self.newest = 200  # the end: no pass waits for another burst
            self._turn.notify_all()

    def model(self, taken: list[tuple[int, int]]):
        """A segment function that records (frame index, newest frame sent) as each pass starts."""

        def segment(image):
            with self._turn:
                taken.append((int(image[0, 0, 0]), self.newest))
                self.passes += 1
                self._turn.notify_all()
                # the pass lasts until the camera has sent the next burst, all of it
                last = min((self.passes + 1) * self.burst - 1, 199)
                assert self._turn.wait_for(lambda: self.newest >= last, CEILING)
            return _one_square(image)

        return segment


def test_a_live_source_keeps_only_the_newest_frame_so_age_stays_bounded():
    camera, taken, seen = _Camera(), [], []
    stats = run(camera, camera.model(taken), on_frame=lambda s, _: seen.append(s.frame.index))
    assert stats.dropped > 100 and stats.frames + stats.dropped == 200
    assert seen == sorted(seen)  # newest first never reorders frames
    # Each pass takes the newest frame (or the one before it, being handed over): a frame's age
    # stays within a pass, whatever the run length, on any machine.
    assert all(newest - index <= 1 for index, newest in taken[1:]), taken


class _Paced:
    """A live source faster than the model: 200 frames at 400 fps."""

    live = True

    def __iter__(self):
        for index in range(200):
            time.sleep(0.0025)
            yield Frame(index, np.zeros((64, 64, 3), np.uint8), index / 400)


def _slow_square(image):
    time.sleep(0.02)  # a 50 fps model behind a 400 fps camera
    return _one_square(image)


def test_the_same_source_as_a_file_processes_every_frame_and_falls_behind():
    stats = run(_Paced(), _slow_square, live=False)
    assert stats.frames == 200 and stats.dropped == 0
    # Not live: the 4 queued frames wait for the model, each about 4 passes old when it is segmented.
    assert stats.age_ms()["median"] > 60
    assert set(stats.as_dict()) >= {"fps", "dropped", "stage_ms_per_frame", "frame_age_ms"}


def test_masks_are_assembled_on_the_tracking_thread_beside_the_next_network_pass(clip_path, segmenter):
    """A segmenter's ``infer`` runs on the model's thread; the masks it leaves for later, on the caller's."""
    threads: dict[str, set[str]] = {"network": set(), "masks": set()}
    infer = segmenter.infer

    class Recording:
        def __call__(self, image):  # the frame loop must not use this: it has infer
            raise AssertionError("the frame loop segmented in one part")

        def infer(self, image):
            threads["network"].add(threading.current_thread().name)
            assemble = infer(image)

            def masks():
                threads["masks"].add(threading.current_thread().name)
                return assemble()

            return masks

    seen = []
    stats = run(open_source(clip_path), Recording(), on_frame=lambda s, _: seen.append(len(s.segments)))
    assert stats.frames == 12 and sum(seen) > 0
    assert threads == {"network": {"segment"}, "masks": {threading.current_thread().name}}


class _Recorder:
    """An export that records the frames it gets and whether it was closed."""

    def __init__(self):
        self.frames, self.closed = [], False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True

    def write(self, segmented):
        self.frames.append(segmented.frame.index)


def _ctrl_c_at(index):
    """An ``on_frame`` that acts as a Ctrl-C arriving while frame ``index`` is out."""

    def on_frame(segmented, stats):
        if segmented.frame.index == index:
            raise KeyboardInterrupt

    return on_frame


def test_a_stop_does_not_wait_for_the_model_pass_in_progress(tmp_path):
    release, passed = threading.Event(), threading.Event()

    def slow_after_three(image, calls=[]):  # noqa: B006 - counts the calls
        calls.append(1)
        if len(calls) > 3:
            release.wait(CEILING)  # a long pass (a big model on a CPU) whose frame nobody wants any more
            passed.set()
        return _one_square(image)

    frames = (Frame(i, np.zeros((64, 64, 3), np.uint8), i / 25) for i in range(50))
    recorder, on_frame = _Recorder(), _ctrl_c_at(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(
                frames,
                slow_after_three,
                exports=[recorder],
                sinks=[VideoFileSink(tmp_path / "out.mp4", fps=25)],
                on_frame=on_frame,
            )
        # The run is over and its outputs finalised while the pass is still going (it ends only on release).
        still_in_pass = not passed.is_set()
    finally:
        release.set()
    assert still_in_pass
    assert recorder.closed and recorder.frames == [0, 1, 2] and _frames_in(tmp_path / "out.mp4") == 3


def test_a_stop_does_not_wait_for_a_frozen_camera(tmp_path):
    release, thawed = threading.Event(), threading.Event()

    class Frozen:
        live = True

        def __iter__(self):
            for index in range(3):
                yield Frame(index, np.zeros((64, 64, 3), np.uint8), index / 25)
            release.wait(CEILING)  # the camera stops sending; its read has no timeout yet
            thawed.set()

    recorder, on_frame = _Recorder(), _ctrl_c_at(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(Frozen(), _one_square, exports=[recorder], on_frame=on_frame)
        still_frozen = not thawed.is_set()  # the run ended while the camera's read was still blocked
    finally:
        release.set()
    assert still_frozen
    assert recorder.closed and recorder.frames[-1] == 2  # older frames of a live source may be dropped


@pytest.mark.parametrize(
    ("live", "fragmented"),
    [
        (True, True),  # a camera or stream: capture times, fragments
        (False, False),  # a file: its own frame times (not the nominal rate), one index at the end
    ],
)
def test_the_run_makes_a_recording_of_a_live_source_a_live_recording(tmp_path, live, fragmented):
    # Whoever runs it (one source, several, the RTSP demo), a VideoFileSink left at live=None
    # records a live source the one way: fragmented, each frame at its capture time.
    def camera():
        for index in range(5):
            time.sleep(0.1)  # a camera's pace: the newest frame is still taken (the others are dropped)
            yield Frame(index, np.full((64, 96, 3), 40 * index, np.uint8), float(index))  # a frame a second

    path = tmp_path / "cam.mp4"
    run(camera(), lambda image: sv.Detections.empty(), sinks=[VideoFileSink(path, fps=25)], live=live)
    with av.open(str(path)) as container:
        times = [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]
    assert len(times) >= 2
    steps = np.diff(times)
    if live:  # capture times: steps of whole seconds, whichever frames were kept
        assert np.allclose(steps, np.round(steps), atol=0.002) and (steps >= 1).all(), times
    else:  # every frame, at its own time (a variable rate stays variable)
        assert np.allclose(times, range(5)), times
    assert (b"moof" in path.read_bytes()) is fragmented


def test_every_segmenter_is_a_two_phase_segment(segmenter, tmp_path):
    """The model, a batch's client and a segments replay all give the runner ``infer`` (``Segment``)."""
    from fastsam_track.pipeline.exports.segments import SegmentsReplay, SegmentsWriter
    from fastsam_track.pipeline.model.batching import BatchedSegmenter
    from fastsam_track.pipeline.model.protocol import Segment

    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 16:48] = 255
    with BatchedSegmenter(segmenter, streams=1) as batched:
        client = batched.client()
        assert isinstance(client, Segment) and len(client.infer(image)()) == len(segmenter.infer(image)())
        client.done()
    with SegmentsWriter(tmp_path / "s.jsonl") as writer:
        writer.write(SegmentedFrame(Frame(0, image, 0.0), _one_square(image)))
    replay = SegmentsReplay(tmp_path / "s.jsonl")
    assert isinstance(segmenter, Segment) and isinstance(replay, Segment)
    assert replay.infer(image)().xyxy.tolist() == _one_square(image).xyxy.tolist()
    assert not isinstance(_one_square, Segment)  # a plain function: all its work in the first phase
