"""What a text prompt costs: CLIP on every mask of one 720p frame, and over a 100-frame video.

    python benchmarks/text_prompt.py --masks 50 --repeats 5

One process, one generated 1280x720 frame with ``--masks`` segments. Per prompt: cutting
the crops (masked and blanked, ours; plain box crops, ultralytics'), the CLIP image pass
over all crops in one batch, and the text pass. Over a video: FastSAM's way re-runs the
prompt on every frame; ours runs it once and rides on the tracker, plus at most one search
per ``retry_every`` frames while the object is lost (the worst case is counted: lost for
the whole clip after its first frame). CLIP is the default model's architecture with
random weights (its weights cannot be downloaded here; time does not depend on them).
Needs ``pip install -e ".[text]"``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from fastsam_track.masks import masked_crops
from fastsam_track.pipeline.model.clip import DEFAULT_MODEL, ClipEmbedder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import spread, write_section


def _segments(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(count, 90, 160) bool masks of random ellipses on the 720p mask grid and their (count, 4) boxes."""
    import cv2

    masks = np.zeros((count, 90, 160), np.uint8)
    for mask in masks:
        centre = (int(rng.integers(10, 150)), int(rng.integers(10, 80)))
        axes = (int(rng.integers(3, 30)), int(rng.integers(3, 20)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    boxes = np.zeros((count, 4), np.float32)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        boxes[i] = [xs.min() * 8, ys.min() * 8, (xs.max() + 1) * 8, (ys.max() + 1) * 8]
    return masks.astype(bool), boxes


def _box_crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Ultralytics' text-prompt crops: the plain box, resized (no blanking)."""
    import cv2

    return np.stack([cv2.resize(image[int(y1) : int(y2), int(x1) : int(x2)], (size, size)) for x1, y1, x2, y2 in boxes])


def _time(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masks", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=100, help="video length for the per-video rows")
    parser.add_argument("--retry-every", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    masks, boxes = _segments(args.masks, rng)
    clip = ClipEmbedder(DEFAULT_MODEL, "random")
    crops = masked_crops(image[..., ::-1], masks, boxes, clip.size)
    texts = iter(f"a photo of thing number {i}" for i in range(10 * (args.repeats + 1)))
    ours = {
        "crops, masked and blanked (ours)": _time(lambda: masked_crops(image, masks, boxes, clip.size), args.repeats),
        f"CLIP image pass, {args.masks} crops in one batch": _time(lambda: clip.embed_images(crops), args.repeats),
        "CLIP text pass, one new text": _time(lambda: clip.embed_texts([next(texts)]), args.repeats),
    }
    per_prompt = [sum(parts) for parts in zip(*ours.values(), strict=True)]
    rows = {
        **ours,
        "crops, plain boxes (ultralytics)": _time(lambda: _box_crops(image, boxes, clip.size), args.repeats),
        "**one text prompt (ours: masked crops + image + text)**": per_prompt,
    }
    searches = (args.frames - 1) // args.retry_every
    rows[f"{args.frames} frames, FastSAM's way: the prompt on every frame"] = [t * args.frames for t in per_prompt]
    rows[f"{args.frames} frames, ours: once, plus {searches} searches if lost throughout"] = [
        t * (1 + searches) for t in per_prompt
    ]
    table = "\n".join(
        [
            f"`python benchmarks/text_prompt.py --masks {args.masks} --repeats {args.repeats}` on "
            f"{os.cpu_count()} CPU cores: CLIP {DEFAULT_MODEL} (224x224 crops), 1280x720 frame, "
            f"{args.masks} masks; ms, median (min-max) of {args.repeats} runs.",
            "",
            "| step | ms |",
            "|---|---|",
            *[f"| {name} | {spread(times, 0)} |" for name, times in rows.items()],
        ]
    )
    print(table)
    if not args.no_write:
        write_section("text_prompt", table)


if __name__ == "__main__":
    main()
