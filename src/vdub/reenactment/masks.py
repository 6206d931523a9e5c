"""Soft head / eyes / mouth masks and temporally stable head crops (paper section 2.2).

The head mask covers hair, face, ears and neck: MediaPipe's person segmentation limited
to a region around the face mesh (so shoulders and torso are excluded). Eye and mouth
masks come from the mesh polygons. All masks are soft (grey-scale), as in the paper.

Crops are squares centred on the face, sized from the face mesh; centre and size are
smoothed over time so that the network never sees a crop that jitters with the tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vdub.core.settings import Settings
from vdub.face import landmarks as lm
from vdub.face.smoothing import fill_gaps, moving_average
from vdub.face.warp import polygon_mask

MASK_CHANNELS = ("head", "eyes", "mouth")


@dataclass
class MaskConfig(Settings):
    """Settings of masks and crops."""

    crop_scale: float = 2.0  # crop side / face-oval height: room for hair and neck
    crop_shift: float = 0.05  # crop centre moved up by this fraction of the side (hair > neck)
    crop_smooth_window: int = 9  # moving-average window (frames) on crop centre and side
    neck_extent: float = 0.45  # head region reaches this fraction of the face height below the chin
    head_width: float = 1.5  # head region width / face width (ears, hair)
    region_blur: float = 0.06  # softness of the head region's edges, fraction of face height
    part_dilate: float = 0.25  # eye/mouth masks grow by this fraction of the inter-ocular distance



def face_height(points: np.ndarray) -> np.ndarray:
    """Forehead-to-chin distance in pixels. points: ... x 478 x 2+. Returns ``...``."""
    return np.linalg.norm(points[..., lm.FOREHEAD, :2] - points[..., lm.CHIN, :2], axis=-1)


def crop_boxes(points: np.ndarray, valid: np.ndarray, cfg: MaskConfig) -> np.ndarray:
    """Square head crops per frame as ``(cx, cy, side)`` in pixels, smoothed over time.

    points: T x 478 x 3; valid: T. Frames without a face get boxes interpolated from their
    neighbours (they are passed through untouched downstream, but keep array shapes fixed).
    """
    oval = points[:, lm.FACE_OVAL, :2]
    centre = np.nan_to_num(oval.mean(axis=1))
    side = np.nan_to_num(cfg.crop_scale * face_height(points))
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


def head_region(shape: tuple[int, int], points: np.ndarray, cfg: MaskConfig) -> np.ndarray:
    """Soft region that may belong to the head: above the neck line, within the head's width.

    points: 478 x 2+. Returns H x W float32 in [0, 1].
    """
    h, w = shape
    oval = points[lm.FACE_OVAL, :2]
    fh = float(face_height(points))
    right, left = lm.eye_centres(points[:, :2])
    across = (left - right) / max(np.linalg.norm(left - right), 1e-6)
    down = np.array([-across[1], across[0]])
    centre = oval.mean(axis=0)
    half_width = cfg.head_width * 0.5 * float(np.ptp(oval @ across))
    chin = points[lm.CHIN, :2]
    bottom = float((chin - centre) @ down) + cfg.neck_extent * fh
    top = -10.0 * fh  # everything above the face counts (hair); segmentation trims it
    corners = np.array([centre + across * a + down * b for a, b in
                        [(-half_width, top), (half_width, top), (half_width, bottom), (-half_width, bottom)]])
    region = polygon_mask(shape, corners)
    sigma = max(cfg.region_blur * fh, 1.0)
    return cv2.GaussianBlur(region, (0, 0), sigma)


def _soft_part(shape: tuple[int, int], points: np.ndarray, polygons: list[list[int]], cfg: MaskConfig) -> np.ndarray:
    """Union of mesh polygons, grown by ``part_dilate`` inter-ocular distances and softened. H x W."""
    grow = max(cfg.part_dilate * float(lm.inter_ocular(points)), 1.0)
    part = np.maximum.reduce([polygon_mask(shape, points[idx, :2]) for idx in polygons])
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(grow) + 1,) * 2)
    return cv2.GaussianBlur(cv2.dilate(part, kernel), (0, 0), grow / 2)


def eye_mask(shape: tuple[int, int], points: np.ndarray, cfg: MaskConfig) -> np.ndarray:
    """Soft mask of both eyes and brows. points: 478 x 2+. Returns H x W float32."""
    return _soft_part(shape, points, [lm.RIGHT_EYE, lm.LEFT_EYE, lm.RIGHT_BROW, lm.LEFT_BROW], cfg)


def mouth_mask(shape: tuple[int, int], points: np.ndarray, cfg: MaskConfig) -> np.ndarray:
    """Soft mask of the mouth (outer lips). points: 478 x 2+. Returns H x W float32."""
    return _soft_part(shape, points, [lm.OUTER_LIPS], cfg)


def crop_units(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Mesh points (N x 2+, frame pixels) in crop units: x, y in 0..1 across ``box`` (any crop size)."""
    cx, cy, side = (float(v) for v in box)
    return ((points[:, :2] - np.array([cx - side / 2, cy - side / 2])) / side).astype(np.float32)


def _to_crop(points: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Mesh points (478 x 3, frame pixels) in crop pixels (x, y only)."""
    return crop_units(points, box).astype(np.float64) * size


def crop_mouth_mask(points: np.ndarray, box: np.ndarray, size: int, cfg: MaskConfig) -> np.ndarray:
    """The mouth mask of a mesh (478 x 3, frame pixels) in the head crop ``box``: size x size float32.

    On a composite frame only this mask differs from the actor's: its lips are the aligned
    virtual dubber's.
    """
    return mouth_mask((size, size), _to_crop(points, box, size), cfg).astype(np.float32)


def crop_masks(person: np.ndarray, points: np.ndarray, box: np.ndarray, size: int, cfg: MaskConfig) -> np.ndarray:
    """Head, eyes and mouth masks of one frame, in its head crop: 3 x size x size float32.

    person: H x W segmentation probability of the full frame; points: 478 x 3 (the head's
    mesh); box: (cx, cy, side). Masks are built at crop resolution: they are only ever used
    there or pasted back through the crop, and it is an order of magnitude cheaper than
    full frames.
    """
    shape = (size, size)
    pts = _to_crop(points, box, size)
    head = crop(person, box, size, cv2.INTER_LINEAR) * head_region(shape, pts, cfg)
    # The face itself is always head, even where segmentation is unsure (glasses, beards).
    face = cv2.GaussianBlur(polygon_mask(shape, pts[lm.FACE_OVAL]), (0, 0), max(size / 128, 0.5))
    head = np.maximum(head, face)
    return np.stack([head, np.minimum(eye_mask(shape, pts, cfg), head), mouth_mask(shape, pts, cfg)]).astype(np.float32)
