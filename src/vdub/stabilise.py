"""Temporal stabilisation of the pasted head (the paper's "occasional temporal inconsistency").

The swapper renders every frame on its own, so in parts of the head that should be as
still as the actor's (hair, forehead, ears, upper cheeks) its output shimmers from frame
to frame. Those parts must keep the actor's identity, which the actor's own crop in the
same frame has exactly. So the head is split into the actor crop plus a residual (what
the network changed: its blur, its colour, its texture), and in the still part of the
head the residual is averaged over a few neighbouring frames, in crop coordinates. The
actor crop carries the real motion of every frame, and only the network's frame-to-frame
noise is averaged away. Mouth, jaw, neck and eyes keep the network's output untouched:
they must follow the dubber (and blink), and averaging them would ghost.

The crop boxes follow the head (smoothed), so neighbouring residuals are already roughly
registered; the residual is smooth in space (the network's blur and colour), so the small
misregistration left does not show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import landmarks as lm
from .settings import Settings


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


def stabilised(head: np.ndarray, reference: np.ndarray, residuals: list[np.ndarray | None], taps: np.ndarray,
               weight: np.ndarray) -> np.ndarray:
    """One frame's head with the residual of its still part replaced by the temporal average.

    head, reference: S x S x 3 uint8 (the colour-corrected swapped head and the actor's crop
    of the same frame); residuals: the W residuals ``head - reference`` (S x S x 3 float32)
    of the frames t - W//2 .. t + W//2, None where a frame is outside the shot or has no
    face (its tap is dropped and the rest renormalised); taps: W weights; weight: S x S
    still weight in [0, 1]. Returns S x S x 3 uint8.
    """
    total = np.zeros(head.shape, np.float32)
    norm = 0.0
    for tap, residual in zip(taps, residuals):
        if residual is not None:
            total += np.float32(tap) * residual
            norm += float(tap)
    if norm == 0.0:
        return head
    steady = reference.astype(np.float32) + total / np.float32(norm)
    w = weight[..., None]
    out = head.astype(np.float32) * (1.0 - w) + steady * w
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
