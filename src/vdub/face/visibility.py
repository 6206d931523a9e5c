"""Where the dub may show, frame by frame: the weight of the dub and the occluders it goes under.

A frame's dub weight is 1 where the virtual dubber's mouth is meant to be seen and 0 where it
must not be: no actor face (lost track, cutaway), a head turned or nodded past what the virtual
dubber renders well (:func:`vdub.face.head_pose.yaw_pitch` against ``max_yaw`` / ``max_pitch``),
a face too small to dub (``min_face``), a mouth covered by an occluder. Between, the weight
ramps over ``fade_frames`` on both sides of such a frame, so the dub fades out before it and
back in after it instead of popping on and off. The shot is processed as a whole, so the
fade-out can start before the event.

The paste keeps the actor's pixel where :func:`gated` says: under an occluder and on frames
of weight 0, everything outside the occluders blended by the weight.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt

from vdub.core.io import load_npz
from vdub.face import landmarks as lm
from vdub.face.config import VisibilityConfig
from vdub.face.mesh import FaceTrack
from vdub.face.warp import blend

#: Why a frame's dub fades out, in the order they are listed.
REASONS = ("no_face", "turned", "small", "occluded")


@dataclass
class Visibility:
    """A shot's visibility, per frame (T of each).

    weight: float32 dub weight in [0, 1]; reasons: T x len(REASONS) bool, why a frame's
    target weight is 0; mouth_covered, face_covered: float32 share of the mouth (outer lips)
    and of the face (oval) under an occluder (0 without a face); yaw_pitch: T x 2 float32
    degrees (NaN without a face); face_height: float32 pixels (NaN without a face).
    """

    weight: np.ndarray
    reasons: np.ndarray
    mouth_covered: np.ndarray
    face_covered: np.ndarray
    yaw_pitch: np.ndarray
    face_height: np.ndarray

    def to_npz(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_npz(cls, data: dict[str, np.ndarray]) -> "Visibility":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    @property
    def occluded(self) -> np.ndarray:
        """T bool: frames whose mouth is covered past the limit."""
        return self.reasons[:, REASONS.index("occluded")]

    @property
    def clean(self) -> np.ndarray:
        """T bool: frames fully dubbed with nothing in front of the face: those a reference frame and the
        inner mouths of the virtual dubber may come from (a hand in them would be rendered on every frame)."""
        return (self.weight >= 1) & (self.face_covered == 0)


def load_visibility(path: str | Path) -> Visibility:
    """Read the rule visibility's ``visibility.npz``."""
    return Visibility.from_npz(load_npz(path))


def clean_track(track: FaceTrack, visibility: Visibility | None) -> FaceTrack:
    """``track`` with only its :attr:`Visibility.clean` frames valid (all of them when none is clean, or without
    a visibility): the frames a reference and the virtual dubber's mouths are picked from."""
    if visibility is None:
        return track
    valid = track.valid & visibility.clean
    return dataclasses.replace(track, valid=valid) if valid.any() else track


def fade_weights(off: np.ndarray, fade_frames: int) -> np.ndarray:
    """Dub weight from the frames where it must be 0: ramps of ``fade_frames`` on each side.

    off: T bool. Returns T float32: 0 on ``off`` frames, ``k / (fade_frames + 1)`` at k frames
    from the nearest one, 1 from ``fade_frames + 1`` frames away (and everywhere without any).
    """
    off = np.asarray(off, bool)
    if not off.any():
        return np.ones(len(off), np.float32)
    # Distance in frames to the nearest frame that is off (a 1-D distance transform).
    nearest = distance_transform_edt(~off)
    return np.clip(nearest / (fade_frames + 1.0), 0.0, 1.0).astype(np.float32)


def coverage(points: np.ndarray, occluder: np.ndarray, polygon: list[int] = lm.OUTER_LIPS) -> float:
    """Share of a mesh polygon (default the mouth's outer lips) under an occluder.

    points: 478 x 2+ pixels; occluder: H x W bool. Returns a float in [0, 1].
    """
    h, w = occluder.shape
    polygon = np.round(np.asarray(points)[polygon, :2]).astype(np.int32)
    x0, y0 = np.clip(polygon.min(axis=0), 0, [w - 1, h - 1])
    x1, y1 = np.clip(polygon.max(axis=0) + 1, 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    mouth = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mouth, [polygon - [x0, y0]], 1)
    area = int(mouth.sum())
    if area == 0:
        return 0.0
    return float((mouth.astype(bool) & occluder[y0:y1, x0:x1]).sum() / area)


def shot_visibility(points: np.ndarray, valid: np.ndarray, mouth_covered: np.ndarray, face_covered: np.ndarray,
                    angles: np.ndarray, cfg: VisibilityConfig) -> Visibility:
    """A shot's :class:`Visibility` from its actor mesh, mouth and face coverage and head angles.

    points: T x 478 x 2+ pixels; valid: T; mouth_covered, face_covered: T in [0, 1]; angles:
    T x 2 degrees (yaw, pitch).
    """
    valid = np.asarray(valid, bool)
    height = np.full(len(valid), np.nan, np.float32)
    height[valid] = lm.face_height(np.asarray(points, np.float64)[valid])
    with np.errstate(invalid="ignore"):
        turned = valid & ((np.abs(angles[:, 0]) > cfg.max_yaw) | (np.abs(angles[:, 1]) > cfg.max_pitch))
        small = valid & (height < cfg.min_face)
    occluded = valid & (np.asarray(mouth_covered) > cfg.mouth_occluded)
    reasons = np.stack([~valid, turned, small, occluded], axis=1)
    return Visibility(fade_weights(reasons.any(axis=1), cfg.fade_frames), reasons,
                      np.asarray(mouth_covered, np.float32), np.asarray(face_covered, np.float32),
                      np.asarray(angles, np.float32), height)


def gate_alpha(shape: tuple[int, int], occluder: np.ndarray | None, weight: float) -> np.ndarray | None:
    """How much of the dub each pixel of a frame takes: H x W float32 in [0, 1], None for all of it.

    occluder: H x W uint8 soft occluder (255: the actor's own pixel) or None; weight: the frame's
    dub weight.
    """
    occluded = occluder is not None and bool(occluder.any())
    if weight >= 1.0 and not occluded:
        return None
    alpha = np.full(shape, np.float32(max(weight, 0.0)), np.float32)
    if occluded:
        alpha *= 1.0 - occluder.astype(np.float32) / 255.0
    return alpha


def gated(actor: np.ndarray, dubbed: np.ndarray, occluder: np.ndarray | None, weight: float) -> np.ndarray:
    """The dubbed frame under the frame's occluders and weight (:func:`gate_alpha`).

    actor, dubbed: H x W x 3 uint8. Returns ``dubbed`` itself where nothing gates it (no
    occluder, weight 1), so that a clean shot is unchanged bit for bit, and the actor's pixel
    where the gate is 0.
    """
    alpha = gate_alpha(actor.shape[:2], occluder, weight)
    return dubbed if alpha is None else blend(actor, dubbed, alpha)
