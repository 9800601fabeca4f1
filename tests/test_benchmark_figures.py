"""Each benchmark figure drawn from a tiny table of its benchmark's shape, and from the README's own tables."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import figures  # noqa: E402  (benchmarks/ is not a package)

SPEED = """
| model | what | network input | ms/frame | fps |
|---|---|---|---|---|
| realistic masks, replayed | **ours**, everything mode, no network | none | 18.7 (16.6-21.0) | 53.5 |
| FastSAM-s arch. | network alone, openvino | 384x640 | 70.8 (69.7-79.8) | 14.1 |
| FastSAM-s | ultralytics FastSAM.track, defaults (ours 8.5x faster: openvino) | 384x640 | 310.0 (262.1-361.3) | 3.2 |
"""
REAL_FOOTAGE = """
| profile | half | prompt | J ours | J oracle |
|---|---|---|---|---|
| default | tuning (15) | point | 0.806 | 0.708 |

| profile | half | sequence | prompt | J ours | J fixed prompt | J oracle | F ours |
|---|---|---|---|---|---|---|---|
| default | tuning | bear | point | 0.936 | 0.727 | 0.792 | 0.975 |
| default | tuning | bear | box | 0.936 | 0.731 | 0.792 | 0.975 |
| default | checking | boat | point | 0.637 | 0.370 | 0.727 | 0.581 |
| harsh | checking | swing | point | 0.337 | 0.370 | 0.727 | 0.581 |
"""
KEYFRAMES = """
| profile | half | prompt | run | J every frame | K=2: network | J | x every | worst | < 0.9 | runs < 0.9 \
| auto: network | J | x every | worst | < 0.9 | runs < 0.9 |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
| default | tuning (15) | box | CLI | 0.806 | 50% | 0.778 | **0.965** | 0.676 (mallard-fly) | 1 | 1 \
| 39% | 0.760 | **0.942** | 0.674 (soccerball) | 3 | 3 |
| harsh | checking (15) | box | CLI | 0.638 | 50% | 0.615 | **0.963** | 0.507 (swing) | 6 | 6 \
| 33% | 0.557 | **0.872** | 0.444 (swing) | 6 | 6 |

**Every sequence**

| profile | half | sequence | prompt | J every frame | K=2 | auto | auto: network |
|---|---|---|---|---|---|---|---|
| default | tuning | bear | box | 0.936 | 0.993 | 0.974 | 27% |
"""
CLUSTER = """
| sources | path | fps, all sources | fps per source |
|---|---|---|---|
| 1 | single process | 11.9 | 11.9 (11.9-11.9) |
| 1 | cluster (Ray) | 10.5 | 10.5 (10.5-10.5) |
| 2 | single process | 14.4 | 7.2 (7.2-7.2) |
| 2 | cluster (Ray) | 12.4 | 6.2 (6.2-6.2) |
"""
LIVE = """
| run | frames processed | fps | frame age median ms | p95 ms | max ms |
|---|---|---|---|---|---|
| 60 s | 700 | 11.7 | 93 | 127 | 257 |
"""
INT8 = """
| model | network | input | ms | fps |
|---|---|---|---|---|
| tiny | OpenVINO bf16 (auto) | 384x640 | 68.1 (52.5-88.0) | 14.7 |
| tiny | OpenVINO int8 (ours) | 384x640 | 54.6 (35.0-76.0) | 18.3 |

| clip | frames | network | mean matched IoU |
|---|---|---|---|
| **all generated scenes** | 180 | OpenVINO auto (bf16 here) | 0.996 |
| **all generated scenes** | 180 | OpenVINO int8 (ours) | 0.988 |
"""


def _texts(svg: Path) -> list[str]:
    root = ElementTree.parse(svg).getroot()
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize(
    ("draw", "table", "expected"),
    [
        (figures.speed, SPEED, "ultralytics FastSAM.track, defaults"),  # its parenthesis dropped
        (figures.real_footage, REAL_FOOTAGE, "boat (C)"),  # a sequence of the default profile, its half marked
        (figures.keyframes, KEYFRAMES, "harsh, checking"),  # a line per profile and half
        (figures.cluster, CLUSTER, "cluster (Ray)"),
        (figures.live_latency, LIVE, "p95 127 ms"),
        (figures.int8, INT8, "OpenVINO int8 (ours)"),
    ],
)
def test_each_figure_is_drawn_from_its_table(tmp_path, draw, table, expected):
    path = draw(table, path=tmp_path / "figure.svg")
    texts = _texts(path)
    assert any(expected in text for text in texts), texts
    assert "mean" not in texts


def test_the_live_figure_draws_the_distribution_when_it_has_the_ages(tmp_path):
    path = figures.live_latency(LIVE, [90.0, 95.0, 100.0, 250.0], path=tmp_path / "live.svg")
    assert "frames" in _texts(path) and "drawn when the benchmark runs" not in path.read_text()


def test_the_committed_figures_are_drawn_from_the_readme_tables(tmp_path, monkeypatch):
    text = figures.README.read_text()
    for name, draw in [("speed_640", figures.speed), ("keyframes", figures.keyframes), ("cluster", figures.cluster)]:
        draw(figures._section(text, name), path=tmp_path / f"{name}.svg")
    for name in ("speed_640", "real_footage", "keyframes", "cluster", "live_latency", "int8"):
        assert f"figures/{name}.svg" in text, name  # shown under its table
        assert (figures.FOLDER / f"{name}.svg").exists(), name
