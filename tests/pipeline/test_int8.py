"""--precision int8: NNCF quantization calibrated on the user's frames, cached, from the CLI to the segments."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from fastsam_track.configs import load_config
from fastsam_track.errors import ConfigError, ModelError
from fastsam_track.pipeline.model import backends
from fastsam_track.pipeline.model.backends import ExportCache, choose_backend
from fastsam_track.pipeline.model.quantize import Calibration
from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.types import Frame

pytest.importorskip("openvino", reason='the openvino extra is not installed: pip install -e ".[openvino]"')
pytest.importorskip("nncf", reason='nncf (the openvino extra) is not installed: pip install -e ".[openvino]"')

CLI = [sys.executable, "-m", "fastsam_track.cli", "run", "--model", "fastsam-tiny", "--imgsz", "320"]


def _frames(seed: int, count: int = 3) -> list[Frame]:
    clip = SyntheticClip(height=180, width=320, num_shapes=6, seed=seed)
    return [Frame(i, clip.frame(i)[0], i / 25) for i in range(count)]


def _cli(*args: object, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FASTSAM_TRACK_CACHE": str(cache)},
    )


def _int8_entries(cache: Path) -> list[str]:
    exports = cache / "exports"
    return sorted(p.name for p in exports.iterdir() if "-int8-" in p.name) if exports.is_dir() else []


def test_the_cli_runs_int8_with_a_progress_bar_and_reuses_the_quantized_model(tmp_path, clip_path):
    first = _cli(
        clip_path, "-o", tmp_path / "one.mp4", "--precision", "int8", "--calibration-frames", "4", cache=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "quantizing fastsam-tiny.pt to int8 at 192x320 on 4 calibration frames" in first.stderr
    assert "calibrating int8" in first.stderr and "4/4" in first.stderr  # the progress bar, to its end
    assert "processed 12 frames" in first.stdout
    with av.open(str(tmp_path / "one.mp4")) as container:  # a video that plays: every frame decodes
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(stream)) == 12
        assert (stream.width, stream.height) == (320, 180)
    entries = _int8_entries(tmp_path)
    assert len(entries) == 1
    second = _cli(
        clip_path, "-o", tmp_path / "two.mp4", "--precision", "int8", "--calibration-frames", "4", "--no-progress",
        cache=tmp_path,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "quantizing" not in second.stderr and "exporting" not in second.stderr  # the cached model, as it was
    assert "calibrating int8" not in second.stderr
    assert _int8_entries(tmp_path) == entries
    assert (tmp_path / "two.mp4").stat().st_size > 1000


def test_a_missing_calibration_path_is_one_line_before_the_model_loads(tmp_path, clip_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")  # loading it would be an error of its own
    missing = tmp_path / "no-such-folder"
    result = _cli(
        clip_path, "-o", tmp_path / "out.mp4", "--model", corrupt, "--precision", "int8", "--calibration", missing,
        cache=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"fastsam-track: error: calibration '{missing}' not found: give a video file or a folder of images"
    )
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "exports").exists()


def test_a_calibration_folder_is_used_and_the_key_follows_the_calibration_set(tmp_path):
    """Other frames are another quantized model; the same frames again are the cached one."""
    messages: list[str] = []
    cache = ExportCache(tmp_path, notify=messages.append)
    image = _frames(seed=4, count=1)[0].image

    def segmenter(frames: list[Frame] | Path) -> Segmenter:
        calibration = Calibration(frames, frames=3, progress=False)
        return Segmenter(
            "fastsam-tiny", imgsz=320, conf=0.25, device="cpu", precision="int8", calibration=calibration,
            export_cache=cache,
        )  # fmt: skip

    first = segmenter(_frames(seed=1))
    first.prepare(image.shape[:2])
    assert [m.split(" (")[0] for m in messages] == [
        "exporting fastsam-tiny.pt to openvino at 192x320 fp32",
        "quantizing fastsam-tiny.pt to int8 at 192x320 on 3 calibration frames",
    ]
    folder = tmp_path.parent / f"{tmp_path.name}-calibration"  # a --calibration folder of images
    folder.mkdir()
    for frame in _frames(seed=2):
        cv2.imwrite(str(folder / f"{frame.index:03d}.png"), frame.image)
    segmenter(folder).prepare(image.shape[:2])
    assert len(messages) == 3 and messages[2].startswith("quantizing")  # the fp32 export is reused
    int8 = sorted(p.name for p in tmp_path.iterdir() if "-int8-" in p.name)
    assert len(int8) == 2 and int8[0].rsplit("-", 1)[0] == int8[1].rsplit("-", 1)[0]  # only the calibration part
    segmenter(_frames(seed=1)).prepare(image.shape[:2])
    assert len(messages) == 3  # the same frames: the cached model

    # int8 segments like fp32: most segments found again, with nearly the same masks.
    reference = Segmenter("fastsam-tiny", imgsz=320, conf=0.25, device="cpu", backend="torch")(image)
    segments = first(image)
    assert first.backend == "openvino" and first.precision == "int8"
    assert len(reference) >= 5 and abs(len(segments) - len(reference)) <= max(2, len(reference) // 5)
    a = reference.mask.reshape(len(reference), -1).astype(np.float32)
    b = segments.mask.reshape(len(segments), -1).astype(np.float32)
    inter = a @ b.T
    best = (inter / np.maximum(a.sum(1)[:, None] + b.sum(1)[None] - inter, 1)).max(1)
    assert np.median(best) > 0.9


@pytest.mark.parametrize(
    ("backend", "device", "message"),
    [
        ("onnx", "cpu", "--precision int8 runs on OpenVINO: use --backend openvino or auto, not onnx"),
        ("torch", "cpu", "--precision int8 runs on OpenVINO: use --backend openvino or auto, not torch"),
        ("auto", "cuda", r"--precision int8 runs on the CPU \(OpenVINO\): use --device cpu"),
    ],
)
def test_int8_elsewhere_than_openvino_on_the_cpu_is_refused(backend, device, message):
    with pytest.raises(ModelError, match=message):
        choose_backend(backend, device, "int8")


def test_int8_is_openvino_and_a_missing_nncf_names_the_extra(monkeypatch):
    assert choose_backend("auto", "cpu", "int8") == "openvino"
    monkeypatch.setattr(backends, "_installed", lambda module: module != "nncf")
    with pytest.raises(ModelError, match=r'needs the nncf package: pip install "fastsam-track\[openvino\]"'):
        choose_backend("openvino", "cpu", "int8")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"precision": "int4"}, "precision must be one of auto, int8, got 'int4'"),  # not a precision
        ({"calibration": "clips/"}, "calibration must be null unless precision is int8"),  # would do nothing
        ({"precision": "int8", "calibration_frames": 0}, "calibration_frames must be 1 or more, got 0"),
        ({"precision": "int8", "calibration": 3}, "calibration must be str or null, got int 3"),
    ],
)
def test_config_checks_the_int8_keys(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_an_empty_calibration_source_is_an_error(tmp_path):
    with pytest.raises(ModelError, match="no frame to calibrate int8 on in the source"):
        Calibration([], frames=3).images()


def test_calibrating_on_a_few_frames_is_warned():
    from fastsam_track.pipeline.model.quantize import FEW_CALIBRATION_FRAMES, Calibration, CalibrationWarning
    from fastsam_track.types import Frame

    frames = [Frame(i, np.zeros((8, 8, 3), np.uint8), i / 30) for i in range(FEW_CALIBRATION_FRAMES)]
    with pytest.warns(CalibrationWarning, match=r"int8 calibrated on 1 frame\(s\) of the source"):
        Calibration(frames[:1]).images()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Calibration(frames).images()  # enough: no warning
