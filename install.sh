#!/usr/bin/env bash
# Set up everything the workflow and its tests need on a fresh Debian/Ubuntu machine:
# ffmpeg + ffprobe (Debian package), and a virtual environment .venv with the pinned
# Python packages and this project installed in editable mode. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
    else
        echo "install.sh: ffmpeg and ffprobe are needed: sudo apt-get install ffmpeg" >&2
        exit 1
    fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all,test]"
.venv/bin/python -c "import vdub, torch, mediapipe, cv2, snakemake; print('vdub', vdub.__version__, '| torch', torch.__version__, '| mediapipe', mediapipe.__version__)"
