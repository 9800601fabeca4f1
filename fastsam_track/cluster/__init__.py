"""Many cameras across machines on Ray: a segmenter actor per machine (or GPU), a camera actor per source.

``load_fleet`` reads a fleet file (cameras, prompts, outputs); ``run_fleet`` runs it to the end
and ``start_fleet`` returns a handle to add cameras and prompts while it runs. Ray (the
``cluster`` extra) is imported only when a fleet starts; nothing else in the package imports
this one.
"""

from fastsam_track.cluster.fleet import CameraSpec, Fleet, SegmenterSpec, fleet_from_data, load_fleet
from fastsam_track.cluster.launch import FleetRun, format_status, run_fleet, start_fleet
from fastsam_track.cluster.page import FleetPage, serve_fleet

__all__ = [
    "CameraSpec",
    "Fleet",
    "FleetPage",
    "FleetRun",
    "SegmenterSpec",
    "fleet_from_data",
    "format_status",
    "load_fleet",
    "run_fleet",
    "serve_fleet",
    "start_fleet",
]
