"""The README's report screenshot (docs/report.png), made from a real run.

    python scripts/report_screenshot.py [--frames 150]

A generated clip goes through ``fastsam-track run`` with the built-in model, two prompted
objects (a point and a box) and a keyframe every 3 frames, writing a video, ``--stats`` and
``--report``; Chromium (Playwright) opens the report and its upper part is saved, scaled to
800 pixels wide in 64 colours, so the committed file stays small.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUTPUT = ROOT / "docs/report.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.conftest import write_clip

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip = write_clip(work / "clip.mp4", frames=args.frames, height=360, width=640)
        subprocess.run(
            [
                *(sys.executable, "-m", "fastsam_track.cli", "run", str(clip), "-o", str(work / "out.mp4")),
                *("--model", "fastsam-tiny", "--imgsz", "320", "--keyframe-every", "3", "--no-progress"),
                *("--point", "56,81", "--box", "83,61,233,206"),
                *("--stats", str(work / "stats.json"), "--report", str(work / "report.html")),
            ],
            check=True,
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1060, "height": 1500})
            page.goto((work / "report.html").as_uri(), wait_until="load")
            page.screenshot(path=str(work / "shot.png"), clip={"x": 0, "y": 0, "width": 1060, "height": 1500})
            browser.close()
        shot = Image.open(work / "shot.png").convert("RGB")
        small = shot.resize((800, round(shot.height * 800 / shot.width)), Image.Resampling.LANCZOS)
        OUTPUT.parent.mkdir(exist_ok=True)
        small.quantize(64).save(OUTPUT, optimize=True)
    print(f"{OUTPUT.relative_to(ROOT)}: {OUTPUT.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main()
