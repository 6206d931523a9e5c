"""Temporal smoothing of landmark trajectories.

Frame-by-frame reconstruction jitters (the paper names it as PRNet's first failure mode).
A Savitzky-Golay filter fits a low-order polynomial in a sliding window: it removes
frame-to-frame noise while following real motion without the lag of a moving average.
Gaps (frames without a face) split the track into runs that are smoothed separately, so a
cutaway never bleeds into the frames around it.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter


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
