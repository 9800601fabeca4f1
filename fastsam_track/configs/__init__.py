"""Run settings: a frozen ``RunConfig`` filled from a YAML preset or file, then from the CLI.

Unknown keys, wrong types and out-of-range values are ``ConfigError``s whose one-line
message names the key, what arrived and what is valid.

Example:
    >>> load_config("file").imgsz
    640
    >>> load_config(overrides={"conf": 0.25}).conf
    0.25
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastsam_track.documents import DocumentError, load_yaml, read_text
from fastsam_track.errors import ConfigError, shown
from fastsam_track.trackers.params import ObjectParams

__all__ = [
    "BACKENDS",
    "CLIP_MODEL",
    "CLIP_PRETRAINED",
    "KEYFRAME_MODES",
    "MAX_IMGSZ",
    "PRECISIONS",
    "PRESETS",
    "ConfigError",
    "RunConfig",
    "load_config",
]

BACKENDS = ("auto", "torch", "openvino", "onnx", "tensorrt")
# auto: each runtime's own (torch fp32 on the CPU and fp16 on CUDA, ONNX Runtime fp32, OpenVINO
# bf16 where the CPU has it, else f32); int8: OpenVINO quantized on calibration frames.
PRECISIONS = ("auto", "int8")
KEYFRAME_MODES = ("every", "auto")
# The longest network input side accepted: past a 4K frame's 3840 (FastSAM was trained at 1024).
# Larger values would be checked only when the network allocates them: 100000 asks for 67 GB.
MAX_IMGSZ = 4096
CLIP_MODEL = "ViT-B-32"  # open-clip model of text prompts
CLIP_PRETRAINED = "openai"  # its pretrained tag

_PRESET_DIR = Path(__file__).resolve().parent
PRESETS = tuple(sorted(p.stem for p in _PRESET_DIR.glob("*.yaml")))
_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def _option(default: Any, help: str) -> Any:
    """A field that is also a ``run`` option: the CLI's flag, default and help come from it."""
    return dataclasses.field(default=default, metadata={"help": help})


def options() -> dict[str, tuple[Any, str]]:
    """``{field: (default, help)}`` of every ``RunConfig`` field the command line sets (``--field-name``)."""
    return {f.name: (f.default, f.metadata["help"]) for f in dataclasses.fields(RunConfig) if "help" in f.metadata}


@dataclass(frozen=True)
class RunConfig:
    """Everything a run can be told, with FastSAM's defaults.

    Attributes:
        model: ``FastSAM-s`` (downloaded by ultralytics), ``FastSAM-x``, the built-in
            ``fastsam-tiny`` or a checkpoint path.
        imgsz: longer side of the network input, a multiple of 32.
        conf: minimum segment confidence, 0 to 1.
        iou: NMS IoU threshold, 0 to 1.
        max_det: most segments per frame.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        backend: ``auto``, ``torch``, ``openvino``, ``onnx`` or ``tensorrt`` (see ``pipeline.backends``).
        precision: ``auto`` (each runtime's own: OpenVINO bf16 where the CPU has it, else fp32)
            or ``int8`` (OpenVINO quantized by NNCF on calibration frames, cached).
        calibration: with int8, a video file or folder of images to calibrate on (null: the
            first frames of the source).
        calibration_frames: with int8, how many frames to calibrate on.
        threads: CPU threads of the network runtime (null: all cores).
        vid_stride: process every n-th frame.
        keyframe_every: run the network on every n-th frame (1: every frame); the frames between
            carry the segments and objects by the optical flow, marked propagated. With
            ``keyframe: auto`` the longest interval (default 4).
        keyframe: ``every`` (keyframes every ``keyframe_every`` frames) or ``auto`` (also when the
            optical flow fails to explain a frame: fast or deforming motion, where carrying drifts;
            or a keyframe left a prompted object unconfirmed).
        reconnect_limit: failed reconnections of a camera or stream before the run gives up (0: never).
        opacity: mask colour weight in the overlay, 0 to 1.
        contour_thickness: contour width in pixels, 0 for none.
        crf: H.264 quality of the output, 0 (lossless) to 51.
        preset: x264 speed preset of the output.
        smooth: morphological close/open of prompted masks, in mask cells (0: none).
        clip_model: open-clip model for text prompts.
        clip_pretrained: its pretrained tag, a weights file, or ``random`` (tests, timing).
        text_retry_every: frames between CLIP searches for a lost text-selected object.
        text_retry_limit: CLIP searches per loss before the object is left lost.
        tracker: the object tracker's thresholds and weights (``ObjectParams``); in a file, a
            mapping of the ones to change.
    """

    model: str = _option("FastSAM-s", "FastSAM-s, FastSAM-x, fastsam-tiny (built in) or a checkpoint path")
    imgsz: int = _option(640, "longer side of the network input, a multiple of 32 up to 4096")
    conf: float = _option(0.4, "minimum segment confidence")
    iou: float = _option(0.9, "NMS IoU threshold")
    max_det: int = _option(300, "most segments per frame")
    device: str = _option("auto", "auto, cpu, cuda or cuda:N")
    backend: str = _option(
        "auto",
        "network runtime: auto is torch on CUDA, else OpenVINO when installed, else torch; "
        "exported models are made once and cached",
    )
    precision: str = _option(
        "auto",
        "auto (each runtime's own, OpenVINO bf16 where the CPU has it) or int8 (OpenVINO quantized with NNCF "
        "on calibration frames, made once per input shape and calibration set and cached; needs the openvino extra)",
    )
    calibration: str | None = _option(
        None,
        "with --precision int8: a video file or folder of images to calibrate on (default: the source's first frames)",
    )
    calibration_frames: int = _option(30, "with --precision int8: frames to calibrate on")
    threads: int | None = _option(None, "CPU threads of the network runtime (default: all cores)")
    vid_stride: int = _option(1, "process every n-th frame")
    keyframe_every: int | None = _option(
        None, "run the network on every n-th frame; between, segments and objects move with the optical flow (1)"
    )
    keyframe: str = _option(
        "every",
        "every (a keyframe every --keyframe-every frames) or auto (also when the optical flow fails to explain a "
        "frame, fast or deforming motion, or a prompted object goes unconfirmed; at least every --keyframe-every "
        "frames, default 4)",
    )
    reconnect_limit: int = _option(10, "failed reconnections of a camera or stream before giving up (0: never)")
    opacity: float = 0.5
    contour_thickness: int = 2
    crf: int = 23
    preset: str = "veryfast"
    smooth: int = _option(0, "morphological close/open of prompted masks, in mask cells")
    clip_model: str = _option(CLIP_MODEL, "open-clip model for --text")
    clip_pretrained: str = _option(CLIP_PRETRAINED, "its pretrained tag or a weights file")
    text_retry_every: int = 15
    text_retry_limit: int = 8
    tracker: ObjectParams = dataclasses.field(default_factory=ObjectParams)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check_type(field.name, getattr(self, field.name), field.type)
        check_imgsz(self.imgsz)
        _check(0.0 <= self.conf <= 1.0, "conf", self.conf, "between 0 and 1")
        _check(0.0 <= self.iou <= 1.0, "iou", self.iou, "between 0 and 1")
        _check(self.max_det >= 1, "max_det", self.max_det, "1 or more")
        _check(self.backend in BACKENDS, "backend", self.backend, f"one of {', '.join(BACKENDS)}")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        _check(self.calibration_frames >= 1, "calibration_frames", self.calibration_frames, "1 or more")
        _check(
            self.calibration is None or self.precision == "int8",
            "calibration",
            self.calibration,
            "null unless precision is int8 (it calibrates the int8 network)",
        )
        _check(self.threads is None or self.threads >= 1, "threads", self.threads, "1 or more, or null")
        _check(self.vid_stride >= 1, "vid_stride", self.vid_stride, "1 or more")
        _check(
            self.keyframe_every is None or self.keyframe_every >= 1, "keyframe_every", self.keyframe_every, "1 or more"
        )
        _check(self.keyframe in KEYFRAME_MODES, "keyframe", self.keyframe, f"one of {', '.join(KEYFRAME_MODES)}")
        _check(self.reconnect_limit >= 0, "reconnect_limit", self.reconnect_limit, "0 (never give up) or more")
        _check(0.0 <= self.opacity <= 1.0, "opacity", self.opacity, "between 0 and 1")
        _check(self.contour_thickness >= 0, "contour_thickness", self.contour_thickness, "0 or more")
        _check(0 <= self.crf <= 51, "crf", self.crf, "between 0 and 51")
        _check(self.smooth >= 0, "smooth", self.smooth, "0 or more")
        _check(self.text_retry_every >= 1, "text_retry_every", self.text_retry_every, "1 or more")
        _check(self.text_retry_limit >= 0, "text_retry_limit", self.text_retry_limit, "0 or more")
        _check(self.preset in _X264_PRESETS, "preset", self.preset, f"one of {', '.join(_X264_PRESETS)}")


_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "int | None": (int, type(None)),
    "str | None": (str, type(None)),
    "ObjectParams": (ObjectParams,),
}


def check_imgsz(imgsz: int) -> None:
    """Raise ``ConfigError`` unless ``imgsz`` is a network input side: a positive multiple of 32 up to ``MAX_IMGSZ``.

    Example:
        >>> check_imgsz(100)
        Traceback (most recent call last):
        ...
        fastsam_track.errors.ConfigError: imgsz must be a positive multiple of 32 up to 4096, got 100
    """
    _check(0 < imgsz <= MAX_IMGSZ and imgsz % 32 == 0, "imgsz", imgsz, f"a positive multiple of 32 up to {MAX_IMGSZ}")


def _check_type(key: str, value: Any, annotation: Any) -> None:
    allowed = _TYPES[str(annotation)]
    # bool is an int in Python, but `imgsz: true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, allowed):
        expected = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
        raise ConfigError(f"{key} must be {expected}, got {type(value).__name__} {shown(value)}")


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {expected}, got {shown(value)}")


def _read_yaml(source: str | Path) -> dict[str, Any]:
    path = _PRESET_DIR / f"{source}.yaml" if str(source) in PRESETS else Path(source)
    if not path.is_file():
        raise ConfigError(f"config {str(source)!r} is neither a file nor a preset ({', '.join(PRESETS)})")
    try:
        data = load_yaml(read_text(path)) or {}
    except DocumentError as error:  # too large or deep, an alias bomb, bad UTF-8, not YAML
        raise ConfigError(f"config {str(path)!r}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {str(path)!r} must be a mapping of keys to values, got {type(data).__name__}")
    return data


def load_config(source: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Build a ``RunConfig`` from defaults, then a preset or YAML file, then ``overrides``.

    Args:
        source: a preset name (see ``PRESETS``) or the path of a YAML file; None for defaults.
        overrides: values that win over the file (None values are ignored).

    Raises:
        ConfigError: unreadable file, unknown key, wrong type or out-of-range value.
    """
    values = _read_yaml(source) if source is not None else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    valid = [f.name for f in dataclasses.fields(RunConfig)]
    unknown = sorted(set(values) - set(valid), key=str)
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r}; valid keys: {', '.join(valid)}")
    if "tracker" in values and not isinstance(values["tracker"], ObjectParams):
        values["tracker"] = ObjectParams.from_mapping(values["tracker"] or {})
    return RunConfig(**values)
