"""Untrained FastSAM architectures from ultralytics' yaml, for timing and tests without downloads.

FastSAM-s is YOLOv8s-seg and FastSAM-x is YOLOv8x-seg, both with one class. Random
weights cost the same time as trained ones, so these stand in for the real checkpoints
wherever speed, not quality, is measured.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ARCHITECTURES", "save_untrained_checkpoint"]

ARCHITECTURES = {"fastsam-s": "yolov8s-seg.yaml", "fastsam-x": "yolov8x-seg.yaml", "yolov8n-seg": "yolov8n-seg.yaml"}


def save_untrained_checkpoint(architecture: str, path: str | Path, seed: int = 0) -> Path:
    """Write a randomly initialised one-class segmentation checkpoint that ``Segmenter`` loads.

    Args:
        architecture: a key of ``ARCHITECTURES`` or any ultralytics model yaml name.
        path: where to write the ``.pt`` file.
        seed: torch seed for the initial weights.

    Returns:
        The path written.
    """
    import torch
    from ultralytics.nn.tasks import SegmentationModel

    torch.manual_seed(seed)
    model = SegmentationModel(ARCHITECTURES.get(architecture, architecture), nc=1, verbose=False)
    model.names = {0: "object"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.half(), "train_args": {"task": "segment"}}, path)
    return path
