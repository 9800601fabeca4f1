import numpy as np
import pytest
import supervision as sv

from fastsam_track.errors import ConfigError, ModelError
from fastsam_track.masks import label_map, upsample_masks
from fastsam_track.pipeline.model.segmenter import Letterbox, Segmenter, snap_full_image_boxes
from fastsam_track.pipeline.model.weights import resolve_weights
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.types import CUT, LOGITS


@pytest.mark.parametrize(
    ("frame_shape", "imgsz", "input_shape", "pad", "window"),
    [
        ((720, 1280), 640, (384, 640), (0, 12), ((3, 93), (0, 160))),  # 16:9, padded top and bottom
        ((480, 640), 320, (256, 320), (0, 8), ((2, 62), (0, 80))),  # 4:3
        ((640, 480), 320, (320, 256), (8, 0), ((0, 80), (2, 62))),  # portrait, padded left and right
        ((320, 320), 320, (320, 320), (0, 0), ((0, 80), (0, 80))),  # square, no padding
    ],
)
def test_letterbox_geometry(frame_shape, imgsz, input_shape, pad, window):
    box = Letterbox.fit(frame_shape, imgsz)
    assert box.input_shape == input_shape
    assert box.pad == pad
    rows, cols = box.mask_window((input_shape[0] // 4, input_shape[1] // 4))
    assert ((rows.start, rows.stop), (cols.start, cols.stop)) == window
    assert box.apply(np.zeros((*frame_shape, 3), np.uint8)).shape == (*input_shape, 3)


def test_letterbox_boxes_back_to_frame():
    box = Letterbox.fit((720, 1280), 640)
    assert box.boxes_to_frame(np.array([[0, 12, 640, 372]], np.float32)).tolist() == [[0, 0, 1280, 720]]


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        (np.zeros((0, 4)), np.zeros((0, 4))),  # no segments
        (np.array([[30.0, 30, 100, 100]]), np.array([[30.0, 30, 100, 100]])),  # inside: untouched
        (np.array([[19.0, 5, 100, 100]]), np.array([[0.0, 0, 100, 100]])),  # near the top-left corner: snapped
        (np.array([[25.0, 21, 630, 470]]), np.array([[0.0, 0, 640, 480]])),  # IoU > 0.9 with the image: the image
        (np.array([[100.0, 0, 640, 480]]), np.array([[100.0, 0, 640, 480]])),  # IoU < 0.9: kept
    ],
)
def test_snap_full_image_boxes(boxes, expected):
    np.testing.assert_allclose(snap_full_image_boxes(boxes, (480, 640)), expected)


def test_masks_stay_at_prototype_resolution(segmenter):
    image, _ = SyntheticClip(180, 320, 6, seed=11).frame(0)
    segments = segmenter(image)
    assert isinstance(segments, sv.Detections)
    assert len(segments) > 0
    # 320x180 at imgsz 320 is a 320x192 input with 6 px of padding above and below;
    # its 80x48 prototype grid without the padding is 80x45.
    assert segments.mask.shape == (len(segments), 45, 80)
    assert segments.mask.dtype == bool and segments.mask.any(axis=(1, 2)).all()
    assert segments.xyxy.dtype == np.float32
    assert (segments.xyxy >= 0).all() and (segments.xyxy[:, [0, 2]] <= 320).all()
    assert (np.diff(segments.confidence) <= 0).all()  # sorted by confidence
    assert segments.data["color"].shape == (len(segments), 3)  # mean colours, for the object tracker


def test_builtin_model_finds_the_shapes(segmenter):
    """The built-in model's masks cover the generated shapes (an untrained model scores about 0)."""
    recalls = []
    for seed in range(20, 25):
        image, truth = SyntheticClip(180, 320, 6, seed=seed).frame(0)
        found = upsample_masks(segmenter(image).mask, (180, 320))
        iou = sv.mask_iou_batch(truth, found) if len(found) else np.zeros((len(truth), 1))
        recalls.append((iou.max(axis=1) > 0.5).mean())
    assert np.mean(recalls) > 0.6


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((180, 320, 3), np.uint8),  # black
        np.full((180, 320, 3), 114, np.uint8),  # the padding grey
    ],
)
def test_zero_segments_is_an_empty_result(image):
    segmenter = Segmenter("fastsam-tiny", imgsz=320, conf=0.99, device="cpu")
    segments = segmenter(image)
    assert len(segments) == 0
    assert segments.mask.shape == (0, 45, 80)
    assert segments.xyxy.shape == (0, 4)


def test_masks_equal_ultralytics_process_mask(segmenter):
    """The numpy mask assembly gives ultralytics' own masks, cell for cell, inside the picture."""
    import torch
    from ultralytics.utils.ops import process_mask

    image, _ = SyntheticClip(180, 320, 6, seed=13).frame(0)
    geometry = segmenter.letterbox(image.shape[:2])
    predictions, protos = segmenter.network(np.ascontiguousarray(geometry.apply(image)[None, ..., ::-1]))
    pred = segmenter._nms(predictions)[0]
    with torch.inference_mode():
        reference = process_mask(protos[0], pred[:, 6:], pred[:, :4], geometry.input_shape).bool().numpy()
    rows, cols = geometry.mask_window(tuple(protos.shape[2:]))
    reference = reference[:, rows, cols]
    reference = reference[reference.any(axis=(1, 2))]  # the segmenter drops masks without a cell
    segments = segmenter(image)
    assert len(segments) > 0
    np.testing.assert_array_equal(segments.mask, reference)


def test_drawn_masks_equal_ultralytics_retina_masks(segmenter):
    """Upsampled before the threshold and cut to their boxes, masks at frame resolution are
    ultralytics' ``retina_masks`` (``process_mask_native``); the binary masks upsampled are not."""
    import torch
    from ultralytics.utils.ops import process_mask_native, scale_boxes

    # 4:3 at 320: the letterbox pads 8 px a side, 2 whole cells, so the grid covers the frame exactly
    image, _ = SyntheticClip(240, 320, 8, seed=15).frame(0)
    geometry = segmenter.letterbox(image.shape[:2])
    predictions, protos = segmenter.network(np.ascontiguousarray(geometry.apply(image)[None, ..., ::-1]))
    pred = segmenter._nms(predictions)[0]
    with torch.inference_mode():
        boxes = scale_boxes(geometry.input_shape, pred[:, :4].clone(), image.shape[:2])
        retina = process_mask_native(protos[0], pred[:, 6:], boxes, image.shape[:2]).bool().numpy()
    segments = segmenter(image)
    levels, cut = segments.data[LOGITS], segments.xyxy + segments.data[CUT]
    assert levels.dtype == np.uint8 and levels.shape == segments.mask.shape
    assert (levels[segments.mask] >= 128).all()  # the masks are the logits above 0, in their boxes
    np.testing.assert_allclose(cut, boxes.numpy(), atol=1e-3)
    assert len(segments) == len(retina) > 3  # no candidate without a cell here: rows match
    soft = [label_map(levels[i : i + 1], image.shape[:2], np.array([1]), cut[i : i + 1]) > 0 for i in range(len(cut))]
    binary = upsample_masks(segments.mask, image.shape[:2])
    soft_iou = np.diag(sv.mask_iou_batch(np.array(soft), retina))
    binary_iou = np.diag(sv.mask_iou_batch(binary, retina))
    assert soft_iou.mean() > 0.99 and soft_iou.min() > 0.97, soft_iou
    assert binary_iou.mean() < soft_iou.mean() - 0.02, binary_iou


def test_infer_then_assemble_equals_one_call(segmenter):
    image, _ = SyntheticClip(180, 320, 6, seed=14).frame(0)
    later, now = segmenter.infer(image)(), segmenter(image)
    assert len(now) > 0
    np.testing.assert_array_equal(later.mask, now.mask)
    np.testing.assert_array_equal(later.xyxy, now.xyxy)
    np.testing.assert_array_equal(later.data["color"], now.data["color"])


def test_batch_equals_single_frames(segmenter):
    clip = SyntheticClip(180, 320, 6, seed=12)
    images = [clip.frame(i)[0] for i in range(2)]
    batch = segmenter.segment_batch(images)
    for image, batched in zip(images, batch, strict=True):
        single = segmenter(image)
        assert len(single) == len(batched)
        np.testing.assert_allclose(single.xyxy, batched.xyxy, atol=1e-2)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("no/such/model.pt", "not found"),  # a path that does not exist
        ("FastSAM-s", "--model fastsam-tiny"),  # offline: the download fails and names the built-in model
    ],
)
def test_unusable_model_names(model, message):
    with pytest.raises(ModelError, match=message):
        resolve_weights(model)


def test_detection_checkpoint_is_refused(detection_checkpoint):
    with pytest.raises(ModelError, match="not a segmentation model"):
        Segmenter(detection_checkpoint, device="cpu")


def test_corrupt_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot load"):
        Segmenter(bad, device="cpu")


@pytest.mark.parametrize("imgsz", [0, 100, -32, 100_000])  # 100000: 67 GB of input, refused before any of it
def test_bad_imgsz(imgsz):
    with pytest.raises(ConfigError, match="multiple of 32"):
        Segmenter("fastsam-tiny", imgsz=imgsz)


def test_threads_are_set_explicitly():
    import torch
    from threadpoolctl import threadpool_info

    Segmenter("fastsam-tiny", imgsz=320, device="cpu", threads=2)
    assert torch.get_num_threads() == 2
    # numpy's BLAS threads would spin into torch's forward pass between frames.
    assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA device; this machine has none")
def test_cuda_runs_in_fp16():
    segmenter = Segmenter("fastsam-tiny", imgsz=320, device="cuda")
    assert segmenter.half
    image, _ = SyntheticClip(180, 320, 6, seed=11).frame(0)
    assert segmenter(image).mask.shape[1:] == (45, 80)


def test_cuda_asked_for_without_a_gpu():
    if _has_cuda():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ModelError, match="no CUDA device"):
        Segmenter("fastsam-tiny", device="cuda")
