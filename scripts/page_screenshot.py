"""Screenshots of the web page for the README: a synthetic clip through the real runner into the page,
one object clicked, keyframes every 3 frames, in headless Chromium at a desktop's and a phone's size.

The clip's own shapes are its segments (no model is loaded), so the picture is the same on every machine.

    python scripts/page_screenshot.py docs/page.png --phone docs/page-phone.png

Needs Chromium (``--chromium``, default /usr/bin/chromium) and playwright (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from fastsam_track.pipeline.keyframes import Keyframes
from fastsam_track.pipeline.outputs.web import WebServer
from fastsam_track.pipeline.processor import FrameProcessor
from fastsam_track.pipeline.prompts.inbox import PromptInbox
from fastsam_track.pipeline.runner import run
from fastsam_track.synthetic import SyntheticClip
from fastsam_track.trackers.objects import ObjectTracker
from fastsam_track.trackers.segment_tracker import SegmentTracker
from fastsam_track.types import Frame

_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the desktop screenshot (PNG, 1280x800 shown at half size)")
    parser.add_argument("--phone", type=Path, help="also a phone's (390x844)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    clip = SyntheticClip(height=360, width=640, num_shapes=5, seed=3)
    inbox = PromptInbox()
    server = WebServer(sources=[("street", inbox)])
    stop = threading.Event()

    def frames() -> Iterator[Frame]:
        for index in range(100_000):
            if stop.is_set():
                return
            yield Frame(index, clip.frame(index % 200)[0], index / 15)
            time.sleep(1 / 15)

    shown = {_key(clip.frame(i)[0]): clip.frame(i)[1] for i in range(200)}  # each frame's shapes, by its pixels

    def segment(image: np.ndarray) -> sv.Detections:
        masks = shown[_key(image)]
        boxes = np.array([cv2.boundingRect(m.astype(np.uint8)) for m in masks], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return sv.Detections(xyxy=boxes, mask=masks, confidence=np.ones(len(masks), np.float32))

    processor = FrameProcessor(tracker=SegmentTracker(), objects=ObjectTracker(), inbox=inbox, carry=True)
    thread = threading.Thread(
        target=run, args=(frames(), segment, processor), kwargs={"sinks": [server], "keyframes": Keyframes(every=3)}
    )
    thread.start()
    try:
        _shoot(server, clip, args)
    finally:
        stop.set()
        thread.join()


def _key(image: np.ndarray) -> bytes:
    """A few pixels that tell the clip's frames apart."""
    return image[::23, ::29].tobytes()


def _shoot(server: WebServer, clip: SyntheticClip, args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    while server.inbox is not None and server.inbox.frame_index < 0:
        time.sleep(0.05)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=0.5)
        page.goto(server.url)
        page.wait_for_function("() => document.getElementById('stream').naturalWidth > 0")
        masks = clip.frame(server.inbox.frame_index if server.inbox else 0)[1]
        depth = [cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5) for m in masks]
        deepest = int(np.argmax([d.max() for d in depth]))
        y, x = np.unravel_index(int(np.argmax(depth[deepest])), depth[deepest].shape)
        box = page.locator("#stream").bounding_box()
        page.mouse.click(box["x"] + x * box["width"] / 640, box["y"] + y * box["height"] / 360)
        page.wait_for_selector("#objects li .state[data-state]", timeout=30_000)
        page.wait_for_function("() => /^[1-9]/.test(document.querySelector('#statusbar [data-field=fps]').textContent)")
        time.sleep(1.5)  # a status round after the click
        args.output.parent.mkdir(parents=True, exist_ok=True)
        _save(page.screenshot(), args.output)
        if args.phone is not None:
            page.set_viewport_size({"width": 390, "height": 844})
            time.sleep(0.5)
            _save(page.screenshot(), args.phone)
        browser.close()


def _save(png: bytes, path: Path) -> None:
    """A screenshot as a small PNG: 128 colours, which the page's flat colours and the clip keep well."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128).save(path, optimize=True)


if __name__ == "__main__":
    main()
