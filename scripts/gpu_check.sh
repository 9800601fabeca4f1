#!/bin/sh
# The GPU check in one command, on a machine lent for a few minutes (see scripts/gpu_check.py).
#
#   scripts/gpu_check.sh OUTDIR [WHEELS]
#
# WHEELS: a folder of the wheels the machine lacks, made here beforehand (no network there):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d WHEELS \
#       ultralytics ultralytics-thop supervision lapx threadpoolctl pydeprecate defusedxml py-cpuinfo
# They are installed without their dependencies (the machine's torch, OpenCV and numpy stay);
# nothing else is installed but tensorrt, which the check tries from the package index.
set -u
out=${1:?usage: scripts/gpu_check.sh OUTDIR [WHEELS]}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ge 2 ]; then
    echo "installing the wheels in $2:" && ls "$2"
    python -m pip install --no-index --no-deps "$2"/*.whl || echo "some wheels did not install; the check goes on"
fi
YOLO_OFFLINE=1 PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec python "$here/scripts/gpu_check.py" "$out"
