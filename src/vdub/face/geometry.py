"""Rigid (similarity) transforms between point sets and their use on meshes.

Points are in pixels at the resolution of the frame they were measured on; MediaPipe's z
is in the same units as x (it is scaled by the image width), so 3D similarity transforms
are meaningful and orthographic projection is dropping z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Similarity:
    """``y = scale * rotation @ x + translation`` for points as row vectors (``D`` = 2 or 3)."""

    scale: float
    rotation: np.ndarray  # D x D, det +1
    translation: np.ndarray  # D

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points ``N x D`` (or ``... x N x D``)."""
        return self.scale * points @ self.rotation.T + self.translation

    def apply_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Transform displacement vectors (no translation)."""
        return self.scale * vectors @ self.rotation.T

    def inverse(self) -> "Similarity":
        """The inverse transform."""
        rot_inv = self.rotation.T
        return Similarity(1.0 / self.scale, rot_inv, -(rot_inv @ self.translation) / self.scale)


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None,
            with_scale: bool = True, fixed_scale: float | None = None) -> Similarity:
    """Least-squares similarity transform mapping ``src`` onto ``dst`` (Umeyama 1991).

    src, dst: N x D (D = 2 or 3), N >= D. weights: N, non-negative (e.g. 0 for outliers).
    ``fixed_scale`` imposes the scale (the best rotation does not depend on it; the
    translation is solved for it); ``with_scale=False`` is the same as ``fixed_scale=1``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s = w @ src
    mu_d = w @ dst
    xs = src - mu_s
    xd = dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0  # reflection would fit better; a face is never mirrored, so forbid it
    rotation = u @ np.diag(d) @ vt
    var_s = (w * (xs**2).sum(axis=1)).sum()
    if fixed_scale is not None:
        scale = float(fixed_scale)
    else:
        scale = float((sig * d).sum() / var_s) if with_scale else 1.0
    translation = mu_d - scale * rotation @ mu_s
    return Similarity(scale, rotation, translation)


def robust_umeyama(src: np.ndarray, dst: np.ndarray, iterations: int = 3, k: float = 2.5,
                   fixed_scale: float | None = None) -> Similarity:
    """:func:`umeyama` with iteratively reweighted residuals so a few bad points cannot pull it.

    Points whose residual exceeds ``k`` times the median residual get weight 0 on the next
    pass (a landmark tracker's occasional outlier on the brow or nose, say).
    """
    weights = np.ones(len(src))
    transform = umeyama(src, dst, weights, fixed_scale=fixed_scale)
    for _ in range(iterations):
        residual = np.linalg.norm(transform.apply(src) - dst, axis=1)
        cutoff = k * max(np.median(residual), 1e-6)
        new_weights = (residual <= cutoff).astype(np.float64)
        if new_weights.sum() < src.shape[1] + 1 or np.array_equal(new_weights, weights):
            break
        weights = new_weights
        transform = umeyama(src, dst, weights, fixed_scale=fixed_scale)
    return transform
