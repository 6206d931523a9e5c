"""Flicker of the head: motion-compensated frame differences inside the part that should stay still."""

from __future__ import annotations

import cv2
import numpy as np

from vdub.face import landmarks as lm
from vdub.face.geometry import umeyama


def static_head_region(points: np.ndarray, head: np.ndarray, eyes: np.ndarray,
                       origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Where the dubbed output should be as still as the actor: the head above the nose tip.

    points: 478 x 2+ pixels (the actor's mesh in this frame); head, eyes: h x w masks in
    [0, 1] of the window of the frame whose top-left pixel is ``origin`` (x, y; the whole
    frame by default). Returns h x w bool: inside the head mask, outside the eyes, and on
    the forehead side of the line through the nose tip across the face's forehead-chin axis
    (mouth, jaw and neck are meant to move with the dubber; eyes blink).
    """
    p = np.asarray(points, np.float64)[:, :2]
    down = p[lm.CHIN] - p[lm.FOREHEAD]
    down /= max(np.linalg.norm(down), 1e-9)
    h, w = head.shape
    ys, xs = np.mgrid[origin[1]:origin[1] + h, origin[0]:origin[0] + w]
    along = (xs - p[lm.NOSE_TIP, 0]) * down[0] + (ys - p[lm.NOSE_TIP, 1]) * down[1]
    return (head > 0.5) & (eyes < 0.1) & (along < 0)


def motion_compensated_difference(prev: np.ndarray, cur: np.ndarray, prev_points: np.ndarray,
                                  cur_points: np.ndarray, region: np.ndarray,
                                  origin: tuple[int, int] = (0, 0)) -> float:
    """Flicker of one frame pair: mean |cur - prev warped onto cur| in grey levels inside ``region``.

    prev, cur: H x W x 3 uint8 RGB or H x W uint8 grey, whole frames; prev_points, cur_points:
    478 x 2+ pixels, the head's mesh in each frame (the same mesh is used for the actor and
    the output, so both are compensated for the same head motion); region: h x w bool, a
    window of ``cur`` whose top-left pixel is ``origin`` (x, y; the whole frame by default):
    only that window is compared. The head's motion is a similarity fitted on the
    skull-stable landmarks; what remains is flicker, texture swimming, and any motion the
    similarity does not model (for the actor too, so the measure is read against the
    actor's value). NaN when the region is empty.
    """
    if not region.any():
        return float("nan")
    motion = umeyama(np.asarray(prev_points, np.float64)[lm.STABLE, :2],
                     np.asarray(cur_points, np.float64)[lm.STABLE, :2])
    affine = np.hstack([motion.scale * motion.rotation, motion.translation[:, None]])
    prev, cur = (z if z.ndim == 2 else cv2.cvtColor(z, cv2.COLOR_RGB2GRAY) for z in (prev, cur))
    # Warped whole: OpenCV's fixed-point coordinates would round differently from the window's origin.
    warped = cv2.warpAffine(prev, affine, cur.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    window = slice(origin[1], origin[1] + region.shape[0]), slice(origin[0], origin[0] + region.shape[1])
    return float(np.abs(cur[window].astype(np.float32) - warped[window].astype(np.float32))[region].mean())
