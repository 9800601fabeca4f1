"""Debian packages the real-component tests drive, and why a test skips when one is missing.

One place decides: a test that needs GStreamer's RTSP server, Chromium or an X display
carries ``@pytest.mark.needs("gstreamer")`` (``"chromium"``, ``"x11"``), or uses a fixture
that implies it (``tests/conftest.py`` maps them), and is skipped at collection, with the
packages to install, when the component is absent. ``.ci/run`` installs them all.

The locations can be moved with environment variables (``FASTSAM_TEST_SYSTEM_PYTHON``,
``FASTSAM_TEST_CHROMIUM``, and ``PATH`` for the X tools): that is how
``tests/test_fresh_machine.py`` hides them to play a machine without the packages.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable

__all__ = ["CHROMIUM", "COMPONENTS", "SYSTEM_PYTHON", "missing"]

# GObject bindings exist only for Debian's own Python, so the RTSP camera runs under it.
SYSTEM_PYTHON = os.environ.get("FASTSAM_TEST_SYSTEM_PYTHON", "/usr/bin/python3")
CHROMIUM = os.environ.get("FASTSAM_TEST_CHROMIUM", "/usr/bin/chromium")

_GSTREAMER_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-tools gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav"
)


def _gstreamer() -> str | None:
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        result = subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        why = f"{SYSTEM_PYTHON} cannot run ({error.strerror if isinstance(error, OSError) else 'timed out'})"
    else:
        if result.returncode == 0:
            return None
        why = (result.stderr.strip().splitlines() or ["?"])[-1]
    return f"needs GStreamer's RTSP server for {SYSTEM_PYTHON}: {why}; apt-get install {_GSTREAMER_PACKAGES}"


def _chromium() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'needs playwright: pip install -e ".[test]"'
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs Chromium at {CHROMIUM}: apt-get install chromium"
    return None


def _x11() -> str | None:
    absent = [tool for tool in ("Xvfb", "xdotool", "xdpyinfo") if shutil.which(tool) is None]
    if absent:
        return f"needs {', '.join(absent)} (not on PATH): apt-get install xvfb xdotool x11-utils"
    return None


COMPONENTS: dict[str, Callable[[], str | None]] = {"gstreamer": _gstreamer, "chromium": _chromium, "x11": _x11}


@functools.cache
def missing(component: str) -> str | None:
    """Why ``component`` (a key of ``COMPONENTS``) cannot run here, naming what to install; None when it can."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; known: {', '.join(COMPONENTS)}")
    return COMPONENTS[component]()
