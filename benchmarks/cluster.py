"""The cluster path (Ray: a segmenter actor, a camera actor per source) against the single-process
multi-source path (one process, one batched model), on this machine, side by side in one run.

    unshare -rn sh -c 'ip link set lo up && python benchmarks/cluster.py'

(Ray binds to the machine's network interface: the benchmark runs in a network namespace
holding only loopback, and refuses to run outside one.) For 1, 2, 4 and 8 sources, each a
generated 640x360 clip, the built-in model at imgsz 640 with 2 threads segments every frame
and each source writes its MOTS tracks; both paths get the same sources, settings and
outputs. Reported: frames per second of all sources together, each source's fps, the
median frame age (decoded to written) of each source, the mean batch; and the cost Ray adds
per frame: a round trip of a frame to an actor on this machine and its segments back (an
actor that answers with a ready result), against the same call in-process.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402
from report import spread, write_section  # noqa: E402  (benchmarks/ is not a package)

SETTINGS = {"model": "fastsam-tiny", "imgsz": 640, "conf": 0.25, "device": "cpu", "backend": "torch", "threads": 2}


def _clips(folder: Path, count: int, frames: int) -> list[Path]:
    from tests.conftest import write_clip

    return [write_clip(folder / f"cam{n}.mp4", frames=frames, height=360, width=640, seed=n) for n in range(count)]


def _single_process(clips: list[Path], out: Path) -> dict[str, Any]:
    from fastsam_track.configs import load_config
    from fastsam_track.pipeline.build import Outputs, build

    outputs = Outputs(save_tracks=out if len(clips) > 1 else out / f"{clips[0].stem}.txt")
    out.mkdir(parents=True, exist_ok=True)
    with build(load_config(overrides=SETTINGS), [str(c) for c in clips], outputs=outputs) as pipeline:
        started = time.perf_counter()
        stats = pipeline.run()
        wall = time.perf_counter() - started
        batches = getattr(pipeline.segment, "batches", None)
    return {
        "fps": sum(s.frames for s in stats) / wall,
        "source_fps": [s.fps for s in stats],
        "ages": [s.age_ms()["median"] for s in stats],
        "batch": None if not batches else float(np.mean(batches)),
    }


def _cluster(clips: list[Path], out: Path, ray: Any) -> dict[str, Any]:
    from fastsam_track.cluster import fleet_from_data, start_fleet

    cameras = [{"name": c.stem, "source": str(c), "save_tracks": str(out / f"{c.stem}.txt")} for c in clips]
    fleet = fleet_from_data({"settings": SETTINGS, "camera_cpus": 0.1, "cameras": cameras}, out)
    with start_fleet(fleet, name=f"bench-{len(clips)}-{time.monotonic_ns()}") as running:
        batches: list[float] = []
        while not ray.get(running.controller.ended_all.remote()):
            segmenter = running.status()["segmenters"][0]
            if segmenter.get("batch"):
                batches.append(segmenter["batch"])
            time.sleep(0.5)
        final = running.status()["cameras"]
    wall = max(c["seconds"] for c in final)
    return {
        "fps": sum(c["frames"] for c in final) / wall,
        "source_fps": [c["frames"] / c["seconds"] for c in final],
        "ages": [c["age_ms"] for c in final],
        "batch": float(np.mean(batches)) if batches else None,
        "stage_ms": final[0].get("stage_ms", {}),
    }


class _Echo:
    """An actor that answers every frame with the same ready segments: a round trip with no model."""

    def __init__(self, segments: Any):
        self.segments = segments

    def segment(self, camera: str, image: np.ndarray) -> Any:
        return self.segments


def _round_trip(ray: Any, clip: Path, calls: int) -> tuple[list[float], list[float], int]:
    """Milliseconds of a frame to an actor and its segments back, against the same call in-process."""
    from fastsam_track.pipeline.model.segmenter import Segmenter
    from fastsam_track.pipeline.sources import open_source

    image = next(iter(open_source(str(clip)))).image
    segments = Segmenter("fastsam-tiny", imgsz=640, conf=0.25, device="cpu", backend="torch")(image)
    echo = ray.remote(_Echo).options(num_cpus=0).remote(segments)
    local = _Echo(segments)
    ray.get(echo.segment.remote("bench", image))
    remote_ms, local_ms = [], []
    for _ in range(calls):
        started = time.perf_counter()
        ray.get(echo.segment.remote("bench", image))
        remote_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        local.segment("bench", image)
        local_ms.append((time.perf_counter() - started) * 1000)
    return remote_ms, local_ms, len(segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--frames", type=int, default=60, help="frames of each source's clip")
    parser.add_argument("--calls", type=int, default=200, help="round trips measured")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave benchmarks/README.md")
    args = parser.parse_args()
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        raise SystemExit(
            "run me in a network namespace holding only loopback: unshare -rn sh -c 'ip link set lo up && ...'"
        )
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, object_store_memory=400_000_000)
    rows = [
        "| sources | path | fps, all sources | fps per source | frame age ms per source | mean batch |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = _clips(folder, max(args.sources), args.frames)
        remote_ms, local_ms, count = _round_trip(ray, clips[0], args.calls)
        camera_ms: dict[str, float] = {}
        for n in args.sources:
            for path in ("single process", "cluster (Ray)"):
                if path == "single process":
                    result = _single_process(clips[:n], folder / f"single-{n}")
                else:
                    result = _cluster(clips[:n], folder / f"cluster-{n}", ray)
                    camera_ms = camera_ms or result["stage_ms"]
                batch = "-" if result["batch"] is None else f"{result['batch']:.1f}"
                rows.append(
                    f"| {n} | {path} | {result['fps']:.1f} | {spread(result['source_fps'])} | "
                    f"{spread(result['ages'], 0)} | {batch} |"
                )
                print(rows[-1], flush=True)
    ray.shutdown()
    table = "\n".join(
        [
            *rows,
            "",
            f"Ray's cost per frame: a 640x360 frame to an actor on this machine and its {count} segments back, "
            f"{spread(remote_ms, 2)} ms over {args.calls} calls, against {spread(local_ms, 3)} ms in-process. "
            "A camera actor's own work per frame (one source; each stage on its own thread): "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in camera_ms.items() if k != "segment")
            + f"; its wait for the segmenter's answer {camera_ms.get('segment', 0.0):.1f} ms.",
        ]
    )
    print(table)
    if not args.no_write:
        write_section("cluster", table)
        figures.cluster(table)


if __name__ == "__main__":
    main()
