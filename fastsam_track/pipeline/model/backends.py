"""Runtimes for the segmentation network: torch, OpenVINO, ONNX Runtime and TensorRT.

Every backend answers the same call: a batch of letterboxed RGB frames in, the network's
raw outputs out (predictions and mask prototypes, as torch tensors for ultralytics' NMS).
Exported backends run a model made by ultralytics' exporter for the exact input shape of
the source (384x640 for 16:9 at imgsz 640: a 640x640 square is 1.7x the work), made once
and cached on disk under a key of weights hash, format, shape and precision. ``int8`` is the
OpenVINO export quantized by NNCF on calibration frames (``quantize``), keyed by those too.

On a 2-core CPU with bf16 instructions, FastSAM-s at 384x640 takes about 170 ms in torch
fp32, 135 ms in ONNX Runtime and 65 ms in OpenVINO (which runs bf16 there by default).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fastsam_track.configs import BACKENDS, MAX_IMGSZ, PRECISIONS
from fastsam_track.errors import ModelError

__all__ = ["BACKENDS", "MAX_IMGSZ", "PRECISIONS", "ExportCache", "Network", "choose_backend", "load_network"]

# backend: (ultralytics export format, the module it runs on, the pip extra that installs it)
_EXPORTED = {
    "openvino": ("openvino", "openvino", "openvino"),
    "onnx": ("onnx", "onnxruntime", "onnx"),
    "tensorrt": ("engine", "tensorrt", None),
}


class Network(Protocol):
    """A segmentation network on one runtime."""

    name: str

    def __call__(self, batch: np.ndarray) -> tuple[Any, Any]:
        """(B, h, w, 3) uint8 RGB letterboxed frames to the network's outputs, as tensors:
        predictions (B, 4+nc+32, A) and prototypes (B, 32, mh, mw)."""
        ...

    def prepare(self, shape: tuple[int, int]) -> None:
        """Make the network ready for (h, w) inputs now (an export, a load) rather than on the first call."""
        ...


def choose_backend(backend: str, device: str, precision: str = "auto") -> str:
    """The backend to run: ``auto`` is torch on CUDA, else OpenVINO when installed, else torch;
    with ``precision="int8"``, OpenVINO.

    Raises:
        ModelError: an unknown backend or precision, a CPU backend asked to run on CUDA or the
            reverse, int8 on another backend, or a runtime that is not installed (naming the
            extra that installs it).
    """
    if backend not in BACKENDS:
        raise ModelError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    cuda = device.startswith("cuda")
    if precision == "int8":
        if cuda:
            raise ModelError("--precision int8 runs on the CPU (OpenVINO): use --device cpu")
        if backend not in ("auto", "openvino"):
            raise ModelError(f"--precision int8 runs on OpenVINO: use --backend openvino or auto, not {backend}")
        for module in ("openvino", "nncf"):
            if not _installed(module):
                raise ModelError(f'--precision int8 needs the {module} package: pip install "fastsam-track[openvino]"')
        return "openvino"
    if backend == "auto":
        return "torch" if cuda or not _installed("openvino") else "openvino"
    if backend == "tensorrt" and not cuda:
        raise ModelError("the tensorrt backend needs a CUDA device")
    if backend in ("openvino", "onnx") and cuda:
        raise ModelError(f"the {backend} backend runs on the CPU: use --device cpu, or --backend torch on CUDA")
    if backend in _EXPORTED and not _installed(_EXPORTED[backend][1]):
        extra = _EXPORTED[backend][2]
        hint = f'pip install "fastsam-track[{extra}]"' if extra else "install TensorRT for your CUDA version"
        raise ModelError(f"the {backend} backend needs the {_EXPORTED[backend][1]} package: {hint}")
    return backend


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class ExportCache:
    """Exported models on disk, one folder per (weights hash, format, input shape, precision).

    Args:
        root: the cache folder; default ``$FASTSAM_TRACK_CACHE`` or ``~/.cache/fastsam-track``,
            plus ``exports``.
        notify: called with a one-line message before an export starts (it takes seconds).
    """

    def __init__(self, root: str | Path | None = None, notify: Callable[[str], None] | None = None):
        default = Path(os.environ.get("FASTSAM_TRACK_CACHE", Path.home() / ".cache" / "fastsam-track"))
        self.root = Path(root) if root is not None else default / "exports"
        self.notify = notify or (lambda message: print(f"fastsam-track: {message}", file=sys.stderr))

    def key(self, weights: Path, fmt: str, shape: tuple[int, int], precision: str) -> str:
        """``<first 16 hex of the weights' SHA-256>-<format>-<h>x<w>-<precision>``."""
        digest = hashlib.sha256()
        with open(weights, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        return f"{digest.hexdigest()[:16]}-{fmt}-{shape[0]}x{shape[1]}-{precision}"

    def get(self, weights: Path, fmt: str, shape: tuple[int, int], precision: str, device: str = "cpu") -> Path:
        """The exported model file or folder, exporting it first when it is not cached.

        The export runs in a temporary folder that is renamed into place when complete, so an
        interrupted export never leaves a cache entry behind.
        """
        folder = self.root / self.key(weights, fmt, shape, precision)
        if not folder.is_dir():
            size = f"{shape[0]}x{shape[1]}"
            self.notify(f"exporting {weights.name} to {fmt} at {size} {precision} (once; cached in {folder})")
            self._export(weights, fmt, shape, precision, device, folder)
        return _model_in(folder, fmt)

    def quantized(self, weights: Path, shape: tuple[int, int], inputs: list[np.ndarray], progress: bool = True) -> Path:
        """The int8 OpenVINO model for (h, w) inputs calibrated on ``inputs``, quantizing it first when
        it is not cached (from the fp32 export, itself cached).

        Args:
            inputs: (h, w, 3) uint8 RGB letterboxed calibration inputs; their hash is part of the key.
            progress: a progress bar while calibrating.
        """
        from fastsam_track.pipeline.model.quantize import calibration_digest, quantize_openvino

        folder = self.root / self.key(weights, "openvino", shape, f"int8-{calibration_digest(inputs)}")
        if not folder.is_dir():
            fp32 = self.get(weights, "openvino", shape, "fp32")
            size = f"{shape[0]}x{shape[1]}"
            self.notify(
                f"quantizing {weights.name} to int8 at {size} on {len(inputs)} calibration frames "
                f"(once; cached in {folder})"
            )
            work = Path(tempfile.mkdtemp(prefix=".export-", dir=self.root))
            try:
                quantize_openvino(fp32, work / "model_int8_openvino_model" / "model.xml", inputs, progress)
                os.replace(work, folder)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return _model_in(folder, "openvino")

    def _export(
        self, weights: Path, fmt: str, shape: tuple[int, int], precision: str, device: str, folder: Path
    ) -> None:
        import torch
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER

        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=self.root))
        threads, level = torch.get_num_threads(), LOGGER.level
        precision_args = {"half": True} if precision == "fp16" else {}
        try:
            shutil.copyfile(weights, work / "model.pt")
            LOGGER.setLevel(logging.ERROR)  # the exporter's report would go to stdout, among the run's output
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit deprecation notices from inside the exporter
                YOLO(str(work / "model.pt"), task="segment").export(
                    format=fmt, imgsz=shape, batch=1, dynamic=False, device=device, **precision_args
                )
            (work / "model.pt").unlink()
            os.replace(work, folder)
        except Exception as error:  # the exporter raises whatever its converter raised
            raise ModelError(f"cannot export {weights} to {fmt}: {type(error).__name__}: {error}") from error
        finally:
            shutil.rmtree(work, ignore_errors=True)
            LOGGER.setLevel(level)
            torch.set_num_threads(threads)  # the exporter changes them


def _model_in(folder: Path, fmt: str) -> Path:
    """The file the runtime loads, inside an export folder."""
    pattern = {"openvino": "*_openvino_model/*.xml", "onnx": "*.onnx", "engine": "*.engine"}[fmt]
    found = sorted(folder.glob(pattern))
    if not found:
        raise ModelError(f"the export cache entry {folder} is incomplete: delete it to export again")
    return found[0]


def load_network(
    backend: str,
    module: Any,
    weights: Path,
    *,
    device: str,
    half: bool,
    threads: int,
    cache: ExportCache | None = None,
    precision: str = "auto",
    calibration: Callable[[tuple[int, int]], list[np.ndarray]] | None = None,
    progress: bool = True,
) -> Network:
    """A network on ``backend`` (already chosen by ``choose_backend``).

    Args:
        module: the loaded torch model (fused); used as is by the torch backend.
        weights: its checkpoint, the source of exports.
        device, half: torch device and fp16 (CUDA).
        threads: CPU threads for the runtime.
        precision: ``auto`` or ``int8`` (OpenVINO only).
        calibration: with int8, the (h, w, 3) uint8 RGB calibration inputs for an (h, w) input shape.
        progress: with int8, a progress bar while calibrating.
    """
    if backend == "torch":
        return TorchNetwork(module, device, half)
    cache = cache or ExportCache()
    if precision == "int8":
        if calibration is None:
            raise ModelError("--precision int8 needs calibration frames")
        return OpenVinoInt8Network(weights, cache, threads=threads, calibration=calibration, progress=progress)
    if backend == "openvino":
        return OpenVinoNetwork(weights, cache, threads=threads)
    if backend == "onnx":
        return OnnxNetwork(weights, cache, threads=threads)
    return TensorRtNetwork(weights, cache, device=device)


class TorchNetwork:
    """The torch module itself: channels-last input, fp16 on CUDA."""

    name = "torch"

    def __init__(self, module: Any, device: str, half: bool):
        import torch

        self._torch = torch
        self.device, self.half = device, half
        self.module = module.to(memory_format=torch.channels_last)
        if half:
            self.module = self.module.half()

    def prepare(self, shape: tuple[int, int]) -> None:
        """Nothing to do: a torch module takes any input shape."""

    def __call__(self, batch: np.ndarray) -> tuple[Any, Any]:
        torch = self._torch
        tensor = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
        tensor = tensor.contiguous(memory_format=torch.channels_last)
        tensor = (tensor.half() if self.half else tensor.float()) / 255.0
        with torch.inference_mode():
            return _split_outputs(self.module(tensor))


class _ExportedNetwork:
    """A fixed-shape, batch-1 exported model per input shape, loaded on first use."""

    name = ""
    fmt = ""
    precision = "fp32"

    def __init__(self, weights: Path, cache: ExportCache, *, threads: int = 1, device: str = "cpu"):
        import torch

        self._torch = torch
        self.weights, self.cache, self.threads, self.device = weights, cache, threads, device
        self._models: dict[tuple[int, int], Any] = {}

    def prepare(self, shape: tuple[int, int]) -> None:
        """Export (once, cached on disk) and load the model for (h, w) inputs."""
        self._model_for(shape)

    def _model_for(self, shape: tuple[int, int]) -> Any:
        """The model for (h, w) inputs, exported and loaded on first use."""
        if shape not in self._models:
            self._models[shape] = self._load(self.cache.get(self.weights, self.fmt, shape, self.precision, self.device))
        return self._models[shape]

    def __call__(self, batch: np.ndarray) -> tuple[Any, Any]:
        model = self._model_for((int(batch.shape[1]), int(batch.shape[2])))
        outputs = [self._run(model, _to_nchw_float(image)) for image in batch]
        torch = self._torch
        return (
            torch.cat([torch.from_numpy(predictions) for predictions, _ in outputs]),
            torch.cat([torch.from_numpy(protos) for _, protos in outputs]),
        )

    def _load(self, path: Path) -> Any:
        raise NotImplementedError

    def _run(self, model: Any, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _to_nchw_float(image: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 to the (1, 3, h, w) float32 [0, 1] input of an exported model."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


class OpenVinoNetwork(_ExportedNetwork):
    """OpenVINO on the CPU, latency mode, one stream; its default precision (bf16 where the CPU has it)."""

    name = "openvino"
    fmt = "openvino"

    def _load(self, path: Path) -> Any:
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": self.threads}
        return ov.Core().compile_model(str(path), "CPU", config)

    def _run(self, model: Any, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = model(tensor)
        return outputs[model.outputs[0]], outputs[model.outputs[1]]

    @property
    def inference_precision(self) -> str:
        """What OpenVINO runs in (``bf16`` or ``f32`` on CPUs), once a model is loaded."""
        for model in self._models.values():
            return str(model.get_property("INFERENCE_PRECISION_HINT"))
        return "not loaded"


class OpenVinoInt8Network(OpenVinoNetwork):
    """OpenVINO running the int8 model NNCF made from the fp32 export, calibrated per input shape.

    Args:
        calibration: the (h, w, 3) uint8 RGB calibration inputs for an (h, w) input shape.
        progress: a progress bar while calibrating.
    """

    precision = "int8"

    def __init__(
        self,
        weights: Path,
        cache: ExportCache,
        *,
        threads: int = 1,
        calibration: Callable[[tuple[int, int]], list[np.ndarray]],
        progress: bool = True,
    ):
        super().__init__(weights, cache, threads=threads)
        self.calibration, self.progress = calibration, progress

    def _model_for(self, shape: tuple[int, int]) -> Any:
        if shape not in self._models:
            path = self.cache.quantized(self.weights, shape, self.calibration(shape), self.progress)
            self._models[shape] = self._load(path)
        return self._models[shape]


class OnnxNetwork(_ExportedNetwork):
    """ONNX Runtime on the CPU."""

    name = "onnx"
    fmt = "onnx"

    def _load(self, path: Path) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = self.threads, 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _run(self, model: Any, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        predictions, protos = model.run(None, {model.get_inputs()[0].name: tensor})
        return predictions, protos


class TensorRtNetwork(_ExportedNetwork):
    """A TensorRT fp16 engine on CUDA, run by ultralytics' AutoBackend.

    Not tested here (these machines have no GPU); kept to the export and one call.
    """

    name = "tensorrt"
    fmt = "engine"
    precision = "fp16"

    def _load(self, path: Path) -> Any:
        from ultralytics.nn.autobackend import AutoBackend

        return AutoBackend(str(path), device=self._torch.device(self.device), fp16=True, verbose=False)

    def __call__(self, batch: np.ndarray) -> tuple[Any, Any]:
        torch = self._torch
        model = self._model_for((int(batch.shape[1]), int(batch.shape[2])))
        tensor = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).half() / 255.0
        outputs = [model(image[None]) for image in tensor]
        return torch.cat([out[0] for out in outputs]), torch.cat([out[1] for out in outputs])


def _split_outputs(outputs: Any) -> tuple[Any, Any]:
    """(predictions (B, 4+nc+32, A), prototypes (B, 32, mh, mw)) from a segmentation model's outputs."""
    first = outputs[0]
    if isinstance(first, (tuple, list)):  # torch models: ((predictions, prototypes), extras)
        return first[0], first[1]
    return first, outputs[1]
