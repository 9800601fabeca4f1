"""How small a grey copy the optical flow can run on: J of the truth carried one frame, and ms.

    python benchmarks/flow_width.py --data /work/davis --configs 320:2:1 160:1:0 240:1:0

Each config is ``WIDTH:FAST:FINE``: the grey copy's width and the finest pyramid level DIS
searches at for the keyframe flow (fast preset) and the carried frames' finer flow (medium
preset without refinement); 320:2:1 is ``FrameFlow``'s default (the presets' own levels at 320
wide), 160:1:0 the same search over a copy of half the width.

For every DAVIS training sequence and frame t >= 1, the ground truth of frame t-1 on the
90x160 mask grid is moved to frame t by ``FrameFlow``'s flow (``flow.warp``) and scored
against the truth of frame t (J, the mask IoU, on the grid; frames where both are empty
are left out). Mean J over all frames of all sequences, for the keyframe flow (DIS fast
preset) and the carried frames' finer flow, with the ``FrameFlow.update`` ms per frame
(median).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from davis_streams import grid_shape, to_grid

from fastsam_track.trackers.flow import FrameFlow, warp


def carried_j(data: Path, width: int, finest: int, fine: bool) -> tuple[float, float]:
    """Mean J of the truth carried one frame by the flow at ``width`` searching down to pyramid level ``finest``
    (``fine``: the finer flow), and the median ms of ``update``."""
    scores, times = [], []
    for folder in sorted((data / "JPEGImages" / "480p").iterdir()):
        flow = FrameFlow(width=width)
        (flow._fine if fine else flow._dis).setFinestScale(finest)  # a benchmark may reach in
        last: np.ndarray | None = None
        for path in sorted(folder.glob("*.jpg")):
            image = cv2.imread(str(path))
            grid = grid_shape(image.shape[:2])
            truth = to_grid(
                cv2.imread(str(path).replace("JPEGImages", "Annotations").replace(".jpg", ".png"), 0) > 0, grid
            )
            started = time.perf_counter()
            cues = flow.update(image, grid, fine)
            times.append((time.perf_counter() - started) * 1000)
            if last is not None:
                moved = warp(last[None], cues.flow)[0]
                union = (moved | truth).sum()
                if union:
                    scores.append((moved & truth).sum() / union)
            last = truth
    return float(np.mean(scores)), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="DAVIS 2016 training data (davis_data.py)")
    parser.add_argument("--configs", nargs="+", default=["320:2:1", "160:1:0"], help="WIDTH:FAST:FINE")
    args = parser.parse_args()
    print(
        "| grey copy width | finest levels | J, keyframe flow | ms | J, finer flow (carried frames) | ms |\n"
        "|---|---|---|---|---|---|"
    )
    for config in args.configs:
        width, fast_level, fine_level = (int(part) for part in config.split(":"))
        fast, fast_ms = carried_j(args.data, width, fast_level, fine=False)
        fine, fine_ms = carried_j(args.data, width, fine_level, fine=True)
        print(f"| {width} | {fast_level}, {fine_level} | {fast:.4f} | {fast_ms:.2f} | {fine:.4f} | {fine_ms:.2f} |")


if __name__ == "__main__":
    main()
