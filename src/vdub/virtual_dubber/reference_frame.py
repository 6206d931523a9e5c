"""Reference-frame selection: the neutral, front-facing frame the virtual dubber is built from.

The paper picks it by hand; we score every frame and take the best. The same scoring picks
the dubber's neutral frame, against which the dubber's expressions are measured.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import load_frames
from vdub.face import landmarks as lm
from vdub.face.mesh import FaceTrack
from vdub.virtual_dubber.config import ReferenceConfig

log = logging.getLogger(__name__)


def frontality(points: np.ndarray) -> np.ndarray:
    """|cos| of the angle between the face-plane normal and the camera axis.

    points: T x 478 x 3. Returns T in [0, 1]; 1 is a face looking straight at the camera.
    """
    right, left = lm.eye_centres(points)
    across = left - right
    up = points[:, lm.FOREHEAD] - points[:, lm.CHIN]
    normal = np.cross(across, up)
    return np.abs(normal[:, 2]) / np.maximum(np.linalg.norm(normal, axis=1), 1e-9)


def sharpness(frames: np.ndarray, points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian inside each face's bounding box. Returns T (0 where invalid)."""
    out = np.zeros(len(points))
    for t in np.flatnonzero(valid):
        x0, y0 = np.maximum(np.floor(points[t, :, :2].min(axis=0)).astype(int), 0)
        x1, y1 = np.ceil(points[t, :, :2].max(axis=0)).astype(int)
        face = frames[t, y0:y1, x0:x1]
        if face.size:
            out[t] = cv2.Laplacian(cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2GRAY), cv2.CV_32F).var()
    return out


def score_frames(frames: np.ndarray, points: np.ndarray, valid: np.ndarray,
                 cfg: ReferenceConfig | None = None) -> dict[str, np.ndarray]:
    """Score every frame as a reference candidate.

    frames: T x H x W x 3 uint8; points: T x 478 x 3; valid: T bool.
    Returns the per-term scores and ``score`` (T; -inf for frames without a face).
    """
    cfg = cfg or ReferenceConfig()
    pts = np.where(valid[:, None, None], points, 0.0)
    frontal = np.where(valid, frontality(pts), 0.0)
    mouth_closed = np.clip(1.0 - lm.mouth_opening(pts) / 0.3, 0.0, 1.0)
    eyes = lm.eye_opening(pts)
    eyes_ref = np.percentile(eyes[valid], 90) if valid.any() else 1.0
    eyes_open = np.clip(eyes / max(eyes_ref, 1e-6), 0.0, 1.0)
    sharp = sharpness(frames, pts, valid)
    sharp = sharp / max(sharp.max(), 1e-6)
    total = (cfg.w_frontal * frontal + cfg.w_mouth_closed * mouth_closed
             + cfg.w_eyes_open * eyes_open + cfg.w_sharp * sharp)
    total = np.where(valid, total, -np.inf)
    return {"frontal": frontal, "mouth_closed": mouth_closed, "eyes_open": eyes_open,
            "sharp": sharp, "score": total}


def select_reference(scores: dict[str, np.ndarray], override: int | None = None) -> int:
    """Index of the best frame, or ``override`` when given (checked to hold a face)."""
    total = scores["score"]
    if override is not None:
        if not 0 <= override < len(total):
            raise ValueError(f"reference frame {override} is outside the shot (0..{len(total) - 1})")
        if not np.isfinite(total[override]):
            raise ValueError(f"reference frame {override} has no face")
        return int(override)
    if not np.isfinite(total).any():
        raise ValueError("no frame with a face to use as reference")
    return int(np.argmax(total))


def pick_reference(shot: str, role: str, frames_path: Path, track: FaceTrack, forced: int | None,
                   cfg: ReferenceConfig) -> dict:
    """Score one role's frames and pick its reference (``{"frame", "overridden", "scores"}``).

    The actor's reference is the frame the virtual dubber (and the self-reenactment pairs)
    are built from; the dubber's is the neutral the dubber's expression is measured from.
    """
    if not track.valid.any():
        raise ShotError(shot, frames_path, f"no face found in any {role} frame")
    scores = score_frames(load_frames(frames_path), track.points, track.valid, cfg)
    try:
        index = select_reference(scores, forced)
    except ValueError as err:
        raise ShotError(shot, frames_path, f"{role} reference: {err}") from None
    log.info("shot %s: %s reference frame %d%s", shot, role, index, " (override)" if forced is not None else "")
    return {"frame": index, "overridden": forced is not None,
            "scores": {k: np.where(np.isfinite(v), v, np.nan) for k, v in scores.items()}}
