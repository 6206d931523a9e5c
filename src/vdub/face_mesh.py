"""Per-frame 3D face mesh: MediaPipe Face Mesh (478 points, refined lips, eyes and irises).

Stands in for the paper's PRNet (TensorFlow 1, weights not installable offline): like PRNet
it covers the inner mouth, through the inner-lip contour. The models ship inside the
``mediapipe==0.10.21`` wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .landmarks import N_POINTS
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class FaceMeshConfig(Settings):
    """Settings of the MediaPipe face-mesh tracker."""

    min_detection_confidence: float = 0.5  # face detector threshold
    min_tracking_confidence: float = 0.5  # below this the tracker re-detects
    tracking: bool = True  # video mode: track between frames (smoother, faster) vs. detect each frame



@dataclass
class FaceTrack:
    """A mesh per frame.

    points: T x 478 x 3 float32, pixels at the frames' resolution (z scaled like x).
    valid: T bool, False where no face was found (points are NaN there).
    """

    points: np.ndarray
    valid: np.ndarray

    def to_npz(self) -> dict[str, np.ndarray]:
        return {"points": self.points, "valid": self.valid}

    @classmethod
    def from_npz(cls, data: dict[str, np.ndarray]) -> "FaceTrack":
        return cls(points=data["points"].astype(np.float32), valid=data["valid"].astype(bool))


def track_faces(frames: Iterable[np.ndarray], n_frames: int, cfg: FaceMeshConfig | None = None) -> FaceTrack:
    """Run the face mesh over RGB frames (each H x W x 3 uint8).

    Returns a :class:`FaceTrack` of ``n_frames`` entries; frames without a face are marked
    invalid, never fatal.
    """
    import mediapipe as mp  # heavy import: only where the tracker runs

    cfg = cfg or FaceMeshConfig()
    points = np.full((n_frames, N_POINTS, 3), np.nan, np.float32)
    valid = np.zeros(n_frames, bool)
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=not cfg.tracking,
        max_num_faces=1,
        refine_landmarks=True,
        min_detection_confidence=cfg.min_detection_confidence,
        min_tracking_confidence=cfg.min_tracking_confidence,
    ) as mesh:
        for t, frame in enumerate(frames):
            if t >= n_frames:
                break
            h, w = frame.shape[:2]
            result = mesh.process(np.ascontiguousarray(frame))
            if not result.multi_face_landmarks:
                continue
            lm = result.multi_face_landmarks[0].landmark
            arr = np.array([(p.x, p.y, p.z) for p in lm], np.float32)
            points[t] = arr * np.array([w, h, w], np.float32)
            valid[t] = True
    missing = int((~valid).sum())
    if missing:
        log.info("no face in %d of %d frames", missing, n_frames)
    return FaceTrack(points, valid)


def track_image(image: np.ndarray) -> np.ndarray | None:
    """Mesh of a single RGB image: 478 x 3 pixels, or None when no face is found."""
    track = track_faces([image], 1, FaceMeshConfig(tracking=False))
    return track.points[0] if track.valid[0] else None


def person_segmentation(frames: Iterable[np.ndarray], n_frames: int) -> Iterable[np.ndarray]:
    """MediaPipe selfie segmentation: yields a H x W float32 person probability per frame."""
    import mediapipe as mp

    # model 0 is the general (square input) model: better on head-and-shoulders framing.
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        for t, frame in enumerate(frames):
            if t >= n_frames:
                break
            yield seg.process(np.ascontiguousarray(frame)).segmentation_mask.astype(np.float32)
