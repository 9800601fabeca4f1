"""The two kinds of Ray actor a fleet runs: a segmenter per machine (or GPU) and a camera per source.

``SegmenterWorker`` holds one model and batches the frames the cameras on its machine send
(``BatchedSegmenter``: up to one frame per camera, or ``wait_ms`` after the first); it answers
with segments at mask resolution (1/4 of the network input), never frames. ``CameraWorker``
runs one source's whole pipeline on its machine (``build`` + ``Pipeline.run``: decoding,
tracking, prompts, objects, rendering, exports, RTSP push) with the segmenter's answers as its
model. A live source keeps only its newest frame while a model pass is out, so a slow model
drops stale frames instead of queueing them, and each camera has one request in flight.
A camera keeps its newest annotated frame (``LatestFrame``) and encodes it to JPEG only when a
page asks for it (``frame``): raw frames never leave its machine.

Both are plain classes; the controller makes them Ray actors with restarts. A restarted
camera asks the controller for its spec again and starts a new *incarnation*: its outputs go
to new files (``out/yard.1.mp4``, ``masks/yard.1/``), and the killed one's video, fragmented,
is put in place up to its last fragment (its tracks and segments up to their last whole line).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from fastsam_track.cluster.fleet import CameraSpec, Fleet
from fastsam_track.cluster.status import CameraStatus
from fastsam_track.errors import FastSamTrackError, RunFailure
from fastsam_track.pipeline.exports.registry import FLEET_KEYS
from fastsam_track.types import Prompt, RemovePrompt, SegmentedFrame, StopRun

__all__ = ["CameraWorker", "LatestFrame", "SegmenterWorker", "incarnation_path"]

_SEGMENTER_PATIENCE = 120.0  # seconds a camera waits for a restarting segmenter before it fails
_RECENT = 5.0  # seconds of history behind the status figures (fps, batch size, utilisation)
_JPEG_QUALITY = 80


class SegmenterWorker:
    """One model for the cameras of one machine (or GPU), batching their frames.

    Args:
        fleet: the fleet (its ``settings`` make the model; ``segmenter.wait_ms`` the batching window).
    """

    def __init__(self, fleet: Fleet):
        from fastsam_track.pipeline.build import make_segmenter
        from fastsam_track.pipeline.model.batching import BatchedSegmenter

        self._model = make_segmenter(fleet.config)
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}  # camera -> when its last frame came
        self._passes: deque[tuple[float, float, int]] = deque(maxlen=10_000)  # (start, seconds, frames)
        self._started = time.monotonic()
        self._batched = BatchedSegmenter(self, streams=1, wait_ms=fleet.segmenter.wait_ms).__enter__()

    def ready(self) -> str:
        """The Ray node it runs on, once its model is loaded."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def segment_batch(self, images: list[np.ndarray]) -> list[sv.Detections]:
        """The model's pass over one batch, timed (``BatchedSegmenter`` calls it)."""
        started = time.monotonic()
        segments = self._model.segment_batch(images)
        self._passes.append((started, time.monotonic() - started, len(images)))
        return segments

    def segment(self, camera: str, image: np.ndarray) -> sv.Detections:
        """``image``'s segments, batched with the frames other cameras send meanwhile.

        Args:
            camera: the sending camera's name (the batch waits for a frame from each camera seen lately).
            image: (H, W, 3) uint8 BGR frame.
        """
        now = time.monotonic()
        with self._lock:
            self._seen[camera] = now
            recent = [c for c, seen in self._seen.items() if now - seen < 2 * _RECENT]
            self._seen = {c: self._seen[c] for c in recent}
        self._batched.set_streams(len(recent))
        return self._batched.client()(image)

    def leave(self, camera: str) -> None:
        """``camera`` sends no more frames: batches stop waiting for it."""
        with self._lock:
            self._seen.pop(camera, None)
            streams = len(self._seen)
        self._batched.set_streams(streams)

    def status(self) -> dict[str, Any]:
        """Recent mean batch size, utilisation (share of the time in model passes) and passes in all."""
        now = time.monotonic()
        recent = [(s, d, n) for s, d, n in list(self._passes) if s > now - _RECENT]
        span = min(_RECENT, now - self._started) or 1.0
        return {
            "cameras": len(self._seen),
            "batch": round(float(np.mean([n for _, _, n in recent])), 2) if recent else 0.0,
            "utilisation": round(min(sum(d for _, d, _ in recent) / span, 1.0), 3),
            "passes": len(self._passes),
        }


class CameraWorker:
    """One camera's pipeline, on the machine of its segmenter, in a thread of its own.

    Args:
        name: the camera's name in the fleet.
        controller: the controller's actor handle: it gives the camera its spec, prompts,
            segmenter and incarnation (``checkin``), and is told when the run ends (``ended``).
    """

    def __init__(self, name: str, controller: Any):
        import cv2
        import ray

        cv2.setNumThreads(1)  # the segmenter's threads have the cores
        self.name, self._controller = name, controller
        checkin = ray.get(controller.checkin.remote(name))
        self._spec: CameraSpec = checkin["spec"]
        self._fleet: Fleet = checkin["fleet"]
        self._segmenter, self._segmenter_node = checkin["segmenter"], checkin["segmenter_node"]
        self.incarnation: int = checkin["incarnation"]
        self._prompts: list[Prompt] = checkin["prompts"]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state, self._error = "starting", ""
        self._frames, self._frame_index, self._dropped, self._age, self._seconds = 0, -1, 0, 0.0, 0.0
        self._age_p95, self._keyframes = 0.0, 0
        self._times: deque[float] = deque(maxlen=300)
        self._stage_ms: dict[str, float] = {}  # per frame: decode, segment (the round trip), track, render, encode
        self._inbox: Any = None
        self._latest = LatestFrame()
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Build the camera's pipeline and run it to the source's end or a stop; tell the controller."""
        import ray

        try:
            outputs = _outputs(self._spec, self.incarnation)
            _rescue_previous(self._spec, self.incarnation)
            pipeline = self._build(outputs)
            with pipeline:
                self._inbox = pipeline.processors[0].inbox
                self._set("running")
                stats = pipeline.run(on_frame=self._frame_done)[0]
            with self._lock:  # the frames written after the last one processed was reported
                self._frames, self._dropped, self._seconds = stats.frames, stats.dropped, stats.seconds
            self._set("finished" if not self._stop.is_set() else "stopped")
        except FastSamTrackError as error:
            self._set("failed", str(error))
        except BaseException as error:  # any failure ends this camera only; the controller is told
            self._set("failed", f"{type(error).__name__}: {error}")
        finally:
            try:
                ray.get(self._segmenter.leave.remote(self.name), timeout=10)
            except Exception:  # a segmenter that is gone has nobody to wait for this camera
                pass
            self._controller.ended.remote(self.name, self.incarnation, self.status())

    def _build(self, outputs: Any) -> Any:
        from fastsam_track.pipeline.build import build

        return build(
            self._fleet.config,
            self._spec.source,
            self._prompts,
            outputs,
            on_event=self._event,
            segment=_Remote(self),
            sinks=[[self._latest]],
        )

    def _frame_done(self, _: int, segmented: SegmentedFrame, stats: Any) -> None:
        with self._lock:
            self._frames, self._frame_index, self._dropped = stats.frames, segmented.frame.index, stats.dropped
            ages = stats.age_ms()
            self._age, self._age_p95, self._seconds = ages["median"], ages["p95"], stats.seconds
            self._keyframes = stats.keyframes
            self._stage_ms = {k: round(v, 2) for k, v in stats.mean_ms().items()}
            self._times.append(time.monotonic())
            if self._state != "running":
                self._state = "running"
        if self._stop.is_set():
            raise StopRun("stopped")

    def _event(self, message: str) -> None:
        """A live source's loss, retry or reconnection."""
        self._set("running" if "reconnected" in message else "reconnecting", message)

    def _set(self, state: str, note: str = "") -> None:
        with self._lock:
            self._state, self._error = state, note or self._error

    def prompt(self, prompt: Prompt) -> int:
        """Apply a prompt (its object id the controller's) on the next frame; the frame index it will
        be applied on (about: the newest processed frame's plus one)."""
        from fastsam_track.pipeline.prompts.parse import check_in_frame

        if self._inbox is None:
            raise RunFailure(f"camera {self.name!r} is not running yet ({self._state}): try again")
        size = self._inbox.frame_size
        if size is not None:
            check_in_frame([prompt], size)
        # A removal through the inbox's own remove also takes the object off the list a page shows.
        if not (isinstance(prompt, RemovePrompt) and self._inbox.remove(prompt.object_id)):
            self._inbox.put(prompt)
        return self._frame_index + 1

    def frame(self, known: tuple[int, int] | None = None) -> tuple[int, int, bytes] | None:
        """The newest annotated frame as ``(incarnation, number, JPEG bytes)``, or None when there is
        none yet or it is still the ``known`` one (its incarnation and number)."""
        newest = self._latest.jpeg()
        if newest is None or (known is not None and known == (self.incarnation, newest[0])):
            return None
        return self.incarnation, newest[0], newest[1]

    def view(self) -> dict[str, Any]:
        """What a page lists of the camera's prompts: ``{"frame", "size", "objects", "notice"}``
        (``PromptInbox``'s ``frame_index``, ``frame_size``, ``objects()``, ``notice()``)."""
        from fastsam_track.pipeline.prompts.inbox import inbox_view

        if self._inbox is None:
            return {"frame": -1, "size": None, "objects": [], "notice": None}
        return inbox_view(self._inbox)

    def status(self) -> CameraStatus:
        """State, recent fps, frame age (ms), dropped and processed frames, keyframes, seconds running,
        incarnation, its node and its segmenter's."""
        import ray

        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._times if t > now - _RECENT]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
            return CameraStatus(
                name=self.name,
                state=self._state,
                note=self._error,
                fps=round(fps, 2),
                age_ms=round(self._age, 1),
                age_p95_ms=round(self._age_p95, 1),
                dropped=self._dropped,
                frames=self._frames,
                keyframes=self._keyframes,
                frame=self._frame_index,
                seconds=round(self._seconds, 3),
                stage_ms=dict(self._stage_ms),
                incarnation=self.incarnation,
                node=str(ray.get_runtime_context().get_node_id()),
                segmenter_node=self._segmenter_node,
            )

    def stop(self, timeout: float = 60.0) -> CameraStatus:
        """End the run normally (outputs finalised); its last status."""
        self._stop.set()
        self._thread.join(timeout)
        return self.status()


class LatestFrame:
    """A frame sink that keeps the newest annotated frame and encodes it to JPEG only when asked, once.

    Example:
        >>> latest = LatestFrame()
        >>> with latest:
        ...     latest.write(np.zeros((18, 32, 3), np.uint8))
        >>> number, jpeg = latest.jpeg()
        >>> number, jpeg[:2]
        (1, b'\\xff\\xd8')
    """

    def __init__(self, quality: int = _JPEG_QUALITY):
        self._quality = quality
        self._lock = threading.Lock()
        self._image: np.ndarray | None = None
        self._number = 0
        self._encoded: tuple[int, bytes] | None = None

    def __enter__(self) -> LatestFrame:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def write(self, image: np.ndarray) -> None:
        """Keep (H, W, 3) uint8 BGR ``image`` (the renderer draws each frame anew: no copy needed)."""
        with self._lock:
            self._image, self._number = image, self._number + 1

    def jpeg(self) -> tuple[int, bytes] | None:
        """(the newest frame's number, counted from 1; its JPEG), or None before the first frame."""
        import cv2

        with self._lock:
            image, number, encoded = self._image, self._number, self._encoded
        if image is None:
            return None
        if encoded is None or encoded[0] != number:
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
            if not ok:
                raise RunFailure(f"cannot encode a {image.shape} {image.dtype} frame to JPEG")
            encoded = (number, data.tobytes())
            with self._lock:
                self._encoded = encoded
        return encoded


class _Remote:
    """A camera's ``segment`` (``protocol.Segment``): its segmenter actor, with ``infer`` so that the frame
    loop keeps two requests in flight (the next frame goes out while the tracking thread waits for this
    one's answer)."""

    def __init__(self, camera: CameraWorker):
        self._camera = camera

    def __call__(self, image: np.ndarray) -> sv.Detections:
        return self.infer(image)()

    def infer(self, image: np.ndarray) -> Callable[[], sv.Detections]:
        """Send ``image`` (H, W, 3) uint8 to the segmenter now; the function returned waits for its
        segments. While the segmenter restarts, the frame is sent again, up to ``_SEGMENTER_PATIENCE`` s."""
        import ray
        from ray.exceptions import RayActorError

        camera = self._camera
        sent = camera._segmenter.segment.remote(camera.name, image)

        def answer() -> sv.Detections:
            nonlocal sent
            deadline = time.monotonic() + _SEGMENTER_PATIENCE
            while True:
                try:
                    return ray.get(sent)
                except RayActorError as error:
                    if time.monotonic() > deadline or camera._stop.is_set():
                        raise RunFailure(f"camera {camera.name!r}: its segmenter did not come back ({error})") from None
                    camera._set("waiting for segmenter")
                    time.sleep(0.2)
                    sent = camera._segmenter.segment.remote(camera.name, image)

        return answer


def incarnation_path(path: Path, incarnation: int) -> Path:
    """Where an output goes in a camera's ``incarnation`` (0: the path itself, n: ``.n`` before its suffix).

    Example:
        >>> incarnation_path(Path("out/yard.mp4"), 2), incarnation_path(Path("masks/yard"), 1)
        (PosixPath('out/yard.2.mp4'), PosixPath('masks/yard.1'))
    """
    if incarnation == 0:
        return path
    return path.with_name(f"{path.stem}.{incarnation}{path.suffix}")


def _outputs(spec: CameraSpec, incarnation: int) -> Any:
    """The camera's ``Outputs`` in this incarnation: fragmented video, prompts taken while it runs."""
    from fastsam_track.pipeline.build import Outputs

    files = {FLEET_KEYS[key].name: incarnation_path(path, incarnation) for key, path in spec.paths().items()}
    return Outputs(files, rtsp_out=spec.rtsp_out, live_prompts=True, fragmented=True)


def _rescue_previous(spec: CameraSpec, incarnation: int) -> None:
    """Put the files of the killed incarnation before this one in place; nothing else holds them, its
    process is gone. Each was staged under a hidden name (``OutputKind.rescue``): a video is a
    fragmented MP4 that plays up to its last fragment, a line file (tracks, segments, proposals) ends
    at its last whole line; a folder keeps its whole PNGs, the frame being written when it was killed is
    removed. Its lock files, free since it died, are removed."""
    from fastsam_track.errors import OutputError
    from fastsam_track.pipeline.outputs.files import OutputLocks, remove_stale

    if incarnation == 0:
        return
    for key, path in spec.paths().items():
        previous = incarnation_path(path, incarnation - 1)
        try:
            OutputLocks([previous]).release()  # free: taken and removed at once
        except OutputError:  # held: not the dead incarnation's
            continue
        if FLEET_KEYS[key].folder:  # a frame it was writing when killed: half a PNG, removed
            remove_stale([], [previous])
        rescue = FLEET_KEYS[key].rescue
        if rescue is None:  # nothing staged to rescue
            continue
        staged = sorted(previous.parent.glob(f".{previous.name}.*.part"), key=lambda p: p.stat().st_mtime)
        if not staged or previous.exists():
            continue
        if rescue == "lines":
            data = staged[-1].read_bytes()
            with staged[-1].open("r+b") as file:
                file.truncate(data.rfind(b"\n") + 1)
        staged[-1].replace(previous)
