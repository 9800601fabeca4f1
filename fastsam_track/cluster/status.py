"""A camera's status in the fleet: a ``SourceStatus`` with where and how long it has run.

Made by the camera's actor (``CameraWorker.status``), kept and completed by the controller
(``restarts``, and what a camera that does not answer said last), and given to users by the
launcher (``FleetRun.status``, as dicts) and the fleet's page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastsam_track.pipeline.status import SourceStatus

__all__ = ["CameraStatus"]


@dataclass(frozen=True)
class CameraStatus(SourceStatus):
    """``SourceStatus`` and the fleet's own figures.

    Attributes:
        seconds: seconds the run has gone.
        stage_ms: milliseconds per frame of each stage (decode, segment, track, render, encode).
        incarnation: how many times the camera's actor was started before this one.
        node: the Ray node it runs on.
        segmenter_node: its segmenter's node.
        restarts: its actor's restarts (the controller's count).

    Example:
        >>> row = CameraStatus("yard", "running", fps=9.5, restarts=1).as_dict()
        >>> row["name"], row["state"], row["fps"], row["restarts"], row["keyframe_share"]
        ('yard', 'running', 9.5, 1, None)
    """

    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    incarnation: int = 0
    node: str = ""
    segmenter_node: str = ""
    restarts: int = 0
