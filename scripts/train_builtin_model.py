"""Train the built-in ``fastsam-tiny`` model: a YOLOv8n-seg (one class, 32 prototypes) on generated scenes.

Reproducible: the scenes are seeded, the trainer is seeded and deterministic. On a 2-core
CPU the default settings take under an hour. The result is copied to
``fastsam_track/weights/fastsam-tiny.pt`` and its held-out mask mAP is printed and written
to ``<workdir>/metrics.json`` for the model card.

Usage:
    python scripts/train_builtin_model.py --workdir /tmp/fastsam-tiny --hours 0.8
    # optionally a second stage from the first one's weights, with a fresh schedule:
    python scripts/train_builtin_model.py --workdir /tmp/fastsam-tiny-2 --init /tmp/fastsam-tiny/run/weights/last.pt \
        --hours 1.1 --warmup-epochs 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from fastsam_track.synthetic import random_background, random_shape, render_scene

WEIGHTS = Path(__file__).resolve().parents[1] / "fastsam_track" / "weights" / "fastsam-tiny.pt"
# Scene sizes: square, 4:3 and 16:9, so the model sees the letterboxes that video gives it.
SIZES = ((320, 320), (240, 320), (180, 320))


def _polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Outer contours of a bool (H, W) mask as (K, 2) float arrays, largest first."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted((c.reshape(-1, 2) for c in contours if len(c) >= 3), key=len, reverse=True)
    return [c.astype(np.float32) for c in contours]


def write_split(root: Path, split: str, count: int, seed: int) -> None:
    """Write ``count`` scenes with YOLO segmentation labels under ``root/images|labels/split``."""
    from ultralytics.data.converter import merge_multi_segment

    rng = np.random.default_rng(seed)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        height, width = SIZES[rng.integers(len(SIZES))]
        shapes = [random_shape(rng, height, width, size=(0.06, 0.3)) for _ in range(rng.integers(3, 13))]
        image, masks = render_scene(random_background(rng, height, width), shapes)
        lines = []
        for mask in masks:
            parts = _polygons(mask)
            if not parts:
                continue
            # Occlusion can cut a shape in pieces; ultralytics' label format wants one polygon.
            polygon = (
                np.concatenate(merge_multi_segment([p.reshape(-1) for p in parts]), 0) if len(parts) > 1 else parts[0]
            )
            normalised = (polygon / np.array([width, height], np.float32)).clip(0, 1).reshape(-1)
            lines.append("0 " + " ".join(f"{v:.5f}" for v in normalised))
        cv2.imwrite(str(root / "images" / split / f"{i:05d}.png"), image)
        (root / "labels" / split / f"{i:05d}.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fastsam-tiny"))
    parser.add_argument("--train-images", type=int, default=1000)
    parser.add_argument("--val-images", type=int, default=100)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hours", type=float, default=0.8, help="wall-clock cap; the schedule is fitted to it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, help="start from this checkpoint (a second stage) instead of scratch")
    parser.add_argument("--warmup-epochs", type=float, default=3.0)
    args = parser.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    data_root = args.workdir / "data"
    if not (data_root / "images" / "val").exists():
        write_split(data_root, "train", args.train_images, args.seed)
        write_split(data_root, "val", args.val_images, args.seed + 1)
    yaml_path = args.workdir / "data.yaml"
    yaml_path.write_text(f"path: {data_root}\ntrain: images/train\nval: images/val\nnames:\n  0: object\n")

    from ultralytics import YOLO

    model = YOLO(str(args.init) if args.init else "yolov8n-seg.yaml")
    started = time.monotonic()
    model.train(
        data=str(yaml_path),
        imgsz=args.imgsz,
        epochs=args.epochs,
        time=args.hours,
        batch=16,
        workers=1,
        device="cpu",
        pretrained=False,
        warmup_epochs=args.warmup_epochs,
        amp=False,
        plots=False,
        seed=args.seed,
        deterministic=True,
        project=str(args.workdir),
        name="run",
        exist_ok=True,
        single_cls=True,
    )
    minutes = (time.monotonic() - started) / 60
    best = args.workdir / "run" / "weights" / "best.pt"
    metrics = YOLO(str(best)).val(data=str(yaml_path), imgsz=args.imgsz, batch=16, device="cpu", plots=False)
    summary = {
        "train_minutes": round(minutes, 1),
        "mask_map50": round(float(metrics.seg.map50), 4),
        "mask_map50_95": round(float(metrics.seg.map), 4),
        "box_map50": round(float(metrics.box.map50), 4),
        "train_images": args.train_images,
        "val_images": args.val_images,
        "imgsz": args.imgsz,
        "seed": args.seed,
        "init": str(args.init) if args.init else None,
    }
    (args.workdir / "metrics.json").write_text(json.dumps(summary, indent=2))
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(best, WEIGHTS)
    print(json.dumps(summary, indent=2))
    print(f"weights: {WEIGHTS}")


if __name__ == "__main__":
    main()
