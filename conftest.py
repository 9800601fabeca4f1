"""Test-session environment for the tests and the package's doctests alike."""

import os
import tempfile

# Before anything imports ultralytics: no downloads, no settings file in the home folder.
os.environ["YOLO_OFFLINE"] = "1"
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="fastsam-track-yolo-"))
os.environ["YOLO_VERBOSE"] = "False"
# No CLIP weights can be downloaded in tests: the hub answers from its cache at once.
os.environ["HF_HUB_OFFLINE"] = "1"
# Exported models (OpenVINO, ONNX) go to a cache of this session, not the user's.
os.environ.setdefault("FASTSAM_TRACK_CACHE", tempfile.mkdtemp(prefix="fastsam-track-cache-"))
