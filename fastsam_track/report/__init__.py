"""Pictures of what a run did: ``write_report`` turns ``--stats`` and its time series into one HTML page."""

from fastsam_track.report.page import write_report

__all__ = ["write_report"]
