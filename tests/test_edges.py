"""Edge maps and object proposals from everything-mode output: format and content on the built-in model."""

import json

import cv2
import numpy as np
import pytest
import supervision as sv

from fastsam_track.edges import edge_map
from fastsam_track.errors import ExportError
from fastsam_track.pipeline.exports.writers import EdgeWriter, ProposalWriter
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.runner import run
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.types import Frame, SegmentedFrame


def test_a_soft_edge_is_weaker_than_a_sharp_one_and_no_masks_no_edges():
    sharp = np.zeros((1, 16, 16), np.float32)
    sharp[0, :, 8:] = 1.0
    soft = np.clip((np.arange(16) - 4) / 8, 0, 1)[None, None].repeat(16, 1).astype(np.float32)
    assert edge_map(sharp, (64, 64)).max() == 255
    assert 0 < edge_map(soft, (64, 64)).max() < 128
    assert not edge_map(np.zeros((0, 16, 16), np.float32), (64, 64)).any()


def test_edges_are_one_pixel_wide_across_a_diagonal_and_between_touching_masks():
    yy, xx = np.mgrid[:32, :32]
    diagonal = (xx > yy)[None].astype(np.float32)
    edges = edge_map(diagonal, (128, 128)) > 64
    assert edges.sum(axis=1)[16:112].max() <= 3  # thinned: the blurred ridge is 8 px across before
    touching = np.zeros((2, 16, 16), np.float32)
    touching[0, :, :8], touching[1, :, 8:] = 1.0, 1.0
    # The union is solid, yet the boundary between the two masks is an edge.
    assert (edge_map(touching, (64, 64))[:, 30:34] > 128).any(axis=1).all()


def _distance_to_boundaries(truth):
    """(H, W) pixel distance to the nearest boundary of any ground-truth shape."""
    boundary = np.zeros(truth.shape[1:], bool)
    for mask in truth:
        m = mask.astype(np.uint8)
        boundary |= (cv2.dilate(m, np.ones((3, 3), np.uint8)) != cv2.erode(m, np.ones((3, 3), np.uint8))).astype(bool)
    return cv2.distanceTransform((~boundary).astype(np.uint8), cv2.DIST_L2, 3)


@pytest.fixture(scope="module")
def scene_run(segmenter_640, tmp_path_factory):
    """Five frames of a generated scene through the built-in model, with edges and proposals written."""
    clip = SyntheticClip(height=360, width=640, num_shapes=6, seed=3)
    frames = [Frame(i, clip.frame(i)[0], i / 25) for i in range(5)]
    folder = tmp_path_factory.mktemp("out")
    kept = []
    run(
        iter(frames),
        segmenter_640,
        FrameProcessor(edges=True),
        exports=[EdgeWriter(folder / "edges"), ProposalWriter(folder / "proposals.jsonl")],
        on_frame=lambda s, _: kept.append(s),
    )
    return clip, kept, folder


@pytest.fixture(scope="module")
def segmenter_640():
    from fastsam_track.pipeline.model.segmenter import Segmenter

    return Segmenter("fastsam-tiny", imgsz=640, conf=0.25, device="cpu")


def test_edge_pngs_lie_on_the_shapes_boundaries(scene_run):
    clip, kept, folder = scene_run
    assert sorted(p.name for p in (folder / "edges").iterdir()) == [f"{i:05d}.png" for i in range(5)]
    for segmented in kept:
        written = cv2.imread(str(folder / "edges" / f"{segmented.frame.index:05d}.png"), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint8 and written.shape == (360, 640)
        assert np.array_equal(written, segmented.edges)
        distance = _distance_to_boundaries(clip.frame(segmented.frame.index)[1])
        strong = written > 64
        precision = (distance[strong] <= 4).mean()  # edge pixels that are on a true boundary
        recall = (cv2.dilate(strong.astype(np.uint8), np.ones((9, 9), np.uint8))[distance == 0] > 0).mean()
        assert precision > 0.8 and recall > 0.6, (precision, recall)


def test_proposals_are_json_lines_that_recall_the_shapes(scene_run):
    clip, kept, folder = scene_run
    lines = [json.loads(line) for line in (folder / "proposals.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(5))
    for line, segmented in zip(lines, kept, strict=True):
        assert (line["height"], line["width"]) == (360, 640)
        scores = [p["score"] for p in line["proposals"]]
        assert scores == sorted(scores, reverse=True) and len(scores) == len(segmented.segments)
        boxes = np.array([p["box"] for p in line["proposals"]])
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 640).all() and (boxes[:, 3] <= 360).all()
        truth = sv.mask_to_xyxy(clip.frame(line["frame"])[1]).astype(float)
        recall = (sv.box_iou_batch(truth, boxes).max(axis=1) >= 0.5).mean()
        assert recall >= 0.8, recall


def test_a_replay_without_probabilities_draws_edges_from_the_masks():
    masks = np.zeros((1, 8, 8), bool)
    masks[0, 2:6, 2:6] = True
    segments = sv.Detections(xyxy=np.array([[16, 16, 48, 48]], np.float32), mask=masks)
    kept = []
    run(
        iter([Frame(0, np.zeros((64, 64, 3), np.uint8), 0.0)]),
        lambda image: segments,
        FrameProcessor(edges=True),
        on_frame=lambda s, _: kept.append(s),
    )
    assert kept[0].edges.shape == (64, 64) and kept[0].edges.max() == 255


def test_edge_writer_needs_edges(tmp_path):
    frame = SegmentedFrame(Frame(0, np.zeros((8, 8, 3), np.uint8), 0.0), sv.Detections.empty())
    with pytest.raises(ExportError, match="edge maps were not computed"), EdgeWriter(tmp_path / "e") as writer:
        writer.write(frame)
