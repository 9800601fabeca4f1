"""int8 networks: NNCF post-training quantization of the OpenVINO export, calibrated on the user's frames.

A quantized network is only as good as the activations it was calibrated on, so the
calibration frames come from the footage it will run on: the first frames of the source,
or a ``--calibration`` video or folder of images. They are letterboxed exactly as the
segmenter feeds the network, and the quantized model is cached under a key that includes
a hash of those inputs (``ExportCache.quantized``): the same frames at the same input
shape reuse it, other frames make another.

The detection head's box decoding (its own additions, products and the DFL) and the
score sigmoid stay in floating point, as in ultralytics' own int8 export: quantizing them
moves boxes by whole pixels. Everything else, the prototype branch included, runs int8.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastsam_track.errors import ModelError

__all__ = [
    "FEW_CALIBRATION_FRAMES",
    "Calibration",
    "CalibrationWarning",
    "calibration_digest",
    "check_calibration_path",
    "quantize_openvino",
]

# Bumped when the quantization settings change, so old cache entries are not reused.
_RECIPE = "nncf-mixed-v1"


FEW_CALIBRATION_FRAMES = 10  # fewer, and int8 is calibrated with a warning


class CalibrationWarning(UserWarning):
    """int8 was calibrated on fewer than ``FEW_CALIBRATION_FRAMES`` frames; the command shows it as one line."""


class Calibration:
    """Frames to calibrate an int8 network on: the first ``frames`` frames of a source.

    Args:
        source: a video file or image folder (path), or an opened source (anything iterable
            over ``Frame``s, such as the run's own source: its first frames are read and the
            iteration closed, so the run starts again from its first frame).
        frames: how many frames; fewer when the source is shorter.
        progress: show a progress bar while calibrating.

    Example:
        >>> from fastsam_track.types import Frame
        >>> frames = [Frame(i, np.full((4, 6, 3), i, np.uint8), i / 30) for i in range(5)]
        >>> [int(image[0, 0, 0]) for image in Calibration(frames, frames=3).images()]
        [0, 1, 2]
    """

    def __init__(self, source: str | Path | Any, frames: int = 30, progress: bool = True):
        if frames < 1:
            raise ModelError(f"calibration frames must be 1 or more, got {frames}")
        self.source, self.frames, self.progress = source, frames, progress
        self._images: list[np.ndarray] | None = None

    def images(self) -> list[np.ndarray]:
        """The (H, W, 3) uint8 BGR calibration frames, read on the first call.

        Raises:
            SourceError: the calibration video or folder cannot be read.
            ModelError: it holds no frame.
        """
        if self._images is None:
            source = self.source
            if isinstance(source, (str, Path)):
                from fastsam_track.pipeline.sources import open_source

                source = open_source(str(source))
            frames = iter(source)
            try:
                self._images = [frame.image for frame in itertools.islice(frames, self.frames)]
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    close()  # a generator source releases its file or camera now
            if not self._images:
                raise ModelError(f"no frame to calibrate int8 on in {self.describe()}")
            if len(self._images) < FEW_CALIBRATION_FRAMES:
                warnings.warn(
                    CalibrationWarning(
                        f"int8 calibrated on {len(self._images)} frame(s) of {self.describe()}: ranges taken from so "
                        f"few may clip other frames' values; give {FEW_CALIBRATION_FRAMES} or more"
                    ),
                    stacklevel=2,
                )
        return self._images

    def describe(self) -> str:
        """Where the frames come from, for messages."""
        if isinstance(self.source, (str, Path)):
            return repr(str(self.source))
        return "the source"


def calibration_digest(inputs: Sequence[np.ndarray]) -> str:
    """16 hex digits of a hash of the network inputs and the quantization recipe: the cache key's part.

    Example:
        >>> one = [np.zeros((2, 2, 3), np.uint8)]
        >>> calibration_digest(one) == calibration_digest([np.zeros((2, 2, 3), np.uint8)])
        True
        >>> calibration_digest(one) == calibration_digest([np.ones((2, 2, 3), np.uint8)])
        False
    """
    digest = hashlib.sha256(_RECIPE.encode())
    for image in inputs:
        digest.update(str(image.shape).encode())
        digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()[:16]


def quantize_openvino(source: Path, target: Path, inputs: Sequence[np.ndarray], progress: bool = True) -> None:
    """Quantize an fp32 OpenVINO model to int8 with NNCF and save it.

    Args:
        source: the fp32 model's ``.xml``.
        target: the ``.xml`` to write (its folder is made).
        inputs: (h, w, 3) uint8 RGB letterboxed calibration inputs of the model's shape.
        progress: a tqdm bar over the calibration inputs (on stderr); NNCF's own output is hidden.

    Raises:
        ModelError: nncf is not installed, or quantization failed.
    """
    # nncf imports torch's extension builder, which logs a warning about CUDA on machines without it.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        import nncf
    except ImportError as error:
        raise ModelError('--precision int8 needs the nncf package: pip install "fastsam-track[openvino]"') from error
    import openvino as ov
    from tqdm import tqdm

    model = ov.Core().read_model(str(source))
    bar = tqdm(total=len(inputs), desc="calibrating int8", unit="frame", disable=not progress, dynamic_ncols=True)
    dataset = nncf.Dataset(_Counted(inputs, bar.update), _to_tensor)
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    try:
        nncf_logger.setLevel(logging.ERROR)
        # NNCF draws its own (rich) progress bars on stdout, among the run's output: ours is on stderr.
        with contextlib.redirect_stdout(io.StringIO()):
            quantized = nncf.quantize(
                model,
                dataset,
                preset=nncf.QuantizationPreset.MIXED,
                subset_size=len(inputs),
                ignored_scope=_float_head(nncf, model),
            )
    except Exception as error:  # NNCF raises whatever its graph passes or OpenVINO raised
        raise ModelError(f"cannot quantize {source} to int8: {type(error).__name__}: {error}") from error
    finally:
        nncf_logger.setLevel(level)
        bar.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(target), compress_to_fp16=False)


def _float_head(nncf: Any, model: Any) -> Any:
    """The head's box decoding and the score sigmoid, kept in floating point (ultralytics' choice).

    The head's own operations are named ``<head>/...`` and its DFL ``<head>.dfl...``; its
    convolution branches (``<head>.cv2...``, ``<head>.proto...``) are quantized.
    """
    operations = model.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in operations if op.get_type_name() == "Sigmoid"]
    if not sigmoids:
        return None
    head = sigmoids[-1].split("/", 1)[0]
    names = [
        op.get_friendly_name()
        for op in operations
        if op.get_type_name() == "Sigmoid" or op.get_friendly_name().startswith((f"{head}/", f"{head}.dfl"))
    ]
    return nncf.IgnoredScope(names=names, validate=False)


def _to_tensor(image: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB to the (1, 3, h, w) float32 [0, 1] model input."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


class _Counted:
    """The calibration inputs, each counted (``advance(1)``) as NNCF takes it to collect its statistics."""

    def __init__(self, inputs: Sequence[np.ndarray], advance: Callable[[int], object]):
        self.inputs, self.advance = inputs, advance

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Iterator[np.ndarray]:
        for image in self.inputs:
            self.advance(1)
            yield image


def check_calibration_path(path: str | Path) -> None:
    """A ``--calibration`` path must be an existing video file or folder (checked before a model loads).

    Raises:
        ModelError: nothing is there.
    """
    if not Path(path).exists():
        raise ModelError(f"calibration {str(path)!r} not found: give a video file or a folder of images")
