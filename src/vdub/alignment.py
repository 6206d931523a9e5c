"""3D face alignment: the virtual dubber's face put onto the actor's head, frame by frame.

Paper section 2.1: smooth the mesh vertex trajectories over time, rigidly align the virtual
dubber's mesh to the actor's head pose, and render the aligned virtual-dubber face onto the
actor frame (so hair, neck and background stay the actor's). The *composite* keeps only the
lower part of that face, which is what the identity-swapping network reenacts (section 2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import landmarks as lm
from .face_mesh import FaceTrack
from .geometry import Similarity, robust_umeyama
from .settings import Settings
from .smoothing import savgol_track
from .virtual_dubber import lower_face_weights
from .warp import blend, feather, interpolate_vertex_values, piecewise_affine


@dataclass
class AlignConfig(Settings):
    """Settings of the alignment stage."""

    smooth_window: int = 7  # Savitzky-Golay window (frames) on mesh vertex trajectories
    smooth_order: int = 2  # polynomial order of that filter
    feather_fraction: float = 0.08  # blend feather radius, as a fraction of the inter-ocular distance
    composite_from: float = 0.35  # lower-face weight at which the composite starts (0 = nose base)



def smooth_track(track: FaceTrack, cfg: AlignConfig) -> FaceTrack:
    """Temporally smoothed copy of a face track (gaps stay gaps)."""
    points = savgol_track(track.points, track.valid, cfg.smooth_window, cfg.smooth_order)
    return FaceTrack(points.astype(np.float32), track.valid.copy())


def rigid_transforms(source: FaceTrack, target: FaceTrack) -> list[Similarity | None]:
    """Per-frame similarity taking ``source`` meshes onto ``target`` meshes (stable points only).

    None where either track has no face.
    """
    out: list[Similarity | None] = []
    for t in range(len(source.points)):
        if source.valid[t] and target.valid[t]:
            out.append(robust_umeyama(source.points[t, lm.STABLE].astype(np.float64),
                                      target.points[t, lm.STABLE].astype(np.float64)))
        else:
            out.append(None)
    return out


def stable_residual(aligned: np.ndarray, target: np.ndarray) -> float:
    """Median 2D distance (pixels) between aligned and target stable points. Both 478 x 3."""
    return float(np.median(np.linalg.norm(aligned[lm.STABLE, :2] - target[lm.STABLE, :2], axis=1)))


def render_aligned(actor_frame: np.ndarray, actor_points: np.ndarray, vd_frame: np.ndarray,
                   vd_points: np.ndarray, transform: Similarity, cfg: AlignConfig,
                   triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render the virtual dubber's face onto one actor frame.

    actor_frame: H x W x 3; actor_points, vd_points: 478 x 3; triangles: M x 3 over the 478
    points (the inner-mouth polygon is covered, so the dubbed mouth interior comes along).

    Returns ``(aligned frame, composite frame, aligned mesh 478 x 3, composite alpha H x W)``:
    the aligned frame carries the whole rendered face, the composite only its lower part.
    """
    shape = actor_frame.shape[:2]
    aligned_points = transform.apply(vd_points.astype(np.float64))
    face, coverage = piecewise_affine(vd_frame, vd_points[:, :2], aligned_points[:, :2], triangles, shape,
                                      background=actor_frame)
    radius = max(cfg.feather_fraction * float(lm.inter_ocular(actor_points)), 1.0)
    alpha = feather(coverage.astype(np.float32), radius)
    aligned = blend(actor_frame, face, alpha)

    # Lower-face weight of every pixel, interpolated from the per-landmark weights over
    # the mesh: 0 above the nose base, 1 from the upper lip down.
    start = cfg.composite_from
    ramp = np.clip((lower_face_weights(aligned_points) - start) / max(1.0 - start, 1e-6), 0, 1)
    lower = interpolate_vertex_values(aligned_points[:, :2], ramp, triangles, shape)
    composite_alpha = alpha * lower
    composite = blend(actor_frame, face, composite_alpha)
    return aligned, composite, aligned_points.astype(np.float32), composite_alpha
