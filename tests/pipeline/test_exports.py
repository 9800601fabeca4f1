"""Segments cache and exports, read back with the libraries that define their formats."""

import json

import numpy as np
import pytest
import supervision as sv
from PIL import Image
from pycocotools import mask as mask_util

from fastsam_track.errors import ExportError, SegmentsCacheError
from fastsam_track.pipeline.exports.segments import CachedSource, SegmentsReplay, SegmentsWriter
from fastsam_track.pipeline.exports.writers import DavisMaskWriter, MotsWriter, davis_palette
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import LOGITS, BoxPrompt, Frame, SegmentedFrame
from tests.support.slopes import sloped_segment


def _frame(index=0, count=2, tracker=True):
    masks = np.zeros((count, 10, 16), bool)
    for i in range(count):
        masks[i, 2 + i : 6 + i, 2 + 4 * i : 6 + 4 * i] = True
    boxes = np.array([[16 + 32 * i, 16 + 8 * i, 48 + 32 * i, 48 + 8 * i] for i in range(count)], np.float32)
    segments = sv.Detections(
        xyxy=boxes.reshape(-1, 4),
        mask=masks,
        confidence=np.linspace(0.9, 0.5, count).astype(np.float32),
        tracker_id=np.arange(1, count + 1) * 7 if tracker else None,
    )
    objects = sv.Detections(xyxy=boxes[:1].reshape(-1, 4), mask=masks[:1], tracker_id=np.array([3])[: min(count, 1)])
    return SegmentedFrame(Frame(index, np.zeros((80, 128, 3), np.uint8), index / 25), segments, objects)


def test_segments_round_trip(tmp_path):
    frames = [_frame(0), _frame(1, count=0), _frame(2, count=3)]
    with SegmentsWriter(tmp_path / "s.jsonl") as writer:
        for frame in frames:
            writer.write(frame)
    replay = SegmentsReplay(tmp_path / "s.jsonl")
    for frame in frames:
        back = replay(frame.frame.image)
        assert np.array_equal(back.mask, frame.segments.mask)  # exactly, at mask resolution
        np.testing.assert_allclose(back.xyxy, frame.segments.xyxy, atol=0.01)
        np.testing.assert_allclose(back.confidence, frame.segments.confidence, atol=1e-4)
    with pytest.raises(SegmentsCacheError, match="fewer frames than the source"):
        replay(frames[0].frame.image)


def _cache(path, indices, source=None):
    with SegmentsWriter(path, source) as writer:
        for index in indices:
            writer.write(_frame(index, count=1 + index % 3))
    return path


def test_a_replay_matches_records_by_their_frame_field(tmp_path):
    path = _cache(tmp_path / "s.jsonl", [0, 1, 2, 3])
    frames = [_frame(0).frame, _frame(2).frame, _frame(3).frame]  # frame 1 dropped, as a live source drops
    replay = SegmentsReplay(path)
    counts = [len(replay(frame.image)) for frame in replay.follow(frames)]
    assert counts == [1, 3, 1]  # each frame's own record, not the next line's
    # Called with images alone, the n-th call is frame n: a record missing from the file is an error.
    gappy = _cache(tmp_path / "gappy.jsonl", [0, 2])
    replay = SegmentsReplay(gappy)
    replay(_frame(0).frame.image)
    with pytest.raises(SegmentsCacheError, match=r"no record for frame 1 \(line 3 is frame 2\)"):
        replay(_frame(1).frame.image)


def test_a_shuffled_cache_says_so_rather_than_that_a_frame_is_missing(tmp_path):
    header, *lines = _cache(tmp_path / "s.jsonl", [0, 1, 2]).read_text().splitlines()
    (tmp_path / "s.jsonl").write_text("\n".join([header, lines[2], lines[0], lines[1]]) + "\n")
    with pytest.raises(SegmentsCacheError, match=r"out of frame order: frame 0 is on line 3, after frame 2 on line 2"):
        SegmentsReplay(tmp_path / "s.jsonl")(_frame(0).frame.image)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (CachedSource(128, 80, 2, 2), "saved with vid_stride 1, the run uses 2"),  # another stride
        (CachedSource(128, 80, 9, 1), "saved with 4 frames, the source gives 9"),  # another clip of the same size
        (CachedSource(64, 40, 4, 1), "saved with 128x80 frames, the source gives 64x40"),  # another size
    ],
)
def test_a_replay_refuses_another_source_or_stride(tmp_path, run, message):
    path = _cache(tmp_path / "s.jsonl", range(4), CachedSource(128, 80, 4, 1))
    with pytest.raises(SegmentsCacheError, match=message):
        SegmentsReplay(path, run)
    assert SegmentsReplay(path, CachedSource(128, 80, None, 1)).header == CachedSource(128, 80, 4, 1)  # live: no count


def test_the_header_names_the_source_and_defaults_to_the_first_frame(tmp_path):
    lines = _cache(tmp_path / "s.jsonl", range(2)).read_text().splitlines()
    assert json.loads(lines[0]) == {
        "fastsam_track_segments": 1,
        "width": 128,
        "height": 80,
        "frames": None,
        "vid_stride": 1,
    }
    assert [json.loads(line)["frame"] for line in lines[1:]] == [0, 1]


def test_a_cache_without_header_still_replays(tmp_path):
    path = _cache(tmp_path / "s.jsonl", range(3))
    path.write_text("".join(path.read_text().splitlines(keepends=True)[1:]))  # as written before the header
    replay = SegmentsReplay(path, CachedSource(128, 80, 3, 2))  # nothing to check up front
    assert replay.header is None
    assert [len(replay(_frame(i).frame.image)) for i in range(3)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a segments record"),  # garbage
        ('{"frame": 0}', "not a segments record"),  # missing keys
        ('{"frame": 0, "height": 90, "width": 128, "mask_size": [10, 16], "segments": []}', "for 128x90 frames"),
    ],
)
def test_bad_segments_files(tmp_path, line, message):
    path = tmp_path / "s.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(SegmentsCacheError, match=message):
        SegmentsReplay(path)(np.zeros((80, 128, 3), np.uint8))


def test_davis_masks_are_indexed_pngs_at_source_resolution(tmp_path):
    with DavisMaskWriter(tmp_path / "masks") as writer:
        writer.write(_frame(0))
        writer.write(SegmentedFrame(_frame(4).frame, _frame(4).segments, None))  # no objects yet
    first = Image.open(tmp_path / "masks" / "00000.png")
    assert first.mode == "P" and first.size == (128, 80)
    assert np.array(first.getpalette()[:9]).tolist() == davis_palette()[:3].reshape(-1).tolist()
    labels = np.array(first)
    assert set(np.unique(labels)) == {0, 3}
    assert labels[30, 30] == 3 and labels[70, 120] == 0
    assert not np.array(Image.open(tmp_path / "masks" / "00004.png")).any()


def test_davis_palette_matches_the_standard():
    assert davis_palette()[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]


def test_mots_lines_decode_with_pycocotools(tmp_path):
    with MotsWriter(tmp_path / "t.txt") as writer:
        writer.write(_frame(0))
        writer.write(_frame(1, tracker=False))  # untracked segments are not written
        writer.write(_frame(2, count=3))
    lines = (tmp_path / "t.txt").read_text().splitlines()
    assert [line.split()[:5] for line in lines] == [
        ["0", "7", "1", "80", "128"],
        ["0", "14", "1", "80", "128"],
        ["2", "7", "1", "80", "128"],
        ["2", "14", "1", "80", "128"],
        ["2", "21", "1", "80", "128"],
    ]
    decoded = [mask_util.decode({"size": [80, 128], "counts": line.split()[5].encode()}) for line in lines]
    assert all(d.shape == (80, 128) and d.any() for d in decoded)
    assert (np.sum(decoded[2:], axis=0) <= 1).all()  # MOTS masks do not overlap


def test_unwritable_exports(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="cannot create mask folder"):
        DavisMaskWriter(tmp_path / "file" / "masks")
    with pytest.raises(ExportError, match="cannot write tracks file"):
        MotsWriter(tmp_path / "file" / "t.txt")
    with pytest.raises(SegmentsCacheError, match="cannot write segments file"):
        SegmentsWriter(tmp_path / "file" / "s.jsonl")


def test_a_lines_file_appears_whole_and_a_run_failing_before_its_first_line_keeps_the_old_one(tmp_path):
    path = tmp_path / "tracks.txt"
    path.write_text("an earlier run\n")
    with pytest.raises(RuntimeError, match="model"), MotsWriter(path):
        raise RuntimeError("the model failed to load")
    assert path.read_text() == "an earlier run\n"
    with MotsWriter(path) as writer:
        writer.write(_frame(0))
        assert path.read_text() == "an earlier run\n"  # a reader meanwhile sees the previous file, whole
    assert path.read_text().startswith("0 7 1 80 128 ")
    assert [p.name for p in tmp_path.iterdir()] == ["tracks.txt"]


def test_a_mask_png_that_fails_midway_is_not_left_half_written(tmp_path, monkeypatch):
    from PIL import Image as PilImage

    def half_then_full_disk(image, path, *args, **kwargs):
        with open(path, "wb") as file:
            file.write(b"\x89PNG\r\n\x1a\n")  # the signature, then the disk is full
        raise OSError(28, "No space left on device")

    writer = DavisMaskWriter(tmp_path / "masks")
    writer.write(_frame(0))
    monkeypatch.setattr(PilImage.Image, "save", half_then_full_disk)
    with pytest.raises(ExportError, match=r"cannot write '.*00001.png': No space left on device"):
        writer.write(_frame(1))
    assert [p.name for p in (tmp_path / "masks").iterdir()] == ["00000.png"]  # whole, or not there
    assert np.array(Image.open(tmp_path / "masks" / "00000.png")).max() == 3


@pytest.mark.parametrize("logits", [True, False])  # from the model; replayed from a segments cache
def test_exported_masks_follow_the_models_edges_between_the_cells(tmp_path, logits):
    segment, truth = sloped_segment(logits=logits)
    processor = FrameProcessor(
        tracker=SegmentTracker(min_hits=1),
        objects=ObjectTracker(),
        prompts=[BoxPrompt(0, 3, segment.xyxy[0])],
    )
    with DavisMaskWriter(tmp_path / "masks") as masks, MotsWriter(tmp_path / "tracks.txt") as tracks:
        segmented = processor.process(Frame(0, np.zeros((*truth.shape, 3), np.uint8), 0.0), segment)
        masks.write(segmented)
        tracks.write(segmented)
    assert segmented.objects is not None and segmented.objects.tracker_id.tolist() == [3]
    assert (LOGITS in segmented.objects.data) is logits  # the object's logits are its segment's
    davis = np.array(Image.open(tmp_path / "masks" / "00000.png")) == 3
    line = (tmp_path / "tracks.txt").read_text().split()
    mots = mask_util.decode({"size": [int(line[3]), int(line[4])], "counts": line[5].encode()}).astype(bool)
    for exported in (davis, mots):
        # From the logits, the sloped edge itself; from binary masks (a replay), 8-pixel steps.
        assert bool((exported != truth).sum() <= 12) == logits
