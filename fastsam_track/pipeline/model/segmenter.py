"""FastSAM everything-mode: one network pass per frame, masks kept at prototype resolution.

Ultralytics' own FastSAM post-processing upsamples every mask to the frame (650 ms for
100 masks at 720p on a 2-core CPU, against 280 ms for the network). Here the network and
NMS come from ultralytics, and the masks are assembled in numpy from the prototypes at
their own resolution, only over the part of the letterbox that holds the picture (a few
milliseconds; the same masks as ultralytics' ``process_mask``, cell for cell). Each mask's
logits are kept beside it, quantized to a byte a cell, so that where masks are drawn or
exported they are upsampled before the threshold, as ultralytics' ``retina_masks`` are.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import supervision as sv
from threadpoolctl import threadpool_limits

from fastsam_track.configs import RunConfig, check_imgsz
from fastsam_track.errors import ModelError
from fastsam_track.masks import mean_colors, quantize_logits
from fastsam_track.pipeline.model.backends import ExportCache, choose_backend, load_network
from fastsam_track.pipeline.model.quantize import Calibration
from fastsam_track.pipeline.model.weights import resolve_weights
from fastsam_track.types import COLOR, CUT, LOGITS

__all__ = ["Letterbox", "Segmenter", "select_device"]

# FastSAM's full-image-box handling: box edges this close to the border snap to it, and a
# box overlapping the whole image by more than this IoU is taken to be the whole image.
_BORDER_SNAP_PX = 20
_FULL_IMAGE_IOU = 0.9
_PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How a frame is resized and padded into the network input (ultralytics' LetterBox, centred).

    Attributes:
        frame_shape: (H, W) of the frame.
        input_shape: (h, w) of the network input, multiples of the stride.
        ratio: the resize factor, the same for both axes.
        pad: (left, top) padding in input pixels.
    """

    frame_shape: tuple[int, int]
    input_shape: tuple[int, int]
    ratio: float
    pad: tuple[int, int]

    @classmethod
    def fit(cls, frame_shape: tuple[int, int], imgsz: int, stride: int = 32) -> Letterbox:
        """The smallest stride-aligned input whose longer side is ``imgsz`` (ultralytics' ``auto=True``)."""
        height, width = frame_shape
        ratio = min(imgsz / height, imgsz / width)
        new_h, new_w = max(round(height * ratio), 1), max(round(width * ratio), 1)
        in_h, in_w = (-(-new_h // stride) * stride, -(-new_w // stride) * stride)
        left, top = round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)
        return cls(frame_shape, (in_h, in_w), ratio, (left, top))

    @classmethod
    def into(cls, frame_shape: tuple[int, int], input_shape: tuple[int, int]) -> Letterbox:
        """The geometry that fits a frame of any (H, W) into a given (h, w) input, centred.

        Example:
            >>> Letterbox.into((480, 640), (192, 320)).pad
            (32, 0)
        """
        ratio = min(input_shape[0] / frame_shape[0], input_shape[1] / frame_shape[1])
        new_h, new_w = max(round(frame_shape[0] * ratio), 1), max(round(frame_shape[1] * ratio), 1)
        left, top = round((input_shape[1] - new_w) / 2 - 0.1), round((input_shape[0] - new_h) / 2 - 0.1)
        return cls(frame_shape, input_shape, ratio, (left, top))

    @property
    def resized_shape(self) -> tuple[int, int]:
        """(h, w) of the picture inside the input, without padding."""
        return max(round(self.frame_shape[0] * self.ratio), 1), max(round(self.frame_shape[1] * self.ratio), 1)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 frame to the (h, w, 3) uint8 padded network input."""
        new_h, new_w = self.resized_shape
        if (new_h, new_w) != image.shape[:2]:
            image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        left, top = self.pad
        bottom, right = self.input_shape[0] - new_h - top, self.input_shape[1] - new_w - left
        return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(_PAD_VALUE,) * 3)

    def mask_window(self, mask_shape: tuple[int, int]) -> tuple[slice, slice]:
        """Rows and columns of a (mh, mw) prototype grid that cover the picture, not the padding."""
        fy, fx = mask_shape[0] / self.input_shape[0], mask_shape[1] / self.input_shape[1]
        new_h, new_w = self.resized_shape
        left, top = self.pad
        # Start and length rounded separately, so equal frames give equal windows.
        top_row, left_col = int(top * fy + 0.5), int(left * fx + 0.5)
        rows = slice(top_row, top_row + max(round(new_h * fy), 1))
        cols = slice(left_col, left_col + max(round(new_w * fx), 1))
        return rows, cols

    def boxes_to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy boxes in input pixels to frame pixels, clipped to the frame."""
        left, top = self.pad
        out = (boxes - np.array([left, top, left, top], np.float32)) / self.ratio
        height, width = self.frame_shape
        return np.clip(out, 0, [width, height, width, height]).astype(np.float32)


def select_device(device: str = "auto") -> tuple[str, bool]:
    """Choose the torch device and whether to run in fp16.

    Args:
        device: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        (device string, half precision): fp16 on CUDA, fp32 on the CPU.
    """
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but torch sees no CUDA device: use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ModelError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return device, device.startswith("cuda")


def snap_full_image_boxes(boxes: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """FastSAM's border handling on (N, 4) xyxy frame boxes; returns a new array.

    Edges within 20 px of the border move onto it, and boxes whose IoU with the whole
    image exceeds 0.9 become the whole image.

    Example:
        >>> snap_full_image_boxes(np.array([[5.0, 30, 100, 100], [3, 2, 630, 470]]), (480, 640)).tolist()
        [[0.0, 30.0, 100.0, 100.0], [0.0, 0.0, 640.0, 480.0]]
    """
    height, width = frame_shape
    snapped = boxes.copy()
    snapped[:, 0] = np.where(snapped[:, 0] < _BORDER_SNAP_PX, 0, snapped[:, 0])
    snapped[:, 1] = np.where(snapped[:, 1] < _BORDER_SNAP_PX, 0, snapped[:, 1])
    snapped[:, 2] = np.where(snapped[:, 2] > width - _BORDER_SNAP_PX, width, snapped[:, 2])
    snapped[:, 3] = np.where(snapped[:, 3] > height - _BORDER_SNAP_PX, height, snapped[:, 3])
    full = np.array([[0, 0, width, height]], boxes.dtype)
    full_image = sv.box_iou_batch(full, snapped)[0] > _FULL_IMAGE_IOU
    snapped[full_image] = full[0]
    return snapped


_DEFAULTS = RunConfig()


class Segmenter:
    """FastSAM everything-mode on single frames.

    Defaults are ``RunConfig``'s.

    Args:
        model: ``FastSAM-s`` (downloaded by ultralytics), ``FastSAM-x``, ``fastsam-tiny`` (built in)
            or a checkpoint path.
        imgsz: longer side of the network input in pixels (a multiple of 32, at most ``MAX_IMGSZ``, 4096).
        conf: minimum confidence of a segment.
        iou: NMS IoU threshold.
        max_det: most segments per frame.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; fp16 on CUDA.
        backend: ``auto`` (torch on CUDA, else OpenVINO when installed, else torch), ``torch``,
            ``openvino``, ``onnx`` or ``tensorrt``; see ``backends``.
        precision: ``auto`` (the runtime's own) or ``int8`` (OpenVINO quantized by NNCF on
            ``calibration``; see ``quantize``).
        calibration: the frames int8 is calibrated on (``quantize.Calibration``), letterboxed
            to each input shape as frames are.
        threads: CPU threads of the runtime (and of torch, which runs NMS); default all cores
            (importing ultralytics leaves 1). numpy's BLAS and OpenCV are limited to one thread
            each, so that they do not compete with the network.
        export_cache: where exported models are kept (default ``ExportCache()``).

    Example:
        >>> segmenter = Segmenter("fastsam-tiny", imgsz=320)
        >>> segments = segmenter(np.zeros((180, 320, 3), np.uint8))
        >>> segments.mask.shape[1:]
        (45, 80)
    """

    def __init__(
        self,
        model: str | Path = _DEFAULTS.model,
        *,
        imgsz: int = _DEFAULTS.imgsz,
        conf: float = _DEFAULTS.conf,
        iou: float = _DEFAULTS.iou,
        max_det: int = _DEFAULTS.max_det,
        device: str = _DEFAULTS.device,
        backend: str = _DEFAULTS.backend,
        threads: int | None = _DEFAULTS.threads,
        export_cache: ExportCache | None = None,
        precision: str = _DEFAULTS.precision,
        calibration: Calibration | None = None,
    ):
        check_imgsz(imgsz)
        import torch
        from ultralytics.nn.tasks import load_checkpoint

        self.imgsz, self.conf, self.iou, self.max_det = imgsz, conf, iou, max_det
        self.device, self.half = select_device(device)
        self.backend = choose_backend(backend, self.device, precision)
        if precision == "int8" and calibration is None:
            raise ModelError("precision int8 needs calibration frames: pass calibration=Calibration(source)")
        self.precision = precision
        weights = resolve_weights(model)
        try:
            network, _ = load_checkpoint(weights, device=self.device)
        except Exception as error:  # a corrupt file raises from pickle, zip or torch
            raise ModelError(f"cannot load {weights}: {type(error).__name__}: {error}") from error
        if getattr(network, "task", None) != "segment":
            raise ModelError(
                f"{weights} is a {getattr(network, 'task', 'unknown')!r} checkpoint, not a segmentation model"
            )
        self.threads = threads or os.cpu_count() or 1
        torch.set_num_threads(self.threads)
        # numpy's BLAS (OpenBLAS) keeps its threads spinning after each call; between frames the
        # trackers' small matrix products left them spinning into the next forward pass, which
        # then ran 2.4x slower on 2 cores (132 ms against 55 ms per 720p frame, fastsam-tiny).
        threadpool_limits(limits=1, user_api="blas")
        # OpenCV's pool likewise: the stages' resizes and colour conversions each woke both cores
        # and stalled the network's threads (FastSAM-s on OpenVINO, 720p: 110 -> 104 ms per frame).
        cv2.setNumThreads(1)
        self._torch = torch
        self.stride = max(int(network.stride.max()), 32)
        self.end2end = bool(getattr(network, "end2end", False))
        self.weights = weights
        self.network = load_network(
            self.backend,
            network.fuse(verbose=False),
            weights,
            device=self.device,
            half=self.half,
            threads=self.threads,
            cache=export_cache,
            precision=precision,
            calibration=functools.partial(_calibration_inputs, calibration) if calibration else None,
            progress=calibration.progress if calibration else False,
        )

    def letterbox(self, frame_shape: tuple[int, int]) -> Letterbox:
        """The input geometry used for frames of this (H, W)."""
        return Letterbox.fit(frame_shape, self.imgsz, self.stride)

    def prepare(self, frame_shape: tuple[int, int]) -> None:
        """Export and load the network for frames of this (H, W) now, not on the first frame.

        An exported backend's first run exports the model for the source's input shape
        (seconds); done before the outputs open, a window or web page does not sit blank
        meanwhile. A no-op for torch and for a shape already prepared.
        """
        self.network.prepare(self.letterbox(frame_shape).input_shape)

    def __call__(self, image: np.ndarray) -> sv.Detections:
        """Segment everything in one frame.

        Args:
            image: (H, W, 3) uint8 BGR frame.

        Returns:
            Detections with ``xyxy`` (N, 4) float32 frame pixels, ``confidence`` (N,) float32,
            ``class_id`` (N,) zeros, ``mask`` (N, h, w) bool at mask resolution (see
            ``SegmentedFrame``), ``data["color"]`` (N, 3) float32 mean BGR colours and
            ``data["logits"]`` (N, h, w) uint8 mask logits (``masks.quantize_logits``: 128 or
            more inside; 0 from a cell and a half outside each box) and ``data["cut"]`` (N, 4)
            float32: the masks are cut to ``xyxy + cut``, the boxes before FastSAM's snapping to
            the border; sorted by confidence. N may be 0.
        """
        return self.segment_batch([image])[0]

    def segment_batch(self, images: list[np.ndarray]) -> list[sv.Detections]:
        """Segment frames of one size in one network pass; see ``__call__``."""
        geometry, predictions, protos = self._infer(images)
        return [
            self._assemble(kept, protos[i], geometry, image)
            for i, (kept, image) in enumerate(zip(predictions, images, strict=True))
        ]

    def infer(self, image: np.ndarray) -> Callable[[], sv.Detections]:
        """``__call__`` in two parts: the network and NMS now, the masks when the result is called.

        The frame loop runs the second part on another thread, so assembling one frame's
        masks overlaps the next frame's network pass.

        Args:
            image: (H, W, 3) uint8 BGR frame.

        Returns:
            A function without arguments that returns what ``__call__`` returns.
        """
        geometry, predictions, protos = self._infer([image])
        return functools.partial(self._assemble, predictions[0], protos[0], geometry, image)

    def _infer(self, images: list[np.ndarray]) -> tuple[Letterbox, list[Any], Any]:
        """Letterbox, network and NMS.

        Returns:
            The geometry, each frame's kept (K, 6 + C) rows and the (B, C, mh, mw) prototypes.
        """
        geometry = self.letterbox(images[0].shape[:2])
        batch = np.ascontiguousarray(np.stack([geometry.apply(image) for image in images])[..., ::-1])  # to RGB
        predictions, protos = self.network(batch)
        with self._torch.inference_mode():
            return geometry, self._nms(predictions), protos

    def _assemble(self, kept: Any, protos: Any, geometry: Letterbox, image: np.ndarray) -> sv.Detections:
        segments = self._postprocess(kept, protos, geometry)
        segments.data[COLOR] = mean_colors(image, np.asarray(segments.mask))
        return segments

    def _nms(self, predictions):  # type: ignore[no-untyped-def]
        # ultralytics runs torchvision's NMS kernel only when torchvision is already imported, and
        # otherwise a Python loop: 15-30 ms instead of 0.5 for 300 candidates (exported backends
        # never import torchvision on their own).
        import torchvision  # noqa: F401
        from ultralytics.utils.nms import non_max_suppression

        return non_max_suppression(
            predictions,
            self.conf,
            self.iou,
            agnostic=True,
            max_det=self.max_det,
            nc=1,
            end2end=self.end2end,
        )

    def _postprocess(self, pred, protos, geometry: Letterbox) -> sv.Detections:  # type: ignore[no-untyped-def]
        """One frame's NMS output (K, 6 + C) and prototypes (C, mh, mw) to segments, in numpy.

        Only the prototype rows and columns under the picture are used, and masks are
        thresholded on their logits (sigmoid > 0.5 is logit > 0), so no probability map is
        made. The cost is the (K, C) @ (C, h*w) product over the candidates K left by NMS,
        and quantizing the logits of those kept.
        """
        rows, cols = geometry.mask_window(tuple(protos.shape[1:]))
        pred = pred.float().cpu().numpy()
        window = protos[:, rows, cols].float().cpu().numpy()
        channels, height, width = window.shape
        logits = (pred[:, 6:] @ window.reshape(channels, -1)).reshape(-1, height, width)  # (K, h, w)
        grid = (int(protos.shape[1]), int(protos.shape[2]))
        in_rows, in_cols = _box_cells(pred[:, :4], grid, geometry.input_shape, rows, cols)
        masks = logits > 0
        masks[~in_rows] = False  # in place: no (K, h, w) box stack is made (rows as a whole: 5x faster)
        masks &= in_cols[:, None, :]
        keep = masks.any(axis=(1, 2))
        pred, masks = pred[keep], masks[keep]
        # Logits are kept a little past the box: a pixel inside it near its edge interpolates between
        # cells on both sides, and is cut to the box at frame resolution (``CUT``), as retina masks are.
        near_rows, near_cols = _box_cells(pred[:, :4], grid, geometry.input_shape, rows, cols, margin=1.5)
        levels = quantize_logits(logits[keep])
        levels[~near_rows] = 0
        levels *= near_cols[:, None, :]
        cut = geometry.boxes_to_frame(pred[:, :4])
        boxes = snap_full_image_boxes(cut, geometry.frame_shape)
        return sv.Detections(
            xyxy=boxes,
            mask=masks,
            confidence=pred[:, 4].astype(np.float32),
            class_id=np.zeros(len(pred), int),
            data={LOGITS: levels, CUT: cut - boxes},
        )


def _calibration_inputs(calibration: Calibration, input_shape: tuple[int, int]) -> list[np.ndarray]:
    """The calibration frames as (h, w, 3) uint8 RGB network inputs of ``input_shape``, letterboxed like frames."""
    return [
        np.ascontiguousarray(Letterbox.into(image.shape[:2], input_shape).apply(image)[..., ::-1])
        for image in calibration.images()
    ]


def _box_cells(
    boxes: np.ndarray,
    grid: tuple[int, int],
    input_shape: tuple[int, int],
    rows: slice,
    cols: slice,
    margin: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Which rows and columns of the prototype window ``rows`` x ``cols`` lie inside each (K, 4) input-pixel box.

    A cell is inside when its grid index lies in [x1, x2) and [y1, y2) of the box scaled to
    the (mh, mw) prototype ``grid``, as ultralytics' ``crop_mask`` decides it; with a
    ``margin`` (in cells), of the box widened by that much on every side.

    Returns:
        (K, h) bool rows and (K, w) bool columns; a cell is in box k when both are.
    """
    sy, sx = grid[0] / input_shape[0], grid[1] / input_shape[1]
    ys = np.arange(rows.start, rows.stop, dtype=np.float32)[None, :]
    xs = np.arange(cols.start, cols.stop, dtype=np.float32)[None, :]
    in_rows = (ys >= boxes[:, 1:2] * sy - margin) & (ys < boxes[:, 3:4] * sy + margin)
    in_cols = (xs >= boxes[:, 0:1] * sx - margin) & (xs < boxes[:, 2:3] * sx + margin)
    return in_rows, in_cols
