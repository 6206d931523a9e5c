#!/usr/bin/env python3
"""Per-frame cost of the geometry stage's parts, against the face-mesh tracker itself.

    python scripts/benchmark_geometry.py [VIDEO] [--frames N] [--size PX]

VIDEO defaults to ../shared/media/actor_woman_studio.mp4 (falls back to the embedded demo's
actor clip); frames are resized to SIZE x SIZE (default 512). The virtual dubber is the
clip's first frame, aligned and rendered onto every frame, as the align stage does.
Prints milliseconds per frame for face mesh, smoothing (pose + vertices), rigid alignment
(robust fit, consistent scale) and rendering (visible triangles, warp, feathered blend).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from vdub.face.config import SmoothingConfig
from vdub.face.mesh import FaceTrack, track_faces
from vdub.face.warp import triangulate
from vdub.media.video import probe_video, read_frames
from vdub.virtual_dubber.alignment import render_aligned, rigid_transforms, smooth_track
from vdub.virtual_dubber.config import AlignConfig

REPO = Path(__file__).resolve().parents[1]


def _ms_per_frame(seconds: float, frames: int) -> float:
    return 1000.0 * seconds / frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REPO.parent / "shared" / "media" / "actor_woman_studio.mp4"
    if not default.exists():
        default = REPO / "resources" / "demo" / "actor.mp4"
    parser.add_argument("video", nargs="?", type=Path, default=default)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    info = probe_video(args.video)
    frames = np.stack([cv2.resize(f, (args.size, args.size), interpolation=cv2.INTER_AREA)
                       for f in read_frames(info, max_frames=args.frames)])
    n = len(frames)
    timings = {}

    t0 = time.perf_counter()
    raw = track_faces(iter(frames), n)
    timings["face mesh (MediaPipe, for scale)"] = time.perf_counter() - t0
    if not raw.valid.any():
        raise SystemExit(f"{args.video}: no face found")

    t0 = time.perf_counter()
    actor = smooth_track(raw, SmoothingConfig())
    timings["smoothing (pose + vertices)"] = time.perf_counter() - t0

    first = int(np.flatnonzero(raw.valid)[0])
    vd = FaceTrack(np.repeat(actor.points[first:first + 1], n, axis=0), np.ones(n, bool))
    cfg = AlignConfig()
    t0 = time.perf_counter()
    transforms = rigid_transforms(vd, actor, cfg.scale_mode, cfg.scale_window)
    timings["rigid alignment (robust, consistent scale)"] = time.perf_counter() - t0

    triangles = triangulate(vd.points[0, :, :2])
    t0 = time.perf_counter()
    for t in range(n):
        if transforms[t] is not None:
            render_aligned(frames[t], actor.points[t], frames[first], vd.points[t], transforms[t], cfg, triangles)
    timings["render (visible triangles, warp, blend)"] = time.perf_counter() - t0

    print(f"{args.video.name}: {n} frames at {args.size}x{args.size}, {int(raw.valid.sum())} with a face")
    print("| part | ms / frame |\n|---|---:|")
    for name, seconds in timings.items():
        print(f"| {name} | {_ms_per_frame(seconds, n):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
