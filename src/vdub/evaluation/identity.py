"""Identity preservation: dlib face-recognition embeddings of output frames against the actor's frames.

The embeddings themselves (dlib's ResNet, its weights, the faces located from the MediaPipe mesh) are
:mod:`vdub.face.identity`, which the face tracker uses too. This module compares them: per-frame distances
and their summary.
"""

from __future__ import annotations

import numpy as np

from vdub.face.identity import DESCRIPTOR_DIM, SAME_PERSON_THRESHOLD


def identity_distance(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """Per-frame Euclidean distance between two descriptor tracks (e.g. output frame t vs actor frame t).

    emb_a, emb_b: T x 128 from :func:`vdub.face.identity.embeddings`.  Returns T float64, NaN where either row is
    missing.
    Lower is more alike: below :data:`SAME_PERSON_THRESHOLD` (0.6) dlib calls it the same person; the same person
    across frames of one clip is typically 0.1-0.45 apart, different people 0.6-0.9.
    """
    a = np.asarray(emb_a, np.float64)
    b = np.asarray(emb_b, np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != DESCRIPTOR_DIM:
        raise ValueError(f"embeddings must both be T x {DESCRIPTOR_DIM}, got {a.shape} and {b.shape}")
    return np.linalg.norm(a - b, axis=1)


def mean_identity_distance(distances: np.ndarray) -> float:
    """Mean of per-frame distances (from :func:`identity_distance`) over the frames where both faces exist.

    Returns NaN when there is no such frame.
    """
    d = np.asarray(distances, np.float64)
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")


def identity_summary(distances: np.ndarray, threshold: float = SAME_PERSON_THRESHOLD) -> dict[str, float]:
    """Summary of per-frame distances (T, NaN where missing) for a report.

    Keys: ``mean``, ``median``, ``max`` (NaN when no frame has both faces), ``frames`` (how many frames were
    compared) and ``frac_over_threshold`` (share of those frames at or above ``threshold``: frames dlib would not
    call the same person).
    """
    d = np.asarray(distances, np.float64)
    d = d[np.isfinite(d)]
    if not d.size:
        nan = float("nan")
        return {"mean": nan, "median": nan, "max": nan, "frames": 0, "frac_over_threshold": nan}
    return {"mean": float(d.mean()), "median": float(np.median(d)), "max": float(d.max()),
            "frames": int(d.size), "frac_over_threshold": float((d >= threshold).mean())}
