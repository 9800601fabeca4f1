"""Model names to checkpoint files: the built-in model, FastSAM-s/-x, or a local path."""

from __future__ import annotations

from pathlib import Path

from fastsam_track.errors import ModelError

__all__ = ["BUILTIN_MODEL", "ModelError", "resolve_weights"]

BUILTIN_MODEL = "fastsam-tiny"
_WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
_BUILTIN = {BUILTIN_MODEL: _WEIGHTS_DIR / "fastsam-tiny.pt"}
# The FastSAM releases ultralytics downloads on demand.
_DOWNLOADABLE = {"fastsam-s": "FastSAM-s.pt", "fastsam-x": "FastSAM-x.pt"}


def resolve_weights(model: str | Path) -> Path:
    """Find the checkpoint file for a model name or path.

    Args:
        model: ``fastsam-tiny`` (shipped with the package), ``FastSAM-s`` / ``FastSAM-x``
            (with or without ``.pt``; downloaded by ultralytics when online), or the path of
            a YOLOv8/YOLO11 segmentation checkpoint.

    Returns:
        The path of an existing ``.pt`` file.

    Raises:
        ModelError: the file does not exist or cannot be downloaded.

    Example:
        >>> resolve_weights("fastsam-tiny").name
        'fastsam-tiny.pt'
    """
    key = str(model).lower().removesuffix(".pt")
    if key in _BUILTIN:
        return _BUILTIN[key]
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if key in _DOWNLOADABLE and path.parent == Path("."):
        return _download(_DOWNLOADABLE[key])
    raise ModelError(
        f"model {str(model)!r} not found: give an existing checkpoint path, FastSAM-s, FastSAM-x "
        f"or the built-in {BUILTIN_MODEL!r}"
    )


def _download(filename: str) -> Path:
    from ultralytics.utils.downloads import attempt_download_asset

    try:
        found = Path(attempt_download_asset(filename))
    except Exception as error:  # ultralytics raises whatever its HTTP client raised
        raise ModelError(_offline_message(filename)) from error
    if not found.is_file():
        raise ModelError(_offline_message(filename))
    return found


def _offline_message(filename: str) -> str:
    return (
        f"could not download {filename} (no network?): use the built-in model with "
        f"--model {BUILTIN_MODEL}, or --model PATH to a local checkpoint"
    )
