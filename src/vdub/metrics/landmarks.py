"""Metrics of face-mesh tracks: LMD and mouth-opening correlation against the dubber, landmark jitter.

LMD (landmark distance, Chen et al. 2018) is computed on mouth landmarks normalised for
position, scale and head pose: each face's mesh is mapped by a similarity fit on the
skull-stable points onto a canonical frame in which the inter-ocular distance is 1, the
mouth landmarks' centroid is subtracted, and the mean Euclidean distance (x, y) between
corresponding mouth landmarks is averaged over frames where both faces were found. Units
are therefore fractions of the inter-ocular distance.
"""

from __future__ import annotations

import numpy as np

from vdub.face import landmarks as lm
from vdub.face.geometry import umeyama


def _canonical(points: np.ndarray) -> np.ndarray:
    """A frontal canonical frame: eyes on the x axis, inter-ocular distance 1 (478 x 2)."""
    right, left = lm.eye_centres(points[:, :2])
    across = left - right
    iod = max(float(np.linalg.norm(across)), 1e-6)
    c, s = across / iod
    rotate = np.array([[c, s], [-s, c]])  # turns the eye line onto the x axis
    return (points[:, :2] - (left + right) / 2) @ rotate.T / iod


def normalised_mouth(points: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """Mouth landmarks (40 x 2) pose-, scale- and position-normalised. points: 478 x 3."""
    pose = umeyama(points[lm.STABLE, :2].astype(np.float64), canonical[lm.STABLE])
    mouth = pose.apply(points[lm.MOUTH, :2].astype(np.float64))
    return mouth - mouth.mean(axis=0)


def mouth_distances(points_a: np.ndarray, valid_a: np.ndarray, points_b: np.ndarray, valid_b: np.ndarray
                    ) -> np.ndarray:
    """Per-frame mouth-landmark distance between two tracks (T x 478 x 3 each), in inter-ocular units.

    Each track is normalised against its own first valid face's canonical frame, so two
    different people are compared by mouth shape and motion, not by where they sit. Returns
    T float64, NaN where either track has no face.
    """
    out = np.full(len(points_a), np.nan)
    both = np.flatnonzero(valid_a & valid_b)
    if len(both) == 0:
        return out
    canon_a = _canonical(points_a[np.flatnonzero(valid_a)[0]])
    canon_b = _canonical(points_b[np.flatnonzero(valid_b)[0]])
    for t in both:
        out[t] = np.linalg.norm(normalised_mouth(points_a[t], canon_a) - normalised_mouth(points_b[t], canon_b),
                                axis=1).mean()
    return out


def lmd(points_a: np.ndarray, valid_a: np.ndarray, points_b: np.ndarray, valid_b: np.ndarray) -> float:
    """Mean mouth-landmark distance between two tracks (T x 478 x 3 each), in inter-ocular units.

    The mean of :func:`mouth_distances` over the frames where both have a face; NaN if none.
    """
    both = valid_a & valid_b
    return float(np.mean(mouth_distances(points_a, valid_a, points_b, valid_b)[both])) if both.any() else float("nan")


def expression_lmd(points_a: np.ndarray, valid_a: np.ndarray, neutral_a: int, points_b: np.ndarray,
                   valid_b: np.ndarray, neutral_b: int) -> float:
    """LMD of mouth *motion*: each track's normalised mouth minus its own neutral mouth.

    points_*: T x 478 x 3; valid_*: T; neutral_*: frame index of each person's neutral
    (closed-mouth) face. Two people with differently shaped mouths doing the same thing
    score 0, which plain :func:`lmd` does not give them. Inter-ocular units.
    """
    both = np.flatnonzero(valid_a & valid_b)
    if len(both) == 0 or not (valid_a[neutral_a] and valid_b[neutral_b]):
        return float("nan")
    canon_a, canon_b = _canonical(points_a[neutral_a]), _canonical(points_b[neutral_b])
    rest_a = normalised_mouth(points_a[neutral_a], canon_a)
    rest_b = normalised_mouth(points_b[neutral_b], canon_b)
    dists = [np.linalg.norm((normalised_mouth(points_a[t], canon_a) - rest_a)
                            - (normalised_mouth(points_b[t], canon_b) - rest_b), axis=1).mean() for t in both]
    return float(np.mean(dists))


def mouth_opening_correlation(points_a: np.ndarray, valid_a: np.ndarray, points_b: np.ndarray,
                              valid_b: np.ndarray) -> float:
    """Pearson correlation of the two tracks' mouth openings over frames where both have a face."""
    both = valid_a & valid_b
    if both.sum() < 3:
        return float("nan")
    a = lm.mouth_opening(points_a[both])
    b = lm.mouth_opening(points_b[both])
    if a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def landmark_acceleration(points: np.ndarray, valid: np.ndarray, index: list[int] = lm.STABLE) -> np.ndarray:
    """Frame-to-frame acceleration of landmarks: the jitter measure of the geometry QA.

    points: T x 478 x 2+ pixels; valid: T. Returns T: the mean over ``index`` of the 2D norm
    of ``p[t+1] - 2 p[t] + p[t-1]`` (pixels / frame^2), NaN where a neighbour has no face.
    """
    valid = np.asarray(valid, bool)
    out = np.full(len(points), np.nan)
    if len(points) < 3:
        return out
    p = np.asarray(points, np.float64)[:, index, :2]
    acc = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=2).mean(axis=1)
    ok = valid[2:] & valid[1:-1] & valid[:-2]
    out[1:-1][ok] = acc[ok]
    return out
