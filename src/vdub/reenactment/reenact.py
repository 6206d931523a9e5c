"""Full-head reenactment: paste the swapped head back onto the actor frame (paper 2.2).

The network's actor-decoder output for the composite crop is a whole head (hair, face,
ears, neck) with the actor's identity and the dubbed mouth. It goes back onto the same
region of the actor frame through the same head mask used in training, after a colour
correction against the actor's own head in that frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from vdub.face.crop import uncrop
from vdub.face.warp import blend


def colour_shift(patch: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The 8-bit Lab shift taking ``patch``'s mean inside ``mask`` onto ``reference``'s.

    patch, reference: S x S x 3 uint8 (the swapped head and the actor's head in the same
    crop); mask: S x S in [0, 1]. Returns 3 floats, or None when the mask is (nearly) empty.
    """
    weight = mask.astype(np.float64)
    total = weight.sum()
    if total < 1.0:
        return None
    lab_p = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float64)
    lab_r = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float64)
    return ((lab_r - lab_p) * weight[..., None]).sum(axis=(0, 1)) / total


def apply_colour_shift(patch: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
    """``patch`` (S x S x 3 uint8) with its 8-bit Lab values moved by ``shift`` (3; None: unchanged).

    A mean shift only (no variance scaling): the network's output is slightly smoother than
    the footage, and stretching its variance would amplify its noise rather than restore
    detail.
    """
    if shift is None:
        return patch
    lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float64) + shift
    return cv2.cvtColor(np.clip(np.round(lab), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def paste_head(frame: np.ndarray, head: np.ndarray, mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Blend a head crop back into its frame.

    frame: H x W x 3 uint8; head: S x S x 3 uint8 and mask: M x M float in [0, 1] (any S and
    M: each is resampled to the box's size in the frame); box: (cx, cy, side).
    Pixels outside the box are returned bit-exact.
    """
    shape = frame.shape[:2]
    patch = uncrop(head, box, shape)
    alpha = uncrop(mask.astype(np.float32), box, shape)
    return blend(frame, patch, np.clip(alpha, 0.0, 1.0))
