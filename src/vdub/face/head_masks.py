"""Soft head / eyes / mouth masks (paper section 2.2), built in the head crops.

The head mask covers hair, face, ears and neck: MediaPipe's person segmentation limited
to a region around the face mesh (so shoulders and torso are excluded). Eye and mouth
masks come from the mesh polygons. All masks are soft (grey-scale), as in the paper.
"""

from __future__ import annotations

import cv2
import numpy as np

from vdub.face import landmarks as lm
from vdub.face.config import MaskConfig
from vdub.face.crop import crop, crop_pixels
from vdub.face.warp import polygon_mask

MASK_CHANNELS = ("head", "eyes", "mouth")


def head_region(shape: tuple[int, int], points: np.ndarray, cfg: MaskConfig) -> np.ndarray:
    """Soft region that may belong to the head: above the neck line, within the head's width.

    points: 478 x 2+. Returns H x W float32 in [0, 1].
    """
    h, w = shape
    oval = points[lm.FACE_OVAL, :2]
    fh = float(lm.face_height(points))
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


def crop_mouth_mask(points: np.ndarray, box: np.ndarray, size: int, cfg: MaskConfig) -> np.ndarray:
    """The mouth mask of a mesh (478 x 3, frame pixels) in the head crop ``box``: size x size float32.

    On a composite frame only this mask differs from the actor's: its lips are the aligned
    virtual dubber's.
    """
    return mouth_mask((size, size), crop_pixels(points, box, size), cfg).astype(np.float32)


def crop_masks(person: np.ndarray, points: np.ndarray, box: np.ndarray, size: int, cfg: MaskConfig) -> np.ndarray:
    """Head, eyes and mouth masks of one frame, in its head crop: 3 x size x size float32.

    person: H x W segmentation probability of the full frame; points: 478 x 3 (the head's
    mesh); box: (cx, cy, side). Masks are built at crop resolution: they are only ever used
    there or pasted back through the crop, and it is an order of magnitude cheaper than
    full frames.
    """
    shape = (size, size)
    pts = crop_pixels(points, box, size)
    head = crop(person, box, size, cv2.INTER_LINEAR) * head_region(shape, pts, cfg)
    # The face itself is always head, even where segmentation is unsure (glasses, beards).
    face = cv2.GaussianBlur(polygon_mask(shape, pts[lm.FACE_OVAL]), (0, 0), max(size / 128, 0.5))
    head = np.maximum(head, face)
    return np.stack([head, np.minimum(eye_mask(shape, pts, cfg), head), mouth_mask(shape, pts, cfg)]).astype(np.float32)
