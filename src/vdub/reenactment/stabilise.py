"""Temporal stabilisation of the pasted head (the paper's "occasional temporal inconsistency").

The swapper renders every frame on its own, so in the parts of the head that should be as
still as the actor's (hair, forehead, ears, upper cheeks) its output can shimmer from
frame to frame. There the head is replaced by a weighted average of the network's heads of
a few neighbouring frames, each first moved onto the current frame's head pose (a
similarity fitted on the skull-stable landmarks in crop coordinates: a rigid "flow" for a
part of the head that moves rigidly). Averaging aligned frames keeps what is consistent
and removes what changes from frame to frame. Mouth, jaw, neck and eyes keep the
network's output untouched: they must follow the dubber (and blink), and averaging them
would ghost.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vdub.core.settings import Settings
from vdub.face import landmarks as lm
from vdub.face.geometry import umeyama


@dataclass
class StabiliseConfig(Settings):
    """Settings of the head stabilisation (config section ``reenact``)."""

    colour_window: int = 9  # frames of the Savitzky-Golay filter on the per-frame Lab shift (1 = per frame)
    stabilise_window: int = 5  # frames averaged (Gaussian weights) in the still part of the head; 1 = off
    stabilise_ramp: float = 0.1  # fade from still (nose tip) to untouched, in face heights below the nose tip

    def __post_init__(self) -> None:
        for name in ("colour_window", "stabilise_window"):
            value = int(getattr(self, name))
            if value < 1 or value % 2 == 0:
                raise ValueError(f"reenact.{name} must be an odd number of frames >= 1, got {value}")
        if not self.stabilise_ramp > 0:
            raise ValueError(f"reenact.stabilise_ramp must be > 0, got {self.stabilise_ramp}")


def still_weight(points: np.ndarray, size: int, eyes: np.ndarray, ramp: float) -> np.ndarray:
    """Where the head may be stabilised, 1 = fully: above the nose tip, fading out below it.

    points: 478 x 2 actor mesh in crop units (0..1 across the crop); size: the head crop's
    side in pixels; eyes: size x size eye mask in [0, 1]; ramp: fade length in face heights
    (forehead to chin). Returns size x size float32: 1 on the forehead side of the line
    through the nose tip (across the forehead-chin axis), 0 from ``ramp`` face heights
    below it (before the upper lip), times (1 - eyes). Zero everywhere when the mesh is
    missing (NaN).
    """
    p = np.asarray(points, np.float64)[:, :2] * size
    if not np.isfinite(p).all():
        return np.zeros((size, size), np.float32)
    down = p[lm.CHIN] - p[lm.FOREHEAD]
    height = max(float(np.linalg.norm(down)), 1e-6)
    down /= height
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    along = ((xs - p[lm.NOSE_TIP, 0]) * down[0] + (ys - p[lm.NOSE_TIP, 1]) * down[1]) / height
    weight = np.clip(1.0 - along / ramp, 0.0, 1.0)
    return (weight * (1.0 - np.clip(eyes, 0.0, 1.0))).astype(np.float32)


def gaussian_taps(window: int) -> np.ndarray:
    """Weights of a centred window of ``window`` frames (odd), sigma = window / 4, summing to 1."""
    offsets = np.arange(window) - window // 2
    taps = np.exp(-0.5 * (offsets / max(window / 4.0, 1e-6)) ** 2)
    return taps / taps.sum()


def align_to(head: np.ndarray, points_from: np.ndarray, points_to: np.ndarray) -> np.ndarray | None:
    """Move a head crop onto another frame's head pose: S x S x 3 uint8 -> S x S x 3 float32.

    points_from, points_to: 478 x 2 meshes in crop units of the two frames. The motion is a
    similarity fitted on the skull-stable landmarks; None when either mesh is missing.
    """
    size = head.shape[0]
    src = np.asarray(points_from, np.float64)[lm.STABLE] * size
    dst = np.asarray(points_to, np.float64)[lm.STABLE] * size
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        return None
    motion = umeyama(src, dst)
    affine = np.hstack([motion.scale * motion.rotation, motion.translation[:, None]])
    return cv2.warpAffine(head, affine, (size, size), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def stabilised(head: np.ndarray, neighbours: list[np.ndarray | None], taps: np.ndarray,
               weight: np.ndarray) -> np.ndarray:
    """One frame's head with its still part replaced by the average of its aligned neighbours.

    head: S x S x 3 uint8 (this frame's colour-corrected swapped head), or float32 (a
    residual: the corrective paste stabilises the network's change); neighbours: the W
    heads of frames t - W//2 .. t + W//2 moved onto this frame's pose (S x S x 3 float32,
    from :func:`align_to`; this frame's own head among them), None where a frame is
    outside the shot or has no face (its tap is dropped and the rest renormalised);
    taps: W weights; weight: S x S still weight in [0, 1]. Returns S x S x 3 of ``head``'s
    dtype (uint8 rounded and clipped).
    """
    total = np.zeros(head.shape, np.float32)
    norm = 0.0
    for tap, neighbour in zip(taps, neighbours):
        if neighbour is not None:
            total += np.float32(tap) * neighbour
            norm += float(tap)
    if norm == 0.0:
        return head
    w = weight[..., None]
    out = head.astype(np.float32) * (1.0 - w) + (total / np.float32(norm)) * w
    if head.dtype != np.uint8:
        return out.astype(head.dtype)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
