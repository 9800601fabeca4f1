"""Run a fleet on Ray from Python or the command line: ``start_fleet`` (a handle), ``run_fleet`` (to the end).

Without an address a local Ray instance is started (and stopped after), so a fleet also runs
on one machine; ``address="auto"`` joins the cluster this machine belongs to, and
``ray://HOST:PORT`` one through Ray Client. The controller is a named actor owned by this
process: when it ends, the fleet ends with it.

Example (not run here: it starts Ray):

    fleet = load_fleet("cameras.yaml")
    with start_fleet(fleet) as running:
        running.prompt("yard", {"points": [[320, 180]]})
        running.wait(on_status=print)

With ``serve="HOST:PORT"`` this process also serves the fleet's web page (``page.serve_fleet``):
``running.page.url``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastsam_track.cluster.controller import Controller
from fastsam_track.cluster.fleet import Fleet
from fastsam_track.errors import RunFailure, UsageError

__all__ = ["FleetRun", "format_status", "run_fleet", "start_fleet"]

if TYPE_CHECKING:
    from fastsam_track.cluster.page import FleetPage

CONTROLLER = "fastsam-track-controller"


class FleetRun:
    """A fleet running on Ray: add and remove cameras, give prompts, read the status, wait, stop.

    Args:
        controller: the controller actor's handle.
        owns_ray: this process started Ray (``close`` shuts it down).

    Attributes:
        page: the fleet's web page when this process serves one (``start_fleet(serve=...)``), else None.
    """

    def __init__(self, controller: Any, owns_ray: bool):
        self.controller, self._owns_ray = controller, owns_ray
        self.page: FleetPage | None = None

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self.controller, method).remote(*args))

    def status(self) -> dict[str, Any]:
        """``{"cameras": [...], "segmenters": [...]}``: each camera's ``CameraStatus`` as a dict (state, fps,
        frame age, dropped, frames, keyframes, restarts...), each segmenter's state, batch and utilisation."""
        status = self._call("status")
        return {**status, "cameras": [camera.as_dict() for camera in status["cameras"]]}

    def add_camera(self, camera: dict[str, Any]) -> str:
        """Add a camera (a fleet file's camera mapping, absolute paths); its name."""
        return self._call("add_camera", camera)

    def remove_camera(self, name: str) -> dict[str, Any]:
        """Stop a camera, outputs finalised; its last status (``CameraStatus`` as a dict)."""
        return self._call("remove_camera", name).as_dict()

    def prompt(self, camera: str, record: dict[str, Any], add: bool = False) -> int:
        """A prompt for ``camera`` on its next frame (``{"points": [[x, y]]}``, ``{"box": [...]}``,
        ``{"object": 2, "remove": true}``); the frame it goes to. ``add``: the points are added to
        those of an object (``object``, or the newest given points), e.g. a background point
        ``{"points": [[x, y]], "labels": [0]}`` (``Controller.prompt_object``)."""
        return self._call("prompt", camera, record, add)

    def prompt_object(self, camera: str, record: dict[str, Any], add: bool = False) -> tuple[int, int]:
        """As ``prompt``; (the object's id, the frame it goes to)."""
        return tuple(self._call("prompt_object", camera, record, add))  # type: ignore[return-value]

    def clear(self, camera: str) -> list[int]:
        """Stop following every object of ``camera``; their ids."""
        return self._call("clear", camera)

    def handles(self) -> dict[str, Any]:
        """The camera and segmenter actors (for tools and tests)."""
        return self._call("handles")

    def wait(
        self,
        timeout: float | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        every: float = 2.0,
    ) -> dict[str, Any]:
        """Wait until every camera's run has ended (files at their end), or ``timeout`` s; the last status.

        Args:
            timeout: seconds to wait at most (None: until the end; live cameras end only when stopped).
            on_status: called with the status every ``every`` s.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        shown = 0.0
        while not self._call("ended_all"):
            if deadline is not None and time.monotonic() > deadline:
                break
            if on_status is not None and time.monotonic() - shown >= every:
                on_status(self.status())
                shown = time.monotonic()
            time.sleep(0.2)
        return self.status()

    def stop(self) -> dict[str, Any]:
        """Stop every camera normally (outputs finalised); the last status."""
        self._call("stop")
        return self.status()

    def close(self) -> None:
        """Stop the page and the fleet's actors; shut Ray down if this process started it."""
        import ray

        if self.page is not None:
            self.page.close()
            self.page = None
        if not ray.is_initialized():
            return
        try:
            handles = self.handles()
            for actor in [*handles["cameras"].values(), *handles["segmenters"], self.controller]:
                ray.kill(actor, no_restart=True)
        except Exception:  # a cluster already gone has nothing left to stop
            pass
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> FleetRun:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.close()


def start_fleet(
    fleet: Fleet,
    *,
    address: str | None = None,
    name: str = CONTROLLER,
    serve: str | None = None,
    serve_token: str | None = None,
    serve_folder: str | Path | None = None,
    **init: Any,
) -> FleetRun:
    """Start ``fleet``'s segmenters and cameras on Ray; a ``FleetRun`` (use it in a ``with`` block).

    Args:
        fleet: the cameras (``load_fleet`` or ``fleet_from_data``).
        address: None: this process's Ray if it has one, else a new local instance (never the
            cluster ``$RAY_ADDRESS`` or the last ``ray start`` names); ``auto`` or
            ``ray://HOST:PORT``: that cluster.
        name: the controller actor's name (one fleet per name in a Ray namespace).
        serve: ``HOST:PORT`` of the fleet's web page, served by this process (``FleetRun.page``;
            port 0: a free one); None: no page.
        serve_token: the token the page requires (None: ``$FASTSAM_TRACK_TOKEN``, else none on
            loopback and a generated one on other addresses).
        serve_folder: where the relative paths of cameras added from the page are taken from, and
            the folder their outputs must be in (None: the current folder).
        init: more ``ray.init`` arguments for a local instance (``num_cpus``, ``object_store_memory``...).

    Raises:
        UsageError: ray is not installed (the ``cluster`` extra), or a bad ``serve`` address.
        RunFailure: no machine can hold a segmenter, or the model does not load.
        SinkError: the page's address cannot be served on.
    """
    if serve is not None:
        from fastsam_track.pipeline.outputs.web import parse_address

        host, port = parse_address(serve)  # a bad address is said before Ray starts
    try:
        import ray
    except ImportError:
        raise UsageError("the cluster needs Ray: pip install 'fastsam-track[cluster]'") from None
    owns = False
    if not ray.is_initialized():
        if address is None:
            ray.init(address="local", include_dashboard=False, **init)
        else:
            ray.init(address=address)
        owns = True
    try:
        remote: Any = ray.remote(Controller)
        controller = remote.options(name=name, num_cpus=0, max_concurrency=64, get_if_exists=False).remote(fleet)
        running = FleetRun(controller, owns)
        try:
            ray.get(controller.start.remote())
        except ray.exceptions.RayTaskError as error:
            running.close()
            cause = error.cause if isinstance(error.cause, Exception) else error
            raise (cause if isinstance(cause, (UsageError, RunFailure)) else RunFailure(str(cause))) from None
        if serve is not None:
            from fastsam_track.cluster.page import serve_fleet

            try:
                running.page = serve_fleet(running, host, port, token=serve_token, folder=serve_folder)
            except BaseException:
                running.close()
                raise
        return running
    except BaseException:
        if owns and ray.is_initialized():
            ray.shutdown()
        raise


def run_fleet(
    fleet: Fleet,
    *,
    address: str | None = None,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    every: float = 2.0,
    name: str = CONTROLLER,
    **init: Any,
) -> dict[str, Any]:
    """Run ``fleet`` until every camera's run ends; the last status.

    Raises:
        RunFailure: a camera failed (the others ran to their end).
        KeyboardInterrupt: Ctrl-C, after every camera stopped normally (outputs finalised).
    """
    with start_fleet(fleet, address=address, name=name, **init) as running:
        final = running.wait(on_status=on_status, every=every)
    failed = [c for c in final["cameras"] if c.get("state") == "failed"]
    if failed:
        names = ", ".join(f"{c['name']} ({c.get('note', '')})" for c in failed)
        raise RunFailure(f"{len(failed)} camera(s) failed: {names}")
    return final


def format_status(status: dict[str, Any]) -> str:
    """The status as a text table: a row per camera, then a row per segmenter.

    Example:
        >>> print(format_status({"cameras": [{"name": "yard", "state": "running", "fps": 9.5, "age_ms": 80.0,
        ...     "dropped": 2, "frames": 100, "restarts": 0, "node": "ab12cd"}], "segmenters": []}))
        camera  state    node    fps  age ms  dropped  frames  restarts
        yard    running  ab12cd  9.5  80      2        100     0
    """
    rows = [["camera", "state", "node", "fps", "age ms", "dropped", "frames", "restarts"]]
    for c in status["cameras"]:
        rows.append(
            [
                str(c.get("name", "?")),
                str(c.get("state", "?")),
                str(c.get("node", ""))[:6],
                f"{c.get('fps', 0.0):.1f}",
                f"{c.get('age_ms', 0.0):.0f}",
                str(c.get("dropped", 0)),
                str(c.get("frames", 0)),
                str(c.get("restarts", 0)),
            ]
        )
    lines = _table(rows)
    if status["segmenters"]:
        seg = [["segmenter", "state", "cameras", "batch", "utilisation"]]
        for s in status["segmenters"]:
            seg.append(
                [
                    str(s.get("node", ""))[:6],
                    str(s.get("state", "?")),
                    str(s.get("cameras", 0)),
                    f"{s.get('batch', 0.0):.1f}",
                    f"{100 * s.get('utilisation', 0.0):.0f}%",
                ]
            )
        lines += ["", *_table(seg)]
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
