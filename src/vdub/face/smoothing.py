"""Temporal smoothing of landmark trajectories.

Frame-by-frame reconstruction jitters (the paper names it as PRNet's first failure mode).
A Savitzky-Golay filter fits a low-order polynomial in a sliding window: it removes
frame-to-frame noise while following real motion without the lag of a moving average or
a causal filter (One-Euro, Kalman): the pipeline is batch, so the filter may look ahead.
Gaps (frames without a face) split the track into runs that are smoothed separately, so a
cutaway never bleeds into the frames around it.

A face mesh moves in two ways that want different filters: the head as a whole (pose:
rotation, scale, translation; slow, heavy) and the face on the head (expression; the lips
move fast). :func:`smooth_mesh_track` separates them with a robust similarity fit on
skull-stable points, smooths each with its own window, and puts them back together.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter
from scipy.spatial.transform import Rotation

from vdub.face import landmarks as lm
from vdub.face.config import SmoothingConfig
from vdub.face.geometry import Similarity, robust_umeyama


def valid_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` index ranges of consecutive True entries."""
    runs = []
    start = None
    for t, v in enumerate(np.asarray(valid, bool)):
        if v and start is None:
            start = t
        elif not v and start is not None:
            runs.append((start, t))
            start = None
    if start is not None:
        runs.append((start, len(valid)))
    return runs


def savgol_track(values: np.ndarray, valid: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Savitzky-Golay filter along axis 0 within each valid run.

    values: T x ... (any trailing shape). window: odd length in frames (at the shot's fps).
    Runs shorter than ``window`` shrink the window to the largest odd length that fits;
    invalid frames are returned unchanged.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    if window < 3:
        return out.astype(values.dtype)
    for start, stop in valid_runs(valid):
        n = stop - start
        w = min(window, n if n % 2 else n - 1)
        if w <= order:
            continue
        out[start:stop] = savgol_filter(out[start:stop], w, order, axis=0, mode="interp")
    return out.astype(values.dtype)


def moving_average(values: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 over valid frames (edges use a shorter window)."""
    out = np.array(values, dtype=np.float64, copy=True)
    half = window // 2
    for start, stop in valid_runs(valid):
        seg = out[start:stop].copy()
        csum = np.concatenate([np.zeros((1,) + seg.shape[1:]), np.cumsum(seg, axis=0)])
        idx = np.arange(len(seg))
        lo = np.maximum(idx - half, 0)
        hi = np.minimum(idx + half + 1, len(seg))
        shape = (-1,) + (1,) * (seg.ndim - 1)
        out[start:stop] = (csum[hi] - csum[lo]) / (hi - lo).reshape(shape)
    return out.astype(values.dtype)


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation over invalid frames (held constant before the first / after the last).

    For quantities that must exist on every frame, such as crop boxes; never for meshes.
    """
    valid = np.asarray(valid, bool)
    out = np.array(values, dtype=np.float64, copy=True)
    if not valid.any() or valid.all():
        return out
    t = np.arange(len(values))
    flat = out.reshape(len(values), -1)
    for j in range(flat.shape[1]):
        flat[~valid, j] = np.interp(t[~valid], t[valid], flat[valid, j])
    return flat.reshape(out.shape)


def head_poses(points: np.ndarray, valid: np.ndarray, canonical: np.ndarray) -> list[Similarity | None]:
    """Per-frame similarity taking ``canonical`` onto each frame's mesh, fitted on stable points.

    points: T x 478 x 3; valid: T; canonical: 478 x 3. None where there is no face.
    """
    src = canonical[lm.STABLE].astype(np.float64)
    return [robust_umeyama(src, points[t, lm.STABLE].astype(np.float64)) if valid[t] else None
            for t in range(len(points))]


def smooth_poses(poses: list[Similarity | None], window: int, order: int = 2) -> list[Similarity | None]:
    """Savitzky-Golay smoothing of a pose sequence (None = gap), each run on its own.

    Rotations are filtered as rotation vectors relative to the run's mean rotation (small
    angles, no wrap-around), scale as its logarithm, translation as it is.
    """
    valid = np.array([p is not None for p in poses])
    out: list[Similarity | None] = list(poses)
    if window < 3 or not valid.any():
        return out
    for start, stop in valid_runs(valid):
        run = poses[start:stop]
        rotations = Rotation.from_matrix(np.stack([p.rotation for p in run]))
        mean = rotations.mean()
        params = np.concatenate([(mean.inv() * rotations).as_rotvec(),
                                 np.log([[p.scale] for p in run]),
                                 np.stack([p.translation for p in run])], axis=1)
        params = savgol_track(params, np.ones(len(run), bool), window, order)
        rot = (mean * Rotation.from_rotvec(params[:, :3])).as_matrix()
        for i in range(len(run)):
            out[start + i] = Similarity(float(np.exp(params[i, 3])), rot[i], params[i, 4:])
    return out


def smooth_mesh_track(points: np.ndarray, valid: np.ndarray, cfg: SmoothingConfig) -> np.ndarray:
    """Smooth a mesh track: head pose and pose-normalised vertices, each with its own filter.

    points: T x 478 x 3 pixels; valid: T. Returns T x 478 x 3 float32; frames without a face
    are returned unchanged (gaps stay gaps).
    """
    valid = np.asarray(valid, bool)
    out = np.array(points, np.float32, copy=True)
    if not valid.any():
        return out
    canonical = points[np.flatnonzero(valid)[0]].astype(np.float64)
    canonical = canonical - canonical[lm.STABLE].mean(axis=0)
    poses = head_poses(points, valid, canonical)
    local = np.zeros(points.shape, np.float64)
    for t in np.flatnonzero(valid):
        local[t] = poses[t].inverse().apply(points[t].astype(np.float64))
    local = savgol_track(local, valid, cfg.vertex_window, cfg.vertex_order)
    smoothed = smooth_poses(poses, cfg.pose_window, cfg.pose_order)
    for t in np.flatnonzero(valid):
        out[t] = smoothed[t].apply(local[t])
    return out
