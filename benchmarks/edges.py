"""How close drawn and exported masks come to ultralytics' retina masks, and what drawing them costs.

    python benchmarks/edges.py --seeds 3 --frames 4 --conf 0.05

The built-in model (``fastsam-tiny``) segments everything on generated scenes
(``SyntheticClip``, 8 shapes) at 1280x720 and 640x360, network input 640, confidence 0.05
(crowded frames: drawing costs per mask). Each segment's
full-resolution mask as the renderer paints it and the mask and track exports write it
(``label_map``, one segment at a time, so that overlaps do not hide what is measured) is
compared with the same segment's mask made by ultralytics' ``process_mask_native``
(``retina_masks=True``: logits upsampled to the frame, cut to the box, thresholded) from the
same prototypes, coefficients and boxes:

- before: the binary masks at prototype resolution upsampled (what was drawn until now);
- after: the quantized logits (``data["logits"]``) upsampled, thresholded and cut to the
  box (``xyxy + data["cut"]``).

J (IoU) and boundary F are vos-benchmark's (DAVIS' ``f_boundary``), per segment and frame,
averaged; F at DAVIS' tolerance (0.008 of the diagonal: 12 px at 720p) and at 1 px. Render
time is ``SegmentRenderer.render`` on the same frames, before and after interleaved in one
run: median (min-max) ms per frame, and the median ratio of each render to the one before
it on the same frame. Needs ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import supervision as sv

from fastsam_track.masks import label_map, levels_of
from fastsam_track.pipeline.model.segmenter import Segmenter
from fastsam_track.pipeline.outputs.render import SegmentRenderer
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.types import CUT, LOGITS, Frame, SegmentedFrame

README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- edges:begin -->", "<!-- edges:end -->"
SIZES = ((720, 1280), (360, 640))
MODES = ("before", "after")


def retina_masks(segmenter: Segmenter, image: np.ndarray) -> tuple[sv.Detections, np.ndarray]:
    """Our segments of ``image`` and, row for row, ultralytics' retina masks of the same candidates.

    Returns:
        The segments (``Segmenter.__call__``) and (N, H, W) bool ``process_mask_native`` masks.
    """
    import torch
    from ultralytics.utils.ops import process_mask_native, scale_boxes

    geometry, predictions, protos = segmenter._infer([image])
    kept = predictions[0]
    segments = segmenter._assemble(kept, protos[0], geometry, image)
    with torch.inference_mode():
        boxes = scale_boxes(geometry.input_shape, kept[:, :4].clone(), image.shape[:2])
        retina = process_mask_native(protos[0], kept[:, 6:], boxes, image.shape[:2]).bool().cpu().numpy()
    # The segmenter drops candidates whose mask is empty at prototype resolution, keeping the order:
    # match its rows to the candidates by confidence, in order.
    scores = kept[:, 4].float().cpu().numpy()
    rows, candidate = [], 0
    for score in np.asarray(segments.confidence):
        while scores[candidate] != score:
            candidate += 1
        rows.append(candidate)
        candidate += 1
    return segments, retina[rows]


def scores(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """J, F (DAVIS tolerance) and F (1 px) of an (H, W) bool mask against a reference."""
    from vos_benchmark.evaluator import Evaluator

    diagonal = float(np.hypot(*ours.shape))
    out: dict[str, float] = {}
    for name, boundary in (("F", 0.008), ("F 1px", 0.999 / diagonal)):  # 0.999: ceil() gives 1 px, not 2
        evaluator = Evaluator(boundary=boundary)
        evaluator.feed_frame(ours.astype(np.uint8), reference.astype(np.uint8))
        out["J"], out[name] = float(evaluator.object_iou[1][0]), float(evaluator.boundary_f[1][0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="generated clips per frame size")
    parser.add_argument("--frames", type=int, default=4, help="frames per clip (10 apart)")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--conf", type=float, default=0.05, help="low, for crowded frames: drawing costs per mask")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not update README.md")
    args = parser.parse_args()

    segmenter = Segmenter("fastsam-tiny", imgsz=args.imgsz, conf=args.conf, device="cpu")
    renderer = SegmentRenderer()
    quality: dict[tuple[tuple[int, int], str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    times: dict[tuple[tuple[int, int], str], list[float]] = defaultdict(list)
    masks_per_frame: dict[tuple[int, int], list[int]] = defaultdict(list)
    grids: dict[tuple[int, int], tuple[int, int]] = {}
    for shape in SIZES:
        for seed in range(args.seeds):
            clip = SyntheticClip(height=shape[0], width=shape[1], num_shapes=8, seed=100 + seed)
            for index in range(0, 10 * args.frames, 10):
                image = clip.frame(index)[0]
                segments, retina = retina_masks(segmenter, image)
                masks_per_frame[shape].append(len(segments))
                grids[shape] = np.asarray(segments.mask).shape[1:]
                binary = dataclasses.replace(
                    segments, data={k: v for k, v in segments.data.items() if k not in (LOGITS, CUT)}
                )
                drawn = {"before": binary, "after": segments}
                for mode in MODES:
                    levels = levels_of(drawn[mode])
                    boxes = drawn[mode].xyxy + drawn[mode].data[CUT] if CUT in drawn[mode].data else None
                    for i in range(len(segments)):
                        cut = None if boxes is None else boxes[i : i + 1]
                        ours = label_map(levels[i : i + 1], shape, np.array([1]), cut) > 0
                        for name, value in scores(ours, retina[i]).items():
                            quality[shape, mode][name].append(value)
                frame = Frame(index, image, 0.0)
                for _ in range(5):
                    for mode in MODES:
                        start = time.perf_counter()
                        renderer.render(SegmentedFrame(frame, drawn[mode]))
                        times[shape, mode].append(1000 * (time.perf_counter() - start))

    rows = []
    for shape in SIZES:
        for mode in MODES:
            q = {name: statistics.mean(values) for name, values in quality[shape, mode].items()}
            ms = times[shape, mode]
            # Paired: each render against the one before it on the same frame, so load on the machine cancels.
            ratio = statistics.median(a / b for a, b in zip(ms, times[shape, "before"], strict=True))
            rows.append(
                f"| {shape[1]}x{shape[0]} ({grids[shape][1]}x{grids[shape][0]} grid) | {mode} | "
                f"{q['J']:.4f} | {q['F']:.4f} | {q['F 1px']:.4f} | "
                f"{statistics.median(ms):.1f} ({min(ms):.1f}-{max(ms):.1f}) | {ratio:.2f} | "
                f"{statistics.mean(masks_per_frame[shape]):.0f} |"
            )
    table = "\n".join(
        [
            f"`python benchmarks/edges.py --seeds {args.seeds} --frames {args.frames} --conf {args.conf}`: "
            f"fastsam-tiny at imgsz {args.imgsz}, {args.seeds} generated clips x {args.frames} frames per size, "
            "each segment's full-resolution mask against ultralytics' "
            "`process_mask_native` (retina) masks from the same prototypes; J and boundary F from vos-benchmark, "
            "mean over segments and frames; render: median (min-max) ms per frame over 5 renders of each frame, "
            "before and after interleaved; x before: median of the paired ratios.",
            "",
            "| frame | masks | J vs retina | F vs retina | F 1px vs retina | render ms | x before | masks/frame |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if not args.no_write:
        text = README.read_text()
        head, rest = text.split(BEGIN, 1)
        README.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}")


if __name__ == "__main__":
    main()
