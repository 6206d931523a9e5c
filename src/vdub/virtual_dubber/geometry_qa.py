"""Geometry QA of a shot: tracking jitter before and after smoothing, alignment residuals,
frames without a face, as JSON numbers and one small plot for a person to glance at.

Jitter is the mean frame-to-frame acceleration of the skull-stable landmarks in pixels at
the clip's resolution (:func:`vdub.metrics.landmarks.landmark_acceleration`): a still head gives 0,
a tracker that shakes by a pixel gives about 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vdub.core.io import atomic_path
from vdub.metrics.landmarks import landmark_acceleration


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def jitter(raw: np.ndarray, smoothed: np.ndarray, valid: np.ndarray) -> dict:
    """Stable-landmark acceleration of a track before and after smoothing.

    raw, smoothed: T x 478 x 3 pixels; valid: T. Returns ``raw_px``, ``smoothed_px`` (means),
    ``reduction`` (1 - smoothed / raw) and the per-frame series ``raw_per_frame``,
    ``smoothed_per_frame`` (NaN where a neighbouring frame has no face).
    """
    a_raw = landmark_acceleration(raw, valid)
    a_smooth = landmark_acceleration(smoothed, valid)
    m_raw, m_smooth = _mean(a_raw), _mean(a_smooth)
    reduction = None if not m_raw or m_smooth is None else 1.0 - m_smooth / m_raw
    return {"raw_px": m_raw, "smoothed_px": m_smooth, "reduction": reduction,
            "raw_per_frame": a_raw, "smoothed_per_frame": a_smooth}


def box_jitter(boxes: np.ndarray, valid: np.ndarray) -> float | None:
    """Mean frame-to-frame acceleration of crop-box centres (pixels). boxes: T x 3 (cx, cy, side)."""
    return _mean(landmark_acceleration(boxes[:, None, :2], valid, [0]))


def _px(value: float | None) -> str:
    """A mean in pixels for a legend; none where the shot is too short or has no face to measure it."""
    return "n/a" if value is None else f"{value:.2f} px"


def plot(qa: dict, path: str | Path, title: str) -> None:
    """A three-panel PNG: actor jitter raw/smoothed, alignment residual, face presence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(7, 5.5), sharex=True, height_ratios=[2, 2, 1])
    t = np.arange(qa["frames"])
    jit = qa["jitter"]["actor"]
    axes[0].plot(t, jit["raw_per_frame"], lw=0.8, color="0.6", label=f"raw ({_px(jit['raw_px'])} mean)")
    axes[0].plot(t, jit["smoothed_per_frame"], lw=1.2, color="C0", label=f"smoothed ({_px(jit['smoothed_px'])} mean)")
    axes[0].set_ylabel("actor stable-point\naccel. (px/frame²)")
    axes[0].legend(fontsize=7, loc="upper right")
    residual = 100 * np.asarray(qa["residual_iod"], np.float64)
    axes[1].plot(t, residual, lw=1.0, color="C1")
    axes[1].axhline(1.5, color="C3", lw=0.8, ls="--", label="1.5% of inter-ocular")
    axes[1].set_ylabel("alignment residual\n(% inter-ocular)")
    axes[1].legend(fontsize=7, loc="upper right")
    for row, (role, missing) in enumerate(qa["frames_without_face"].items()):
        axes[2].scatter(missing, [row] * len(missing), marker="|", s=60, color="C3")
    axes[2].set_yticks(range(len(qa["frames_without_face"])), list(qa["frames_without_face"]), fontsize=7)
    axes[2].set_ylim(-0.5, len(qa["frames_without_face"]) - 0.5)
    axes[2].set_xlabel("frame")
    axes[2].set_title("frames without a face", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
