"""3D face alignment: the virtual dubber's face put onto the actor's head, frame by frame.

Paper section 2.1: smooth the mesh vertex trajectories over time, rigidly align the virtual
dubber's mesh to the actor's head pose, and render the aligned virtual-dubber face onto the
actor frame (so hair, neck and background stay the actor's). The *composite* keeps only the
lower part of that face, which is what the identity-swapping network reenacts (section 2.2).
"""

from __future__ import annotations

import numpy as np

from vdub.face import landmarks as lm
from vdub.face.config import SmoothingConfig
from vdub.face.geometry import Similarity, robust_umeyama
from vdub.face.mesh import FaceTrack
from vdub.face.smoothing import savgol_track, smooth_mesh_track
from vdub.face.warp import blend, feather, piecewise_affine, rasterize, visible_triangles
from vdub.virtual_dubber.builtin import face_axis
from vdub.virtual_dubber.config import SCALE_MODES, AlignConfig


def smooth_track(track: FaceTrack, cfg: SmoothingConfig, exclude: np.ndarray | None = None) -> FaceTrack:
    """Temporally smoothed copy of a face track: pose and expression filtered, gaps stay gaps.

    exclude: T bool, frames left out of the filters (their neighbours are smoothed as if they were
    gaps) that keep their own raw mesh: a mouth behind a hand is a guess that must not pull others.
    """
    if exclude is None or not np.any(exclude):
        return FaceTrack(smooth_mesh_track(track.points, track.valid, cfg), track.valid.copy())
    kept = track.valid & ~np.asarray(exclude, bool)
    points = smooth_mesh_track(track.points, kept, cfg)
    return FaceTrack(np.where(kept[:, None, None], points, track.points).astype(np.float32), track.valid.copy())


def rigid_transforms(source: FaceTrack, target: FaceTrack, scale_mode: str = "frame",
                     scale_window: int = 31) -> list[Similarity | None]:
    """Per-frame similarity taking ``source`` meshes onto ``target`` meshes (stable points only).

    The fit is robust (outlying points are dropped and the fit redone). A per-frame scale
    lets the face breathe with tracking noise, which the paper names as a failure; so in
    ``'smooth'`` mode the log scale is Savitzky-Golay filtered over ``scale_window`` frames
    (a dolly-in is still followed) and in ``'shot'`` mode one median scale holds for the
    shot; rotation and translation are then refitted for that scale. None where either
    track has no face.
    """
    if scale_mode not in SCALE_MODES:
        raise ValueError(f"scale_mode must be one of {SCALE_MODES}, got {scale_mode!r}")
    both = source.valid & target.valid
    src = source.points[:, lm.STABLE].astype(np.float64)
    dst = target.points[:, lm.STABLE].astype(np.float64)
    free = [robust_umeyama(src[t], dst[t]) if both[t] else None for t in range(len(both))]
    if scale_mode == "frame" or not both.any():
        return free
    log_scale = np.array([np.log(tr.scale) if tr is not None else np.nan for tr in free])
    if scale_mode == "shot":
        log_scale[both] = np.median(log_scale[both])
    else:
        log_scale = savgol_track(log_scale, both, scale_window, order=2)
    return [robust_umeyama(src[t], dst[t], fixed_scale=float(np.exp(log_scale[t]))) if both[t] else None
            for t in range(len(both))]


def stable_residual(aligned: np.ndarray, target: np.ndarray) -> float:
    """Median 2D distance (pixels) between aligned and target stable points. Both 478 x 3."""
    return float(np.median(np.linalg.norm(aligned[lm.STABLE, :2] - target[lm.STABLE, :2], axis=1)))


def upper_lip_line(aligned_points: np.ndarray, actor_points: np.ndarray) -> float:
    """The higher of the two upper lips along the aligned face's downward axis (pixels).

    aligned_points, actor_points: 478 x 2+ meshes in the same frame. The actor's whole upper
    lip contour counts (a raised corner too); the virtual dubber's by its top point.
    """
    down = face_axis(aligned_points)
    actor_lip = float(np.min(actor_points[lm.OUTER_LIPS[:11], :2] @ down))
    return min(float(aligned_points[0, :2] @ down), actor_lip)


def render_aligned(actor_frame: np.ndarray, actor_points: np.ndarray, vd_frame: np.ndarray,
                   vd_points: np.ndarray, transform: Similarity, cfg: AlignConfig,
                   triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render the virtual dubber's face onto one actor frame.

    actor_frame: H x W x 3; actor_points, vd_points: 478 x 3; triangles: M x 3 over the 478
    points (the inner-mouth polygon is covered, so the dubbed mouth interior comes along).
    Triangles that turn away from the camera under the alignment are not drawn, and the
    rest are drawn far to near (see :func:`vdub.face.warp.visible_triangles`).

    Returns ``(aligned frame, composite frame, aligned mesh 478 x 3, composite alpha H x W)``:
    the aligned frame carries the whole rendered face, the composite only its lower part.
    """
    h, w = actor_frame.shape[:2]
    aligned_points = transform.apply(vd_points.astype(np.float64))
    drawn = visible_triangles(vd_points, aligned_points, triangles, depth=aligned_points[:, 2])
    radius = max(cfg.feather_fraction * float(lm.inter_ocular(actor_points)), 1.0)
    aligned, composite = actor_frame.copy(), actor_frame.copy()
    composite_alpha = np.zeros((h, w), np.float32)
    # Everything happens inside the face's bounding box (plus the blur's reach): a face
    # covers a fraction of the frame, and per-pixel work elsewhere would only copy pixels.
    margin = int(np.ceil(3 * radius)) + 2
    x0, y0 = np.maximum(np.floor(aligned_points[:, :2].min(axis=0)).astype(int) - margin, 0)
    x1, y1 = np.minimum(np.ceil(aligned_points[:, :2].max(axis=0)).astype(int) + margin + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return aligned, composite, aligned_points.astype(np.float32), composite_alpha
    roi = (slice(y0, y1), slice(x0, x1))
    local = aligned_points[:, :2] - [x0, y0]
    base = actor_frame[roi]
    raster = rasterize(local, drawn, base.shape[:2])
    face, coverage = piecewise_affine(vd_frame, vd_points[:, :2], local, drawn, base.shape[:2], background=base,
                                      raster=raster)
    alpha = feather(coverage.astype(np.float32), radius)
    aligned[roi] = blend(base, face, alpha)

    # Lower-face weight of every pixel: 0 above the nose base, 1 from the higher of the two
    # upper lips down, evaluated per pixel along the face's downward axis (interpolating
    # per-vertex weights over the mesh's triangles would leave the blend short of 1 inside
    # triangles that span the lip line). Ending the ramp at the virtual dubber's own lip
    # would let an actor's mouth that opens higher (raised upper lip, upper teeth) show
    # through the blend: a second mouth above the dub.
    down = face_axis(aligned_points)
    nose_base = float(aligned_points[2, :2] @ down)
    lip_top = upper_lip_line(aligned_points, actor_points)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    x = np.clip((xs * down[0] + ys * down[1] - nose_base) / max(lip_top - nose_base, 1e-6), 0.0, 1.0)
    start = cfg.composite_from
    lower = np.clip((x * x * (3.0 - 2.0 * x) - start) / max(1.0 - start, 1e-6), 0.0, 1.0).astype(np.float32)
    composite_alpha[roi] = alpha * lower
    composite[roi] = blend(base, face, composite_alpha[roi])
    return aligned, composite, aligned_points.astype(np.float32), composite_alpha
