"""A fleet file: the cameras a cluster runs, each with its prompts and outputs, checked before Ray starts.

Format (YAML; paths relative to the file's folder)::

    settings:                 # RunConfig keys, for every camera (model, imgsz, conf, backend...)
      model: FastSAM-s
      imgsz: 640
    segmenter:                # one segmenter per machine (per GPU on a GPU machine)
      cpus: 1                 # CPUs each takes (its network's threads)
      wait_ms: 20             # longest wait for other cameras' frames to batch with
    camera_cpus: 0.25         # CPUs each camera takes (decode, tracking, encode)
    defaults:                 # camera keys every camera gets; {name} becomes the camera's name
      output: out/{name}.mp4
    cameras:
      - source: rtsp://10.0.0.5:8554/yard           # name: the URL's last part ("yard")
        prompts: [{points: [[320, 180]]}]           # the prompts file's records; frame 0, object 1, 2... by default
      - name: gate
        source: rtsp://10.0.0.6:8554/stream
        save_tracks: tracks/gate.txt
        resources: {site-b: 0.01}                   # only on a machine with this Ray resource

Camera keys: ``name``, ``source``, ``prompts``, ``rtsp_out``, ``resources``, and the outputs of
the output registry (``exports.registry.FLEET_KEYS``): ``output`` (annotated MP4), ``save_segments``,
``save_masks``, ``save_tracks``, ``save_edges``, ``save_proposals``...

Example:
    >>> fleet = fleet_from_data({"cameras": [{"source": "rtsp://cam/yard", "output": "out/{name}.mp4"}]}, Path("/f"))
    >>> fleet.cameras[0].name, str(fleet.cameras[0].output)
    ('yard', '/f/out/yard.mp4')
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastsam_track.configs import RunConfig, load_config
from fastsam_track.documents import DocumentError, load_yaml, read_text
from fastsam_track.errors import ConfigError, FastSamTrackError, PromptError, UsageError
from fastsam_track.pipeline.exports.registry import FLEET_KEYS

__all__ = ["CameraSpec", "Fleet", "SegmenterSpec", "fleet_from_data", "load_fleet"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CAMERA_KEYS = ("name", "source", "prompts", "rtsp_out", "resources", *FLEET_KEYS)
_TOP_KEYS = ("settings", "segmenter", "camera_cpus", "defaults", "cameras")


@dataclass(frozen=True)
class CameraSpec:
    """One camera of a fleet.

    Attributes:
        name: unique in the fleet (letters, digits, ``.``, ``_``, ``-``); names its outputs' folders.
        source: a stream URL, a video file or a folder of images (files are processed once, to their end).
        prompts: prompt records of the prompts-file form (``parse.prompt_from_record``), checked.
        files: the outputs it writes, by their fleet key (``output``: annotated H.264 MP4, fragmented, so
            a killed camera's file plays up to its last fragment; ``save_*``: exports, as ``fastsam-track
            run``'s); each is also an attribute (``spec.output``: its path or None).
        rtsp_out: an RTSP URL to push the annotated stream to.
        resources: Ray resources the camera's machine must have (pins it to machines that have them).
    """

    name: str
    source: str
    prompts: tuple[dict[str, Any], ...] = ()
    files: dict[str, Path] = field(default_factory=dict)
    rtsp_out: str | None = None
    resources: dict[str, float] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Path | None:
        """An output's path by its fleet key (None when it is not written)."""
        if key.startswith("_") or key not in FLEET_KEYS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")
        return self.__dict__.get("files", {}).get(key)

    @property
    def live(self) -> bool:
        """A camera or stream (runs until stopped), not a file (processed to its end)."""
        from fastsam_track.pipeline.sources.live import is_stream_url

        return is_stream_url(self.source) or (self.source.isascii() and self.source.isdigit())

    def paths(self) -> dict[str, Path]:
        """The files and folders it writes, by key."""
        return dict(self.files)


@dataclass(frozen=True)
class SegmenterSpec:
    """How each segmenter actor is sized.

    Attributes:
        cpus: CPUs it takes (its runtime's threads); on a CPU machine, one segmenter per this many free CPUs
            would compete for the same cores, so there is one per machine.
        gpus: GPUs it takes; a machine with G GPUs gets G segmenters (one per GPU) when this is 1.
        wait_ms: longest wait, once one camera's frame has arrived, for the other cameras' frames to batch with it.
    """

    cpus: float = 1.0
    gpus: float = 0.0
    wait_ms: float = 20.0


@dataclass(frozen=True)
class Fleet:
    """Cameras and how to run them: the model settings, the segmenters' and cameras' sizes."""

    cameras: tuple[CameraSpec, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    segmenter: SegmenterSpec = field(default_factory=SegmenterSpec)
    camera_cpus: float = 0.25

    @property
    def config(self) -> RunConfig:
        """The model and run settings every camera shares."""
        return load_config(overrides=self.settings)

    def camera(self, name: str) -> CameraSpec:
        """The camera called ``name``; ``UsageError`` if there is none."""
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise UsageError(f"no camera {name!r} in the fleet; cameras: {', '.join(c.name for c in self.cameras)}")


def load_fleet(path: str | Path) -> Fleet:
    """Read and check a fleet file (see the module's docstring).

    Raises:
        ConfigError: an unreadable file, an unknown key, a bad value; the message names the camera and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"fleet file {str(path)!r} does not exist")
    try:
        data = load_yaml(read_text(path))
    except DocumentError as error:  # too large or deep, an alias bomb, bad UTF-8, not YAML
        raise ConfigError(f"fleet file {str(path)!r}: {error}") from None
    try:
        return fleet_from_data(data, path.resolve().parent)
    except FastSamTrackError as error:
        raise ConfigError(f"{path.name}: {error}") from None


def fleet_from_data(data: Any, folder: Path = Path()) -> Fleet:
    """A ``Fleet`` from the fleet file's content (a mapping); relative paths are taken from ``folder``.

    Raises:
        ConfigError: as ``load_fleet``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a fleet must be a mapping with a 'cameras' list, got {type(data).__name__}")
    _known(data, _TOP_KEYS, "the fleet")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"'settings' must be a mapping of run settings, got {type(settings).__name__}")
    if load_config(overrides=settings).precision == "int8" and settings.get("calibration") is None:
        raise ConfigError("settings: precision int8 in a fleet needs 'calibration' (a video or folder of frames)")
    segmenter = _segmenter(data.get("segmenter") or {})
    camera_cpus = _number(data.get("camera_cpus", 0.25), "camera_cpus", minimum=0.0)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"'defaults' must be a mapping of camera keys, got {type(defaults).__name__}")
    _known(defaults, _CAMERA_KEYS, "'defaults'")
    entries = data.get("cameras")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("'cameras' must be a non-empty list of cameras, each with a 'source'")
    cameras: list[CameraSpec] = []
    for number, entry in enumerate(entries):
        camera = camera_from_data(entry, defaults, folder, f"camera {number}", taken=[c.name for c in cameras])
        cameras.append(camera)
    _distinct_outputs(cameras)
    return Fleet(tuple(cameras), dict(settings), segmenter, camera_cpus)


def camera_from_data(
    entry: Any, defaults: dict[str, Any], folder: Path, where: str, taken: list[str] | None = None
) -> CameraSpec:
    """One camera from its mapping (with the fleet's ``defaults``); ``taken``: names already used."""
    from fastsam_track.pipeline.build import source_names
    from fastsam_track.pipeline.prompts.parse import prompt_from_record

    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping with a 'source', got {type(entry).__name__}")
    _known(entry, _CAMERA_KEYS, where)
    source = entry.get("source")
    if not isinstance(source, (str, int)) or isinstance(source, bool) or not str(source).strip():
        raise ConfigError(f"{where}: 'source' must be a stream URL, a file or a folder, got {source!r}")
    source = str(source)
    name = entry.get("name", source_names([source])[0])
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: 'name' must be letters, digits, '.', '_' or '-', got {name!r}")
    where = f"camera {name!r}"
    if name in (taken or []):
        raise ConfigError(f"{where}: two cameras are called {name!r}: give one a 'name'")
    values = {**defaults, **entry}
    if "://" not in source and not (source.isascii() and source.isdigit()):
        source = str(folder / source)
    records = values.get("prompts") or []
    if not isinstance(records, list):
        raise ConfigError(f"{where}: 'prompts' must be a list of prompts, got {type(records).__name__}")
    prompts = []
    for number, record in enumerate(records):
        full = {"frame": 0, "object": number + 1, **record} if isinstance(record, dict) else record
        try:
            prompt_from_record(full, f"{where}: prompt {number}")  # checked here, parsed again where it runs
        except PromptError as error:
            raise ConfigError(str(error)) from None
        prompts.append(full)
    paths = {}
    for key, kind in FLEET_KEYS.items():
        value = values.get(key)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where}: {key!r} must be a path, got {value!r}")
            paths[key] = folder / value.replace("{name}", name)
            try:
                if kind.check is not None:
                    kind.check(paths[key])
            except FastSamTrackError as error:
                raise ConfigError(f"{where}: {key!r}: {error}") from None
    rtsp_out = values.get("rtsp_out")
    if rtsp_out is not None and (not isinstance(rtsp_out, str) or not rtsp_out.startswith(("rtsp://", "rtsps://"))):
        raise ConfigError(f"{where}: 'rtsp_out' must be an rtsp:// URL, got {rtsp_out!r}")
    resources = values.get("resources") or {}
    if not isinstance(resources, dict) or not all(isinstance(k, str) for k in resources):
        raise ConfigError(f"{where}: 'resources' must map Ray resource names to amounts, got {resources!r}")
    resources = {k: _number(v, f"{where}: resource {k!r}", minimum=0.0) for k, v in resources.items()}
    if not (paths or rtsp_out):
        raise ConfigError(f"{where}: nothing to write: give 'output', 'rtsp_out' or a 'save_*' key (or 'defaults')")
    return CameraSpec(
        name=name,
        source=source,
        prompts=tuple(prompts),
        files=paths,
        rtsp_out=rtsp_out.replace("{name}", name) if rtsp_out else None,
        resources=resources,
    )


def _distinct_outputs(cameras: list[CameraSpec]) -> None:
    seen: dict[Path, str] = {}
    for camera in cameras:
        for key, path in camera.paths().items():
            if path in seen:
                raise ConfigError(f"camera {camera.name!r}: {key} {str(path)!r} is also {seen[path]}")
            seen[path] = f"camera {camera.name!r}'s {key}"


def _segmenter(data: Any) -> SegmenterSpec:
    if not isinstance(data, dict):
        raise ConfigError(f"'segmenter' must be a mapping, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(SegmenterSpec)]
    _known(data, names, "'segmenter'")
    values = {k: _number(v, f"segmenter {k}", minimum=0.0) for k, v in data.items()}
    spec = SegmenterSpec(**values)
    if spec.cpus == 0 and spec.gpus == 0:
        raise ConfigError("'segmenter' must take some cpus or gpus, got 0 of both")
    return spec


def _number(value: Any, key: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise ConfigError(f"{key} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _known(data: dict[str, Any], keys: tuple[str, ...] | list[str], where: str) -> None:
    unknown = sorted(set(data) - set(keys), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(keys)}")
