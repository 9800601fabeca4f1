"""Two simulated machines (Ray's ``cluster_utils.Cluster``, a custom resource each): a segmenter on
each, every camera placed on its segmenter's machine, a camera that names a machine's resource on it;
and a fleet without an address, which starts its own Ray whatever cluster the environment names."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastsam_track.cluster import fleet_from_data, start_fleet
from tests.cluster.conftest import NAMESPACE_REASON, SETTINGS, loopback_only


@pytest.fixture
def two_machines() -> Iterator[dict[str, str]]:
    """A head without CPUs (the driver and controller) and two 2-CPU machines; ``{resource: node id}``."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")
    if not loopback_only():
        pytest.skip(NAMESPACE_REASON)
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for machine in ("machine-a", "machine-b"):
            cluster.add_node(num_cpus=2, resources={machine: 1}, object_store_memory=100_000_000)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        yield {r: n["NodeID"] for n in ray.nodes() for r in n["Resources"] if r.startswith("machine-")}
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_cameras_run_beside_their_machines_segmenter(
    two_machines: dict[str, str], tmp_path: Path, clips: Callable[[str, int], Path]
) -> None:
    cameras: list[dict[str, Any]] = [
        {"name": f"c{n}", "source": str(clips(f"c{n}", 10)), "save_tracks": f"tracks/c{n}.txt"} for n in range(4)
    ]
    cameras.append(
        {**cameras[0], "name": "pinned", "save_tracks": "tracks/pinned.txt", "resources": {"machine-b": 0.01}}
    )
    fleet = fleet_from_data({"settings": SETTINGS, "camera_cpus": 0.25, "cameras": cameras}, tmp_path)
    with start_fleet(fleet, name="two-machines") as running:
        handles = running.handles()
        import ray

        segmenter_nodes = ray.get([s.ready.remote() for s in handles["segmenters"]])
        final = running.wait(timeout=300)
    assert sorted(segmenter_nodes) == sorted(two_machines.values())  # one segmenter on each machine
    nodes = {c["name"]: c["node"] for c in final["cameras"]}
    assert all(c["state"] == "finished" and c["frames"] == 10 for c in final["cameras"])
    assert all(c["node"] == c["segmenter_node"] for c in final["cameras"])  # no frame leaves its machine
    assert nodes["pinned"] == two_machines["machine-b"]
    assert sorted(Counter(nodes.values()).values()) == [2, 3]  # spread: each camera to the least busy segmenter
    for name in nodes:
        assert len((tmp_path / "tracks" / f"{name}.txt").read_text().splitlines()) > 0


def test_a_fleet_without_an_address_starts_its_own_ray_whatever_the_environment_names(
    tmp_path: Path, clips: Callable[[str, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale ``$RAY_ADDRESS`` (or ``/tmp/ray/ray_current_cluster`` left by a killed cluster) made
    ``ray.init(num_cpus=...)`` try to join it and refuse the CPU count."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")
    if not loopback_only():
        pytest.skip(NAMESPACE_REASON)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # nothing listens there
    camera = {"name": "solo", "source": str(clips("solo", 6)), "save_tracks": "tracks/solo.txt"}
    fleet = fleet_from_data({"settings": SETTINGS, "camera_cpus": 0.25, "cameras": [camera]}, tmp_path)
    with start_fleet(fleet, name="own-ray", num_cpus=2, object_store_memory=100_000_000) as running:
        final = running.wait(timeout=300)
    assert [(c["state"], c["frames"]) for c in final["cameras"]] == [("finished", 6)]
