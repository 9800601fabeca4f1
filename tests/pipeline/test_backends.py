"""Network runtimes: the choice, the export cache, and that every runtime segments alike."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fastsam_track.errors import ModelError
from fastsam_track.masks import upsample_masks
from fastsam_track.pipeline.model import backends
from fastsam_track.pipeline.model.backends import ExportCache, choose_backend
from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.model.weights import resolve_weights
from fastsam_track.synthetic import SyntheticClip

CLI = [sys.executable, "-m", "fastsam_track.cli", "run", "--model", "fastsam-tiny"]
openvino = pytest.importorskip("openvino", reason='the openvino extra is not installed: pip install -e ".[openvino]"')
onnxruntime = pytest.importorskip("onnxruntime", reason='the onnx extra is not installed: pip install -e ".[onnx]"')


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return SyntheticClip(height=360, width=640, num_shapes=8, seed=4).frame(2)[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ExportCache:
    return ExportCache(tmp_path_factory.mktemp("exports"))


def test_auto_is_openvino_on_a_cpu_when_installed_and_torch_without_it(monkeypatch):
    assert choose_backend("auto", "cpu") == "openvino"
    assert choose_backend("auto", "cuda:0") == "torch"
    monkeypatch.setattr(backends, "_installed", lambda module: False)
    assert choose_backend("auto", "cpu") == "torch"


@pytest.mark.parametrize(
    ("backend", "device", "message"),
    [
        ("tflite", "cpu", "backend must be one of auto, torch, openvino, onnx, tensorrt, got 'tflite'"),
        ("tensorrt", "cpu", "the tensorrt backend needs a CUDA device"),
        ("openvino", "cuda", "the openvino backend runs on the CPU"),
    ],
)
def test_impossible_backends_are_refused(backend, device, message):
    with pytest.raises(ModelError, match=message):
        choose_backend(backend, device)


def test_a_missing_runtime_names_its_extra(monkeypatch):
    monkeypatch.setattr(backends, "_installed", lambda module: False)
    with pytest.raises(ModelError, match=r'needs the onnxruntime package: pip install "fastsam-track\[onnx\]"'):
        choose_backend("onnx", "cpu")


def _matched_iou(reference, other) -> np.ndarray:
    """For each reference mask, its best IoU among the other's masks (both at mask resolution)."""
    a = reference.mask.reshape(len(reference), -1).astype(np.float32)
    b = other.mask.reshape(len(other), -1).astype(np.float32)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None] - inter
    return (inter / np.maximum(union, 1)).max(1)


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_backends_segment_like_torch(backend, frame, cache):
    reference = Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cpu", backend="torch")(frame)
    segmenter = Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cpu", backend=backend, export_cache=cache)
    segments = segmenter(frame)
    assert segmenter.backend == segmenter.network.name == backend
    assert len(reference) >= 5
    assert abs(len(segments) - len(reference)) <= max(2, len(reference) // 10)
    assert segments.mask.shape[1:] == reference.mask.shape[1:]
    # ONNX Runtime runs fp32 like torch; OpenVINO runs bf16 where the CPU has it, so edges move a little.
    assert np.median(_matched_iou(reference, segments)) > 0.9
    np.testing.assert_allclose(segments.xyxy[:3], reference.xyxy[:3], atol=4)
    assert upsample_masks(segments.mask[:1], frame.shape[:2]).shape == (1, *frame.shape[:2])


def test_an_export_is_made_once_per_shape_and_reused(tmp_path, frame):
    messages: list[str] = []
    cache = ExportCache(tmp_path, notify=messages.append)
    first = Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cpu", backend="onnx", export_cache=cache)
    first(frame)
    first(frame)
    assert len(messages) == 1 and "exporting fastsam-tiny.pt to onnx at 192x320 fp32" in messages[0]
    second = Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cpu", backend="onnx", export_cache=cache)
    second(frame)
    assert len(messages) == 1  # a new run reuses the export on disk
    second(np.zeros((320, 320, 3), np.uint8))  # another input shape is another export
    assert len(messages) == 2
    entries = sorted(p.name for p in tmp_path.iterdir())
    key = cache.key(resolve_weights("fastsam-tiny"), "onnx", (192, 320), "fp32")
    assert key in entries and len(entries) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]


def test_prepare_exports_before_the_first_frame(tmp_path, frame):
    messages: list[str] = []
    cache = ExportCache(tmp_path, notify=messages.append)
    segmenter = Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cpu", backend="onnx", export_cache=cache)
    segmenter.prepare(frame.shape[:2])
    assert len(messages) == 1 and "at 192x320" in messages[0]
    key = cache.key(resolve_weights("fastsam-tiny"), "onnx", (192, 320), "fp32")
    assert key in [p.name for p in tmp_path.iterdir()]
    segmenter(frame)
    assert len(messages) == 1  # the first frame found the model ready


def test_the_cli_exports_before_it_opens_its_outputs(tmp_path, clip_path):
    """A web page (or window) opens only once the model is ready, so it never sits blank during an export:
    with the page's port taken, the run fails as it opens the page, and the export is already there."""
    import os
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*CLI, str(clip_path), "--serve", f"127.0.0.1:{port}", "--imgsz", "320", "--backend", "onnx"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "FASTSAM_TRACK_CACHE": str(tmp_path)},
        )
    assert result.returncode == 2 and f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "exporting fastsam-tiny.pt to onnx" in result.stderr
    assert [p for p in (tmp_path / "exports").iterdir() if "-onnx-" in p.name]


def test_the_key_follows_the_weights_content(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"one")
    cache = ExportCache(tmp_path / "cache")
    first = cache.key(weights, "onnx", (384, 640), "fp32")
    weights.write_bytes(b"two")
    assert cache.key(weights, "onnx", (384, 640), "fp32") != first
    assert cache.key(weights, "onnx", (288, 480), "fp32") != cache.key(weights, "onnx", (384, 640), "fp32")


def test_a_failed_export_leaves_no_cache_entry(tmp_path, frame, monkeypatch):
    from ultralytics import YOLO

    def fail(*args, **kwargs):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(YOLO, "export", fail)
    cache = ExportCache(tmp_path, notify=lambda message: None)
    segmenter = Segmenter("fastsam-tiny", imgsz=320, device="cpu", backend="openvino", export_cache=cache)
    with pytest.raises(ModelError, match=r"cannot export .*tiny\.pt to openvino: RuntimeError: converter crash"):
        segmenter(frame)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_runs_on_each_cpu_backend_and_refuses_tensorrt_without_cuda(tmp_path, clip_path):
    for backend in ("torch", "onnx", "openvino"):
        output = tmp_path / f"{backend}.mp4"
        result = subprocess.run(
            [*CLI, str(clip_path), "-o", str(output), "--imgsz", "320", "--backend", backend, "--no-progress"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert output.stat().st_size > 1000
    result = subprocess.run(
        [*CLI, str(clip_path), "-o", str(tmp_path / "trt.mp4"), "--backend", "tensorrt", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "fastsam-track: error: the tensorrt backend needs a CUDA device"
    assert not (tmp_path / "trt.mp4").exists()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="TensorRT needs a CUDA device; none here")
def test_tensorrt_engine_on_cuda(frame, cache):  # pragma: no cover - no GPU on these machines
    pytest.importorskip("tensorrt", reason="TensorRT is not installed")
    segmenter = Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cuda", backend="tensorrt", export_cache=cache)
    assert len(segmenter(frame)) > 0
