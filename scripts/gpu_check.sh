#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py) as the device machine runs it: one JSON under $OUT.
#
#   scripts/gpu_check.sh              # full sizes on the GPU; the pair in .gpu_media/ when it is there
#   scripts/gpu_check.sh --smoke      # tiny sizes on the CPU (what CI runs)
#
# The device machine gets only the checkout. Its python3 holds torch, timm, numpy, scikit-image
# and OpenCV; what else the end-to-end render needs (snakemake, mediapipe 0.10.21 with numpy<2,
# ffmpeg and ffprobe) travels in .whl/ and .gpu_media/bin/ (docs/operations.md, "GPU check"). Without them
# the render step records why it could not run and the other measurements still come back.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-.}/gpu_check.json
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
[ -d .gpu_media/bin ] && export PATH="$PWD/.gpu_media/bin:$PATH"
clips=()
if [ -f .gpu_media/actor.mp4 ] && [ -f .gpu_media/dubber.mp4 ]; then
    clips=(--actor .gpu_media/actor.mp4 --dubber .gpu_media/dubber.mp4)
fi
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
exec "$python" scripts/gpu_check.py --out "$out" "${clips[@]}" "$@"
