"""Keyframes: the network runs on some frames; the others carry segments and objects by the optical flow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from fastsam_track.cli import main
from fastsam_track.pipeline.keyframes import AutoParams, Keyframes
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.runner import run
from fastsam_track.pipeline.sources import open_source
from fastsam_track.trackers.flow import FrameCues, FrameFlow
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import OBJECT_STATE, PROPAGATED, Frame, ObjectState, PointPrompt, SegmentedFrame


def _scene(x: int) -> tuple[Frame, sv.Detections]:
    """A textured 16x16 square at column ``x`` of a 64x128 frame, and its segment on a 16x32 grid."""
    rng = np.random.default_rng(1)
    image = np.full((64, 128, 3), 40, np.uint8)
    image[24:40, x : x + 16] = rng.integers(120, 255, (16, 16, 3), dtype=np.uint8)
    masks = np.zeros((1, 16, 32), bool)
    masks[0, 6:10, x // 4 : x // 4 + 4] = True
    return Frame(x, image, x / 25), sv.Detections(xyxy=sv.mask_to_xyxy(masks).astype(np.float32) * 4, mask=masks)


def test_a_frame_without_segments_carries_the_last_ones_and_the_objects() -> None:
    processor = FrameProcessor(
        tracker=SegmentTracker(),
        objects=ObjectTracker(),
        prompts=[PointPrompt(0, 5, np.array([[40.0, 32.0]]), np.array([1]))],
    )
    frame, segments = _scene(32)
    first = processor.process(frame, segments)
    assert first.objects is not None and first.objects.tracker_id.tolist() == [5]
    moved, _ = _scene(40)  # the square moved 8 pixels (2 cells) right; the network did not see it
    carried = processor.process(moved, None)
    assert carried.segments.tracker_id.tolist() == first.segments.tracker_id.tolist()
    assert carried.segments.data[PROPAGATED].tolist() == [True]
    cols = np.flatnonzero(carried.segments.mask[0].any(0))
    assert cols.min() == 10 and cols.max() == 13  # moved with the square, not left where it was
    assert carried.objects is not None and carried.objects.tracker_id.tolist() == [5]
    assert carried.objects.data[PROPAGATED].tolist() == [True]
    assert np.flatnonzero(carried.objects.mask[0].any(0)).min() == 10
    # the next keyframe confirms the object again
    again = processor.process(*_scene(48))
    assert again.objects is not None and not again.objects.data[PROPAGATED].any()


@pytest.mark.parametrize("every", [1, 2, 3])
def test_the_network_runs_on_keyframes_only_and_every_frame_is_written(clip_path: Path, every: int) -> None:
    calls = []

    def segment(image: np.ndarray) -> sv.Detections:
        calls.append(1)
        _, segments = _scene(32)
        return segments

    written = []
    processor = FrameProcessor(tracker=SegmentTracker(), carry=True)
    policy = Keyframes.from_config(every, "every")
    stats = run(
        open_source(str(clip_path)), segment, processor, keyframes=policy, on_frame=lambda s, _: written.append(s)
    )
    assert len(written) == stats.frames == 12
    assert len(calls) == stats.keyframes == -(-12 // every)
    carried = [bool(np.all(s.segments.data.get(PROPAGATED, False))) for s in written]
    assert carried == [i % every != 0 for i in range(12)]


class _AsksAt(Keyframes):
    """Every 100th frame, and a keyframe asked for once frame ``at`` is processed (as ``auto`` asks)."""

    def __init__(self, at: int):
        super().__init__(every=100, auto=True)
        self.at, self.seen = at, 0

    def observe(
        self, keyframe: bool, cues: FrameCues | None, objects: sv.Detections | None, index: int | None = None
    ) -> None:
        if self.seen == self.at:
            self.ask(index)
        self.seen += 1


def test_a_keyframe_asked_for_lands_on_the_next_frame_though_the_model_thread_passed_it(clip_path: Path) -> None:
    """The model's thread decides a frame or two ahead of tracking: a keyframe the policy asks for on frame 3
    is still frame 4's (run on the tracking thread), not frame 5's or 6's; the network sees frames in order."""
    seen: list[float] = []

    def segment(image: np.ndarray) -> sv.Detections:
        seen.append(float(image.mean()))
        _, segments = _scene(32)
        return segments

    written: list[SegmentedFrame] = []
    policy = _AsksAt(3)
    stats = run(
        open_source(str(clip_path)),
        segment,
        FrameProcessor(tracker=SegmentTracker(), carry=True, residual=True),
        keyframes=policy,
        on_frame=lambda s, _: written.append(s),
    )
    keyframes = [not bool(np.all(s.segments.data.get(PROPAGATED, False))) for s in written]
    assert keyframes == [i in (0, 4) for i in range(12)]
    assert len(seen) == stats.keyframes == policy.count == 2
    means = [float(s.frame.image.mean()) for s in written]
    assert seen == [means[0], means[4]]  # frame 0, then frame 4: in frame order


def test_auto_asks_for_a_keyframe_when_the_flow_fails_on_an_object_or_it_is_unconfirmed() -> None:
    keys = Keyframes(every=8, auto=True, residual=10.0)
    assert keys.due() and not keys.due()
    flow, colors = np.zeros((4, 4, 2), np.float32), np.zeros((4, 4), int)
    explained = FrameCues(flow, colors, np.full((4, 4), 3.0, np.float32))
    keys.observe(False, explained, None)
    assert not keys.due()
    failed_at_corner = np.full((4, 4), 3.0, np.float32)
    failed_at_corner[:2, :2] = 40.0  # the flow does not explain a quarter of the frame: mean 12.25
    keys.observe(False, FrameCues(flow, colors, failed_at_corner), None)
    assert keys.due()  # without objects, the frame's mean counts
    elsewhere = sv.Detections(xyxy=np.zeros((1, 4), np.float32), mask=np.zeros((1, 4, 4), bool))
    elsewhere.mask[0, 2:, 2:] = True  # the object is where the flow holds
    keys.observe(False, FrameCues(flow, colors, failed_at_corner), elsewhere)
    assert not keys.due()
    there = sv.Detections(xyxy=np.zeros((1, 4), np.float32), mask=np.zeros((1, 4, 4), bool))
    there.mask[0, :2, :2] = True
    keys.observe(False, FrameCues(flow, colors, failed_at_corner), there)
    assert keys.due()  # on the object: carrying it further would drift
    unconfirmed = sv.Detections(
        xyxy=np.zeros((1, 4), np.float32), mask=np.ones((1, 4, 4), bool), data={PROPAGATED: np.array([True])}
    )
    keys.observe(True, explained, unconfirmed)  # a keyframe left the object to the flow: look again next frame
    assert keys.due()
    assert [keys.due() for _ in range(8)] == [False] * 7 + [True]  # at least every 8 frames
    assert Keyframes.from_config(None, "auto").every == 4 and Keyframes.from_config(None, "every") is None


def _object(mask: np.ndarray, state: ObjectState) -> sv.Detections:
    """One prompted object with its (h, w) mask and state."""
    return sv.Detections(
        xyxy=np.zeros((1, 4), np.float32), mask=mask[None], data={OBJECT_STATE: np.array([state], np.int8)}
    )


def test_auto_reads_the_residual_around_a_mask_that_slid_off_its_object() -> None:
    """A carried mask that slid onto background the flow explains, beside the object the flow fails on."""
    keys = Keyframes(every=8, auto=True, params=AutoParams(residual=10.0, ring=0.5, fast=10.0))
    assert keys.due() and not keys.due()
    flow, colors = np.zeros((16, 16, 2), np.float32), np.zeros((16, 16), int)
    residual = np.full((16, 16), 2.0, np.float32)
    residual[4:8, 8:12] = 60.0  # the object the flow fails on, just right of the carried mask
    slid = np.zeros((16, 16), bool)
    slid[4:8, 4:8] = True  # the carried mask: on road the flow explains (mean 2)
    keys.observe(False, FrameCues(flow, colors, residual), _object(slid, ObjectState.CARRIED))
    assert keys.due()
    far = np.zeros((16, 16), bool)
    far[10:14, 0:4] = True  # an object with nothing failing around it
    keys.observe(False, FrameCues(flow, colors, residual), _object(far, ObjectState.CARRIED))
    assert not keys.due()


def test_auto_asks_for_a_keyframe_while_an_object_is_not_confirmed() -> None:
    keys = Keyframes(every=8, auto=True)
    assert keys.due() and not keys.due()
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    cues = FrameCues(np.zeros((16, 16, 2), np.float32), np.zeros((16, 16), int), np.zeros((16, 16), np.float32))
    keys.observe(False, cues, _object(mask, ObjectState.CARRIED))  # between keyframes, carried: as expected
    assert not keys.due()
    for state in (ObjectState.SEARCHING, ObjectState.TRIAL):
        keys.observe(False, cues, _object(mask, state))  # searched for, or on trial: look again
        assert keys.due()
    keys.observe(True, cues, _object(mask, ObjectState.CARRIED))  # a keyframe did not confirm it
    assert keys.due()
    keys.observe(True, cues, _object(mask, ObjectState.SEEN))
    assert not keys.due()


def test_auto_shortens_the_interval_while_an_object_moves_fast_for_its_size() -> None:
    keys = Keyframes(every=8, auto=True, params=AutoParams(fast=0.25, fast_every=2))
    assert keys.due()
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True  # 4 cells wide
    still = FrameCues(np.zeros((16, 16, 2), np.float32), np.zeros((16, 16), int), np.zeros((16, 16), np.float32))
    fast_flow = np.zeros((16, 16, 2), np.float32)
    fast_flow[..., 0] = 2.0  # 2 cells a frame: half its width
    fast = FrameCues(fast_flow, still.colors, still.residual)
    sent = [True]
    for index in range(1, 13):  # the tracking thread observes frame index - 1, then frame index is decided
        state = ObjectState.SEEN if sent[-1] else ObjectState.CARRIED
        keys.observe(sent[-1], fast if index < 5 else still, _object(mask, state))
        sent.append(keys.due())
    sent = sent[1:]
    assert sent == [False, True, False, True, False] + [False] * 6 + [True]


def test_the_flow_gives_its_residual_when_asked() -> None:
    frame, _ = _scene(32)
    moved, _ = _scene(40)
    flow = FrameFlow(residual=True)
    assert flow.update(frame.image, (16, 32)).residual is None  # no last frame yet
    cues = flow.update(moved.image, (16, 32))
    assert cues.residual is not None and cues.residual.shape == (16, 32)
    assert cues.residual.mean() < 5  # a moving square: the flow explains it
    cues = flow.update(np.full_like(moved.image, 200), (16, 32))  # the scene changed: nothing explains it
    assert cues.residual is not None and cues.residual.mean() > 100
    plain = FrameFlow()
    plain.update(frame.image, (16, 32))
    assert plain.update(moved.image, (16, 32)).residual is None  # not asked for: not computed


def test_the_command_runs_with_keyframes_and_counts_them(clip_path: Path, tmp_path: Path) -> None:
    args = ["run", str(clip_path), "-o", str(tmp_path / "out.mp4"), "--model", "fastsam-tiny", "--imgsz", "320"]
    assert main([*args, "--keyframe-every", "3", "--stats", str(tmp_path / "s.json"), "--no-progress"]) == 0
    stats = json.loads((tmp_path / "s.json").read_text())
    stats = stats[0] if isinstance(stats, list) else stats
    assert (stats["frames"], stats["keyframes"]) == (12, 4)
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--keyframe", "sometimes"])
    assert exit_info.value.code == 2
    assert main([*args, "--keyframe-every", "0", "--overwrite"]) == 2


def test_an_auto_policy_needs_a_processor_that_measures_the_flow(clip_path: Path) -> None:
    """The policy is the run's; the processor only computes what it reads (the flow's residual)."""
    from fastsam_track.errors import UsageError

    with pytest.raises(UsageError, match="residual=True"):
        run(
            open_source(str(clip_path)),
            lambda image: _scene(32)[1],
            FrameProcessor(),
            keyframes=Keyframes(4, auto=True),
        )
    policy = Keyframes(4, auto=True)
    stats = run(open_source(str(clip_path)), lambda image: _scene(32)[1], keyframes=policy)  # the default processor
    assert stats.frames == 12 and stats.keyframes == policy.count >= 3


def test_a_keyframe_asked_for_a_frame_the_model_passed_is_left_for_that_frame_to_claim() -> None:
    """The race behind a late keyframe, in order: the model's thread decides frames 1 and 2 (no keyframe), then
    tracking asks for one after frame 0. Frame 3 must not take it: frame 1 claims it on the tracking thread."""
    keys = Keyframes(every=100, auto=True)
    assert [keys.due(i) for i in range(3)] == [True, False, False]
    keys.ask(0)
    assert not keys.due(3)  # passed by: not frame 3's
    assert not keys.claim(2)  # asked for frame 1: not frame 2's either
    assert keys.claim(1) and not keys.claim(1) and keys.count == 2
    assert not keys.due(4) and keys.due(101)  # the interval counts from the claimed frame 1
    keys.ask(101)
    assert keys.due(102) and not keys.claim(102)  # the frame it was asked for, on the model's thread
