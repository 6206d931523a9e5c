"""Temporally stable square head crops, and the warps into and out of them.

Crops are squares centred on the face, sized from the face mesh; centre and size are
smoothed over time so that the network never sees a crop that jitters with the tracker. A
box is ``(cx, cy, side)`` in frame pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from vdub.face import landmarks as lm
from vdub.face.config import CropConfig
from vdub.face.smoothing import fill_gaps, moving_average


def crop_boxes(points: np.ndarray, valid: np.ndarray, cfg: CropConfig) -> np.ndarray:
    """Square head crops per frame as ``(cx, cy, side)`` in pixels, smoothed over time.

    points: T x 478 x 3; valid: T. Frames without a face get boxes interpolated from their
    neighbours (they are passed through untouched downstream, but keep array shapes fixed).
    """
    oval = points[:, lm.FACE_OVAL, :2]
    centre = np.nan_to_num(oval.mean(axis=1))
    side = np.nan_to_num(cfg.crop_scale * lm.face_height(points))
    centre[:, 1] -= cfg.crop_shift * side
    boxes = np.concatenate([centre, side[:, None]], axis=1)
    if not valid.any():
        raise ValueError("no face in any frame: cannot place head crops")
    boxes = moving_average(boxes, valid, cfg.crop_smooth_window)
    return fill_gaps(boxes, valid).astype(np.float32)


def crop_affine(box: np.ndarray, size: int) -> np.ndarray:
    """2x3 affine from frame pixels to an ``size`` x ``size`` crop of ``box`` (cx, cy, side)."""
    cx, cy, side = (float(v) for v in box)
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]])


def crop(image: np.ndarray, box: np.ndarray, size: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Cut ``box`` out of ``image`` (H x W x C or H x W) resized to size x size.

    Parts of the box outside the frame replicate the border pixels.
    """
    return cv2.warpAffine(image, crop_affine(box, size), (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_REPLICATE)


def uncrop(patch: np.ndarray, box: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Put a size x size ``patch`` back at ``box`` in a frame of ``shape`` (H, W); 0 elsewhere."""
    size = patch.shape[0]
    inv = cv2.invertAffineTransform(crop_affine(box, size))
    h, w = shape
    return cv2.warpAffine(patch, inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def uncrop_window(box: np.ndarray, size: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of a frame of ``shape`` (H, W) outside which :func:`uncrop` of a ``size`` patch is 0.

    The box's square grown by one patch pixel and two frame pixels (the bilinear taps), clipped to
    the frame; empty slices when the box lies outside it. At 4K a head covers a small part of the
    frame: work on the masks is done on this window only. (The patch is still warped onto the whole
    frame first: OpenCV's fixed-point warp rounds its coordinates differently from another origin.)
    """
    cx, cy, side = (float(v) for v in box)
    h, w = shape
    grow = side / size + 2
    x0, x1 = int(np.floor(cx - side / 2 - grow)), int(np.ceil(cx + side / 2 + grow)) + 1
    y0, y1 = int(np.floor(cy - side / 2 - grow)), int(np.ceil(cy + side / 2 + grow)) + 1
    x0, x1 = min(max(x0, 0), w), min(max(x1, 0), w)
    y0, y1 = min(max(y0, 0), h), min(max(y1, 0), h)
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


def crop_units(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Mesh points (N x 2+, frame pixels) in crop units: x, y in 0..1 across ``box`` (any crop size)."""
    cx, cy, side = (float(v) for v in box)
    return ((points[:, :2] - np.array([cx - side / 2, cy - side / 2])) / side).astype(np.float32)


def crop_pixels(points: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Mesh points (478 x 3, frame pixels) in crop pixels (x, y only)."""
    return crop_units(points, box).astype(np.float64) * size


def trainable(crops: dict[str, np.ndarray]) -> np.ndarray:
    """T bool: the frames of a crops file (rules actor_crops, masks) that may be training targets.

    ``trainable`` where the file has it (valid frames with no occluder on the head), else ``valid``.
    """
    valid = crops["valid"].astype(bool)
    return valid & crops["trainable"].astype(bool) if "trainable" in crops else valid
