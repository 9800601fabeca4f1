"""The frame processor: one per source, the same per-frame work whether a run has one source or several."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import supervision as sv

from fastsam_track.errors import UsageError
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.prompting import PromptWarning
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import BoxPrompt, Frame, PointPrompt, RemovePrompt, TextPrompt
from tests.conftest import write_clip


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fastsam_track.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _square(x: int) -> sv.Detections:
    """One 4x4-cell segment at column ``x`` of an 8x16 grid (a 32x64 frame)."""
    masks = np.zeros((1, 8, 16), bool)
    masks[0, 2:6, x : x + 4] = True
    return sv.Detections(xyxy=sv.mask_to_xyxy(masks).astype(np.float32) * 4, mask=masks)


def _frame(index: int) -> Frame:
    return Frame(index, np.zeros((32, 64, 3), np.uint8), index / 25)


def test_prompts_are_applied_on_their_frame_or_the_first_after_it():
    # frame 1 is skipped (a stride): the prompt given for it is applied on frame 2, not lost
    processor = FrameProcessor(
        tracker=SegmentTracker(),
        objects=ObjectTracker(),
        prompts=[PointPrompt(1, 7, np.array([[10.0, 14.0]]), np.array([1])), RemovePrompt(9, 7)],
    )
    first = processor.process(_frame(0), _square(1))
    assert first.objects is not None and len(first.objects) == 0
    second = processor.process(_frame(2), _square(2))
    assert second.objects is not None and second.objects.tracker_id.tolist() == [7]
    assert second.segments.tracker_id.tolist() == [1]  # the same segment track as on frame 0
    assert [p.frame for p in processor.unused_prompts] == [9]  # the removal is for a later frame


def test_a_missed_prompt_is_told_to_the_inbox_and_still_warned():
    from fastsam_track.pipeline.prompts.inbox import PromptInbox

    inbox = PromptInbox()
    processor = FrameProcessor(objects=ObjectTracker(), inbox=inbox)
    processor.process(_frame(0), _square(1))
    inbox.add_box(50, 20, 60, 30)  # over no segment
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        processor.process(_frame(1), _square(1))
    assert any(issubclass(w.category, PromptWarning) for w in caught)
    assert inbox.notice() is not None and "selected nothing" in str(inbox.notice()["text"])


def _empty() -> sv.Detections:
    return sv.Detections(xyxy=np.zeros((0, 4), np.float32), mask=np.zeros((0, 8, 16), bool))


@pytest.mark.parametrize("interactive", [False, True])  # without and with a window or page
def test_a_lost_object_is_not_drawn_and_no_segment_is_drawn_in_its_place(interactive):
    """The README: with prompts only the selected objects are drawn, with or without --serve (issue 24)."""
    from fastsam_track.pipeline.prompts.inbox import PromptInbox

    inbox = PromptInbox() if interactive else None
    prompts = [PointPrompt(1, 7, np.array([[10.0, 14.0]]), np.array([1]))]
    processor = FrameProcessor(tracker=SegmentTracker(), objects=ObjectTracker(), prompts=prompts, inbox=inbox)
    before = processor.process(_frame(0), _square(1))
    # Until an object is picked, a window or page draws every segment (to click on); a file run draws none.
    assert (before.objects is None) if interactive else len(before.objects) == 0
    picked = processor.process(_frame(1), _square(1))
    assert picked.objects is not None and picked.objects.tracker_id.tolist() == [7]
    # The object's segment is gone, another one shows elsewhere: the object is carried a while, then lost.
    frames = (processor.process(_frame(index), _square(11) if index % 2 else _empty()) for index in range(2, 200))
    lost = next(f for f in frames if f.objects is None or len(f.objects) == 0)
    assert lost.objects is not None and len(lost.objects) == 0  # nothing drawn, not every segment
    index = lost.frame.index
    if interactive:  # every object removed: every segment is drawn again, to pick another
        inbox.put(RemovePrompt(index + 1, 7))
        assert processor.process(_frame(index + 1), _square(11)).objects is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompts": [BoxPrompt(0, 1, np.array([0.0, 0, 4, 4]))]}, "need an object tracker"),  # nothing follows them
        ({"objects": ObjectTracker(), "prompts": [TextPrompt(0, 1, "a cup")]}, "need CLIP"),  # nothing reads words
    ],
)
def test_prompts_without_what_they_need_are_refused(arguments, message):
    with pytest.raises(UsageError, match=message):
        FrameProcessor(**arguments)


def test_one_source_and_several_sources_give_identical_exports(tmp_path):
    """The single-source loop (``run``) and the several-source one (``run_sources``) share the processor:
    the same clip, segments and prompts give the same masks and tracks, byte for byte."""
    clip = write_clip(tmp_path / "a.mp4", frames=12, height=180, width=320, seed=4)
    shutil.copy(clip, tmp_path / "b.mp4")
    saved = _cli(
        *("run", clip, "--model", "fastsam-tiny", "--imgsz", 320, "--conf", 0.25, "--backend", "torch"),
        *("--save-segments", tmp_path / "a.jsonl", "--no-progress"),
    )
    assert saved.returncode == 0, saved.stderr
    (tmp_path / "segments").mkdir()
    for name in ("a", "b"):
        shutil.copy(tmp_path / "a.jsonl", tmp_path / "segments" / f"{name}.jsonl")
    prompts = [{"frame": 0, "object": 3, "box": [100, 40, 220, 140]}, {"frame": 2, "object": 4, "points": [[60, 60]]}]
    (tmp_path / "one.json").write_text(json.dumps({"prompts": prompts}))
    (tmp_path / "two.json").write_text(
        json.dumps({"prompts": [{**p, "source": s} for s in ("a", "b") for p in prompts]})
    )
    one = _cli(
        *("run", clip, "--segments", tmp_path / "a.jsonl", "--prompts", tmp_path / "one.json"),
        *("--save-masks", tmp_path / "m1", "--save-tracks", tmp_path / "t1.txt", "--no-progress"),
    )
    assert one.returncode == 0, one.stderr
    two = _cli(
        *("run", clip, "--source", tmp_path / "b.mp4", "--segments", tmp_path / "segments"),
        *("--prompts", tmp_path / "two.json", "--save-masks", tmp_path / "m2", "--save-tracks", tmp_path / "t2"),
        "--no-progress",
    )
    assert two.returncode == 0, two.stderr
    masks = sorted(p.name for p in (tmp_path / "m1").iterdir())
    assert len(masks) == 12
    tracks = (tmp_path / "t1.txt").read_text()
    assert tracks and any(np.unique(np.asarray(_png(tmp_path / "m1" / m))).size > 1 for m in masks)
    for name in ("a", "b"):
        assert sorted(p.name for p in (tmp_path / "m2" / name).iterdir()) == masks
        for mask in masks:
            assert (tmp_path / "m2" / name / mask).read_bytes() == (tmp_path / "m1" / mask).read_bytes(), mask
        assert (tmp_path / "t2" / f"{name}.txt").read_text() == tracks


def _png(path):  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image.open(path)
