"""The fleet's controller (a named Ray actor): the registry of cameras, where each runs, their prompts.

It starts one ``SegmenterWorker`` per machine that has the CPUs (one per GPU on a GPU machine),
then places each camera next to the segmenter with the fewest cameras among the machines that
have the camera's ``resources``. Both kinds of actor restart when they die: a camera checks in
again (``checkin``) and gets its spec, its prompts (those given while it ran included) and a new
incarnation number; a segmenter reloads its model while its cameras wait. Cameras and prompts
can be added and removed while the fleet runs.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fastsam_track.cluster.fleet import CameraSpec, Fleet, camera_from_data
from fastsam_track.cluster.status import CameraStatus
from fastsam_track.errors import PromptError, RunFailure, UsageError
from fastsam_track.pipeline.prompts.objects import ObjectPrompts
from fastsam_track.pipeline.prompts.parse import prompt_from_record
from fastsam_track.types import PointPrompt, Prompt, RemovePrompt

__all__ = ["Controller"]

_ENDED = ("finished", "failed", "stopped")
_STATUS_WAIT = 2.0  # seconds a status call waits for each actor (a restarting one answers later)


@dataclass
class _Camera:
    """A camera of the fleet: its spec's prompts as ``Prompt`` records, those given while it runs (kept
    for its next incarnations), and its objects' ids and points (``ObjectPrompts``, as a page's inbox)."""

    spec: CameraSpec
    segmenter: int
    handle: Any = None
    incarnation: int = -1
    added_prompts: list[Prompt] = field(default_factory=list)
    final: CameraStatus | None = None  # its run ended: how
    last: CameraStatus | None = None  # what it said last
    given: list[Prompt] = field(init=False)
    objects: ObjectPrompts = field(init=False)

    def __post_init__(self) -> None:
        where = f"camera {self.spec.name!r}"
        self.given = [prompt_from_record(p, f"{where}: prompt {n}") for n, p in enumerate(self.spec.prompts)]
        self.objects = ObjectPrompts(max_objects=1 << 30)
        for prompt in self.given:
            self.objects.note(prompt)


@dataclass
class _Segmenter:
    handle: Any
    node: str
    cameras: set[str] = field(default_factory=set)


class Controller:
    """The registry and placement of a fleet's cameras and segmenters (a Ray actor; see ``launch``).

    Args:
        fleet: the cameras and how to run them.
    """

    def __init__(self, fleet: Fleet):
        self._fleet = fleet
        self._lock = threading.RLock()
        self._segmenters: list[_Segmenter] = []
        self._cameras: dict[str, _Camera] = {}

    def start(self) -> list[str]:
        """Start the segmenters (each loads its model), then the fleet's cameras; the segmenters' nodes."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from fastsam_track.cluster.workers import SegmenterWorker

        spec = self._fleet.segmenter
        actor: Any = ray.remote(SegmenterWorker)
        handles: list[Any] = []
        for node in ray.nodes():
            if not node["Alive"]:
                continue
            resources = node["Resources"]
            if spec.gpus > 0:
                count = int(resources.get("GPU", 0) // spec.gpus)
            else:
                count = 1 if resources.get("CPU", 0) >= spec.cpus else 0
            for _ in range(count):
                options = {
                    "num_cpus": spec.cpus,
                    "num_gpus": spec.gpus,
                    "max_restarts": -1,
                    "max_concurrency": 1000,  # each camera's call waits in a thread for its batch
                    "scheduling_strategy": NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                }
                handles.append(actor.options(**options).remote(self._fleet))
        if not handles:
            raise RunFailure(
                f"no machine in the Ray cluster has {spec.cpus:g} CPUs and {spec.gpus:g} GPUs for a segmenter"
            )
        nodes = ray.get([h.ready.remote() for h in handles])
        with self._lock:
            self._segmenters = [_Segmenter(h, n) for h, n in zip(handles, nodes, strict=True)]
        for camera in self._fleet.cameras:
            self._place(camera)
        return nodes

    def _place(self, spec: CameraSpec) -> None:
        """Start ``spec``'s camera actor beside the least busy segmenter on a machine with its resources."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from fastsam_track.cluster.workers import CameraWorker

        totals = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
        with self._lock:
            fitting = [
                i
                for i, s in enumerate(self._segmenters)
                if all(totals.get(s.node, {}).get(k, 0) >= v for k, v in spec.resources.items())
            ]
            if not fitting:
                raise UsageError(f"camera {spec.name!r}: no machine with a segmenter has resources {spec.resources}")
            chosen = min(fitting, key=lambda i: len(self._segmenters[i].cameras))
            self._segmenters[chosen].cameras.add(spec.name)
            camera = _Camera(spec, chosen)
            self._cameras[spec.name] = camera
        me = ray.get_runtime_context().current_actor
        camera.handle = (
            ray.remote(CameraWorker)
            .options(
                num_cpus=self._fleet.camera_cpus,
                resources=spec.resources,
                max_restarts=-1,
                max_concurrency=8,  # status, prompts and stop beside the run
                scheduling_strategy=NodeAffinitySchedulingStrategy(self._segmenters[chosen].node, soft=False),
            )
            .remote(spec.name, me)
        )

    def checkin(self, name: str) -> dict[str, Any]:
        """A camera actor starting (first time or restarted): its spec, fleet, segmenter, prompts, incarnation.

        Prompts given while an earlier incarnation ran are given again: on frame 0 for a live
        source (its frames count afresh), on their own frame for a file (processed again from its start).
        """
        with self._lock:
            camera = self._cameras[name]
            camera.incarnation += 1
            added = camera.added_prompts
            if camera.spec.live:  # its frames count afresh
                added = [replace(p, frame=0) for p in added]
            return {
                "spec": camera.spec,
                "fleet": self._fleet,
                "segmenter": self._segmenters[camera.segmenter].handle,
                "segmenter_node": self._segmenters[camera.segmenter].node,
                "incarnation": camera.incarnation,
                "prompts": [*camera.given, *added],
            }

    def ended(self, name: str, incarnation: int, status: CameraStatus) -> None:
        """A camera's run ended (its source's end, a stop, or a failure): recorded; its actor is released
        unless a stop asked for the end (the stop's caller waits for its answer, then releases it)."""
        import ray

        with self._lock:
            camera = self._cameras.get(name)
            if camera is None or incarnation != camera.incarnation:
                return
            camera.final = status
            self._segmenters[camera.segmenter].cameras.discard(name)
            handle = camera.handle
        if status.state != "stopped":
            ray.kill(handle, no_restart=True)

    def add_camera(self, data: dict[str, Any]) -> str:
        """Add a camera while the fleet runs (the fleet file's camera mapping, paths absolute); its name."""
        from pathlib import Path

        with self._lock:
            spec = camera_from_data(data, {}, Path("/"), "new camera", taken=list(self._cameras))
            taken = {p: c.spec.name for c in self._cameras.values() for p in c.spec.paths().values()}
            for key, path in spec.paths().items():
                if path in taken:
                    raise UsageError(f"camera {spec.name!r}: {key} {str(path)!r} is camera {taken[path]!r}'s")
            self._fleet = replace(self._fleet, cameras=(*self._fleet.cameras, spec))
        self._place(spec)
        return spec.name

    def remove_camera(self, name: str) -> CameraStatus:
        """Stop a camera (its outputs finalised) and forget it; its last status."""
        import ray

        with self._lock:
            camera = self._cameras.get(name)
            if camera is None:
                raise UsageError(f"no camera {name!r}; cameras: {', '.join(self._cameras)}")
        final = camera.final or ray.get(camera.handle.stop.remote())
        with self._lock:
            self._cameras.pop(name, None)
            self._segmenters[camera.segmenter].cameras.discard(name)
            self._fleet = replace(self._fleet, cameras=tuple(c for c in self._fleet.cameras if c.name != name))
        ray.kill(camera.handle, no_restart=True)
        return final

    def prompt(self, name: str, record: dict[str, Any], add: bool = False) -> int:
        """Give camera ``name`` a prompt (the prompts file's record form) on its next frame; that frame's index.

        The prompt is kept: a restarted camera gets it again. See ``prompt_object``.
        """
        return self.prompt_object(name, record, add)[1]

    def prompt_object(self, name: str, record: dict[str, Any], add: bool = False) -> tuple[int, int]:
        """Give camera ``name`` a prompt on its next frame; (its object's id, that frame's index).

        Args:
            name: the camera.
            record: the prompts file's record form; without ``object``, a new object (the next id
                after every id the camera was given: ``ObjectPrompts``).
            add: ``record``'s points (and ``labels``) are added to those of an object given points
                (``object``, or the newest such), which is prompted again with all of them (a
                background click that refines an object). The points need no foreground one then.

        Raises:
            UsageError: no such camera, or nothing to add points to.
            PromptError: a bad record, or points outside the camera's frames.
        """
        import ray

        with self._lock:
            camera = self._cameras.get(name)
            if camera is None:
                raise UsageError(f"no camera {name!r}; cameras: {', '.join(self._cameras)}")
            before = copy.deepcopy(camera.objects)
            prompt = _prompt(camera.objects, record, add, name)
        try:
            frame = int(ray.get(camera.handle.prompt.remote(prompt)))
        except BaseException:
            with self._lock:
                camera.objects = before  # the camera did not take it: its objects are as they were
            raise
        with self._lock:
            _keep(camera, replace(prompt, frame=max(frame, 0)))
        return prompt.object_id, frame

    def clear(self, name: str) -> list[int]:
        """Stop following every object of camera ``name`` (those of its prompts, given, and seen); their ids."""
        import ray

        with self._lock:
            camera = self._cameras.get(name)
            if camera is None:
                raise UsageError(f"no camera {name!r}; cameras: {', '.join(self._cameras)}")
            given = set(camera.objects.held)
        seen = {int(o["id"]) for o in ray.get(camera.handle.view.remote())["objects"]}
        removed = sorted(given | seen)
        for object_id in removed:
            self.prompt(name, {"object": object_id, "remove": True})
        return removed

    def status(self) -> dict[str, list[Any]]:
        """``{"cameras": [CameraStatus], "segmenters": [...]}``: every camera's status (``CameraWorker.status``,
        with ``restarts``) and every segmenter's."""
        import ray

        with self._lock:
            cameras = dict(self._cameras)
            segmenters = list(self._segmenters)
        asks = {name: c.handle.status.remote() for name, c in cameras.items() if c.final is None}
        seg_asks = [s.handle.status.remote() for s in segmenters]
        ray.wait([*asks.values(), *seg_asks], num_returns=len(asks) + len(seg_asks), timeout=_STATUS_WAIT)
        rows = []
        for name, camera in cameras.items():
            if camera.final is not None:
                row = camera.final
            else:
                try:
                    row = ray.get(asks[name], timeout=0.01)
                    camera.last = row
                except Exception:  # dead, restarting or busy: what it said last, marked so
                    # never answered: its actor is starting
                    row = (camera.last or CameraStatus(name)).replace(
                        state="restarting" if camera.last else "starting", fps=0.0
                    )
            rows.append(row.replace(restarts=max(camera.incarnation, 0)))
        seg_rows = []
        for segmenter, ask in zip(segmenters, seg_asks, strict=True):
            try:
                answer = ray.get(ask, timeout=0.01)
            except Exception:
                answer = {"cameras": len(segmenter.cameras), "batch": 0.0, "utilisation": 0.0, "state": "restarting"}
            seg_rows.append({"node": segmenter.node, "state": "running", **answer})
        return {"cameras": rows, "segmenters": seg_rows}

    def ended_all(self) -> bool:
        """Whether every camera's run has ended (files at their end; cameras stopped or failed)."""
        with self._lock:
            return all(c.final is not None for c in self._cameras.values())

    def stop(self) -> None:
        """Stop every camera normally (outputs finalised), in parallel."""
        import ray

        with self._lock:
            running = [c.handle for c in self._cameras.values() if c.final is None]
        ray.wait([h.stop.remote() for h in running], num_returns=len(running), timeout=120)

    def handles(self) -> dict[str, Any]:
        """The actors, for tests and tools: ``{"cameras": {name: handle}, "segmenters": [handle]}``."""
        with self._lock:
            return {
                "cameras": {n: c.handle for n, c in self._cameras.items()},
                "segmenters": [s.handle for s in self._segmenters],
            }


def _prompt(objects: ObjectPrompts, record: dict[str, Any], add: bool, name: str) -> Prompt:
    """``record`` (the prompts file's form, on frame 0) as a prompt of the camera's ``objects``: a new
    object's without ``object``, or with ``add`` its points added to an object's (``ObjectPrompts``)."""
    where = f"camera {name!r}: prompt"
    if add:
        if set(record) - {"points", "labels", "object"} or "points" not in record:
            raise UsageError(f"camera {name!r}: only points can be added to an object, got the keys {sorted(record)}")
        points = record["points"]
        labels = record.get("labels", [1] * (len(points) if isinstance(points, list) else 0))
        # checked as the prompts file checks points (with a foreground label, which an addition needs not have)
        checked = prompt_from_record({"frame": 0, "object": 1, "points": points}, where)
        assert isinstance(checked, PointPrompt)
        if not isinstance(labels, list) or len(labels) != len(checked.points) or not set(labels) <= {0, 1}:
            raise PromptError(f"{where}: labels must be 1 or 0 for each point, got {labels!r}")
        object_id = record.get("object")
        if object_id is not None and (not isinstance(object_id, int) or isinstance(object_id, bool)):
            raise PromptError(f"{where}: object must be an id, got {object_id!r}")
        try:
            return objects.add_points(0, checked.points, np.array(labels, int), object_id)
        except PromptError as error:
            raise UsageError(f"camera {name!r}: {error}") from None
    prompt = prompt_from_record({"frame": 0, "object": 1, **record}, where)
    if "object" not in record:
        prompt = replace(prompt, object_id=objects.new_id())
    objects.note(prompt)
    return prompt


def _keep(camera: _Camera, prompt: Prompt) -> None:
    """Keep a prompt given while the camera runs, for its next incarnations. A live camera's are given
    again on frame 0, so only what stands is kept there: an object's newest prompt, and a removal only
    of an object its spec's prompts give."""
    if not camera.spec.live:
        camera.added_prompts.append(prompt)
        return
    object_id = prompt.object_id
    camera.added_prompts = [p for p in camera.added_prompts if p.object_id != object_id]
    from_spec = any(p.object_id == object_id for p in camera.given)
    if not isinstance(prompt, RemovePrompt) or from_spec:
        camera.added_prompts.append(prompt)
