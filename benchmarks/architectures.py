"""Untrained FastSAM architectures from ultralytics' yaml, for timing and tests without downloads.

FastSAM-s is YOLOv8s-seg and FastSAM-x is YOLOv8x-seg, both with one class. Random
weights cost the same time as trained ones, so these stand in for the real checkpoints
wherever speed, not quality, is measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ARCHITECTURES", "save_untrained_checkpoint"]

ARCHITECTURES = {"fastsam-s": "yolov8s-seg.yaml", "fastsam-x": "yolov8x-seg.yaml", "yolov8n-seg": "yolov8n-seg.yaml"}


def save_untrained_checkpoint(architecture: str, path: str | Path, seed: int = 0, class_bias: float = 0.0) -> Path:
    """Write a randomly initialised one-class segmentation checkpoint that ``Segmenter`` loads.

    Args:
        architecture: a key of ``ARCHITECTURES`` or any ultralytics model yaml name.
        path: where to write the ``.pt`` file.
        seed: torch seed for the initial weights.
        class_bias: added to the bias of the class logits. Untrained heads score every
            anchor near 0.003; a bias of 5 lifts the best ones to about 0.5, as a trained
            model scores its segments, for code that treats low scores differently (the
            trackers behind ultralytics' ``track`` ignore detections under 0.1). The
            ranking of anchors, and so the masks, stay the same.

    Returns:
        The path written.
    """
    import torch
    from ultralytics.nn.tasks import SegmentationModel

    torch.manual_seed(seed)
    model = SegmentationModel(ARCHITECTURES.get(architecture, architecture), nc=1, verbose=False)
    model.names = {0: "object"}
    head: Any = model.model[-1]  # type: ignore[index]
    with torch.no_grad():
        for branch in head.cv3:  # the Detect head's class branch, one per stride
            branch[-1].bias += class_bias
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.half(), "train_args": {"task": "segment"}}, path)
    return path
