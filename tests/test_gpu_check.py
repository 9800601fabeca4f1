"""The GPU check on this CPU machine: GPU rows skipped and saying so, CPU rows measured, failures recorded."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--tiny", "--cpu-rows", "--calls", "2", "--frames", "3"]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts/gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_writes_every_row_and_skips_the_gpu_ones_without_cuda(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/gpu_check.py"), str(tmp_path), *TINY],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "machine: ok" in done.stdout  # progress is printed as it goes
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = report["rows"]
    assert len(rows) == 3 * 2 * 2 + 4  # every runtime, size and source count on CUDA, and torch fp32 on the CPU
    cpu = [r for r in rows if r["device"] == "cpu"]
    assert [(r["imgsz"], r["sources"]) for r in cpu] == [(128, 1), (128, 2), (256, 1), (256, 2)]
    assert all(r["status"] == "ok" and r["network_ms"] > 0 and r["fps"] > 0 for r in cpu), cpu
    if not torch.cuda.is_available():
        assert all(r["status"] == "skipped: no CUDA device" for r in rows if r["device"] == "cuda")
        steps = {s["step"]: s for s in report["steps"]}
        assert steps["GPU tests (pytest -m gpu)"]["reason"] == "no CUDA device"
    table = (tmp_path / "gpu_check.md").read_text().splitlines()
    assert table[0].startswith("| runtime | device | imgsz | sources |") and len(table) == 2 + len(rows)


def test_a_failing_step_is_recorded_and_the_check_goes_on(tmp_path, monkeypatch):
    check = _script()
    calls = []

    def measure(weights, runtime, device, imgsz, sources, *rest):
        calls.append((imgsz, sources))
        if imgsz == 128:
            raise RuntimeError("out of memory")
        return {"network_ms": 1.0, "network_ms_per_frame": 1.0 / sources, "fps": 10.0, "masks": 3.0}

    monkeypatch.setattr(check, "measure", measure)
    assert check.main([str(tmp_path), *TINY]) == 0
    assert calls == [(128, 1), (128, 2), (256, 1), (256, 2)]
    cpu = [r for r in json.loads((tmp_path / "gpu_check.json").read_text())["rows"] if r["device"] == "cpu"]
    assert [r["status"] for r in cpu] == ["failed", "failed", "ok", "ok"]
    failed = [s for s in json.loads((tmp_path / "gpu_check.json").read_text())["steps"] if s["status"] == "failed"]
    assert failed and all("RuntimeError: out of memory" in s["error"] for s in failed)
