"""A local Ray instance for the cluster tests, in a network namespace that holds only loopback.

Ray binds to the machine's network interface even when told 127.0.0.1; inside a namespace with
only loopback it uses loopback, so no test traffic leaves the machine. ``.ci/run`` runs the
suite that way (``unshare -rn sh -c 'ip link set lo up && python -m pytest'``); elsewhere these
tests are skipped with that reason.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_clip
from tests.pipeline.conftest import RtspCamera, start_camera  # noqa: F401  (the RTSP camera fixture)

NAMESPACE_REASON = (
    "Ray would bind to this machine's network interface: run the tests in a network namespace holding "
    "only loopback, unshare -rn sh -c 'ip link set lo up && python -m pytest' (as .ci/run does)"
)
SETTINGS = {"model": "fastsam-tiny", "imgsz": 320, "conf": 0.25, "device": "cpu", "backend": "torch", "threads": 1}


def loopback_only() -> bool:
    """Whether this process's network namespace has no interface but loopback."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray instance with 3 logical CPUs (a segmenter takes 1, a camera 0.25), shut down after the module."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")
    if not loopback_only():
        pytest.skip(NAMESPACE_REASON)
    ray.init(address="local", num_cpus=3, include_dashboard=False, object_store_memory=150_000_000, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], Path]:
    """``clips(name, frames)``: a 320x180 synthetic clip (seeded by its name), made once per module."""
    folder = tmp_path_factory.mktemp("fleet-clips")
    made: dict[tuple[str, int], Path] = {}

    def clip(name: str, frames: int) -> Path:
        if (name, frames) not in made:
            seed = sum(name.encode()) % 97
            made[name, frames] = write_clip(folder / f"{name}.mp4", frames=frames, height=180, width=320, seed=seed)
        return made[name, frames]

    return clip
