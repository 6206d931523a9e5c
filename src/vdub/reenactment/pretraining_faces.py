"""Generic pretraining data (paper section 3: CelebA-HQ, 150k steps): head crops and soft
masks cut from a user-provided folder of face images, the same way as the actor's.

Images without exactly findable face are skipped and counted; the folder is read in
sorted order so that the crops, and so the training run's fingerprint, are reproducible.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vdub.face.config import MaskConfig
from vdub.face.crop import crop, crop_boxes
from vdub.face.head_masks import crop_masks
from vdub.face.mesh import track_image
from vdub.face.segmentation import person_segmentation

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def face_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (not recursive), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: str | Path) -> np.ndarray | None:
    """An image file as H x W x 3 uint8 RGB, or None when it cannot be decoded."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def face_crops(paths: list[Path], size: int, cfg: MaskConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Head crops (N x S x S x 3 uint8) and masks (N x 3 x S x S uint8) of the images with a face.

    Returns ``(crops, masks, skipped)``, ``skipped`` naming each unreadable or faceless file.
    """
    crops, masks, skipped = [], [], []
    for path in paths:
        image = read_rgb(path)
        points = None if image is None else track_image(image)
        if points is None:
            skipped.append(f"{path}: {'not a readable image' if image is None else 'no face found'}")
            continue
        box = crop_boxes(points[None], np.ones(1, bool), cfg)[0]
        person = next(iter(person_segmentation([image], 1)))
        crops.append(crop(image, box, size))
        masks.append(np.round(crop_masks(person, points, box, size, cfg) * 255).astype(np.uint8))
    for line in skipped:
        log.warning("pretraining: skipped %s", line)
    if not crops:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 3, size, size), np.uint8), skipped
    return np.stack(crops), np.stack(masks), skipped
