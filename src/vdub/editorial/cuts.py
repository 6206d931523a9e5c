"""Shot boundaries of a reel without an edit list: ffmpeg's scene-change score, thresholded.

PySceneDetect is the field's library, but its wheel requires ``opencv-python``, which would
install a second ``cv2`` beside the ``opencv-contrib-python`` MediaPipe needs; ffmpeg's
``select`` filter computes a scene-change score per frame (the mean absolute difference of
consecutive frames, with the previous cut's level taken out) in the decoder the pipeline
already runs. The cuts are proposals: the operator checks them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError
from vdub.media.process import ffmpeg_url

_SCORE = re.compile(r"lavfi\.scene_score=([0-9.]+)")
_FRAME = re.compile(r"^frame:(\d+)")


def scene_scores(video: str | Path, shot: str | None = None, width: int = 320) -> np.ndarray:
    """ffmpeg's scene-change score of every frame of ``video`` (T floats in [0, 1]; 0 for the first).

    Computed on frames scaled to ``width`` pixels (a cut is a change of the whole picture;
    the score hardly moves with the size, the decode's cost does).
    """
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", ffmpeg_url(video), "-map", "0:v:0",
           "-vf", f"scale={width}:-2,select='gte(scene\\,0)',metadata=print:key=lavfi.scene_score:file=-",
           "-fps_mode", "passthrough", "-an", "-f", "null", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ShotError(shot, video, f"cannot compute scene scores: {done.stderr.strip().splitlines()[-1:]}")
    scores: dict[int, float] = {}
    frame = None
    for line in done.stdout.splitlines():
        if match := _FRAME.match(line):
            frame = int(match.group(1))
        elif (match := _SCORE.search(line)) and frame is not None:
            scores[frame] = float(match.group(1))
    n = max(scores) + 1 if scores else 0
    out = np.zeros(n)
    for t, value in scores.items():
        out[t] = value
    return out


def detect_cuts(video: str | Path, threshold: float = 0.3, min_shot: int = 6) -> list[int]:
    """The frames where a new shot begins (never 0), from :func:`scene_scores` over ``threshold``.

    A cut closer than ``min_shot`` frames to the one before is dropped (a flash, a fast whip
    pan): the stronger of the two is kept.
    """
    scores = scene_scores(video)
    cuts: list[int] = []
    for t in np.flatnonzero(scores >= threshold):
        if t == 0:
            continue
        if cuts and t - cuts[-1] < min_shot:
            if scores[t] > scores[cuts[-1]]:
                cuts[-1] = int(t)
            continue
        cuts.append(int(t))
    return cuts
