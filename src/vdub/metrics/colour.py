"""Colour differences in CIELAB: of a masked region, and the sums of the inner mouth (teeth, tongue)."""

from __future__ import annotations

import cv2
import numpy as np

from vdub.face import landmarks as lm


def mean_lab(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean CIELAB colour (3 floats) of a uint8 RGB image (H x W x 3) inside ``mask`` (H x W bool, not empty).

    Converted inside the mask's bounding box only: the same pixels in the same order as over
    the whole frame, so the same mean.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return cv2.cvtColor(image[box].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[mask[box]].mean(axis=0)


def mean_lab_difference(a: np.ndarray, b: np.ndarray, mask: np.ndarray, b_lab: np.ndarray | None = None) -> float:
    """CIE76 distance between the mean CIELAB colours of two uint8 RGB images inside ``mask``.

    a, b: H x W x 3; mask: H x W bool; b_lab: ``mean_lab(b, mask)`` when already known. NaN
    for an empty mask. Below about 2 a person cannot tell the two colours apart.
    """
    if not mask.any():
        return float("nan")
    return float(np.linalg.norm(mean_lab(a, mask) - (mean_lab(b, mask) if b_lab is None else b_lab)))


def inner_mouth_lab(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Sums of CIE Lab (L 0-100, a, b) inside the inner-lip contour, and the pixel count: 4 floats.

    image: H x W x 3 uint8 RGB; points: 478 x 2+ mesh in the image's pixels. Sums, not
    means, so that frames can be pooled by their area. Only the contour's bounding box is
    converted: the same pixels in the same order as over the whole frame.
    """
    polygon = np.round(np.asarray(points)[lm.INNER_LIPS, :2]).astype(np.int32)
    h, w = image.shape[:2]
    x0, y0 = np.clip(polygon.min(axis=0), 0, [w, h])
    x1, y1 = np.clip(polygon.max(axis=0) + 1, 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return np.zeros(4)
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(inside, [polygon - [x0, y0]], 1)
    inside = inside.astype(bool)
    if not inside.any():
        return np.zeros(4)
    patch = image[y0:y1, x0:x1].astype(np.float32) / 255.0
    lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB)[inside].astype(np.float64)
    return np.concatenate([lab.sum(axis=0), [inside.sum()]])
