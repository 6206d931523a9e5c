"""Evaluation: PSNR and SSIM against the actor video, LMD of mouth landmarks against the dubber.

LMD (landmark distance, Chen et al. 2018) is computed on mouth landmarks normalised for
position, scale and head pose: each face's mesh is mapped by a similarity fit on the
skull-stable points onto a canonical frame in which the inter-ocular distance is 1, the
mouth landmarks' centroid is subtracted, and the mean Euclidean distance (x, y) between
corresponding mouth landmarks is averaged over frames where both faces were found. Units
are therefore fractions of the inter-ocular distance.
"""

from __future__ import annotations

import cv2
import numpy as np

from vdub.face import landmarks as lm
from vdub.face.geometry import umeyama

PSNR_CAP = 100.0  # dB reported for identical pixels, so that means and JSON stay finite


def changed_box(a: np.ndarray, b: np.ndarray) -> tuple[slice, slice] | None:
    """Rows and columns of the smallest box holding every pixel where two H x W (x C) uint8 images differ.

    None when they are equal. The evaluation compares each variant with the actor frame it
    was made from, which it changes only around the head: metrics of the whole frame are
    computed on this box.
    """
    h, w = a.shape[:2]
    diff = cv2.absdiff(np.ascontiguousarray(a), np.ascontiguousarray(b)).reshape(h, -1)
    rows = np.flatnonzero(diff.max(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(diff[rows[0]:rows[-1] + 1].max(axis=0).reshape(w, -1).max(axis=1))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of uint8 images (H x W x 3); inside ``mask`` (H x W bool) if given.

    Identical pixels score :data:`PSNR_CAP` (100 dB: a mean squared error below 7e-6 grey
    levels), an empty mask NaN. The squared differences are summed only where the images
    differ (:func:`changed_box`): integers, so the sum, and the result, are exact.
    """
    count = a.shape[0] * a.shape[1] if mask is None else int(np.count_nonzero(mask))
    if not count:
        return float("nan")
    box = changed_box(a, b)
    if box is None:
        return PSNR_CAP
    squared = (a[box].astype(np.int32) - b[box].astype(np.int32)) ** 2
    sse = int(squared.sum() if mask is None else squared[mask[box]].sum())
    return _db(sse, count * (a.shape[2] if a.ndim == 3 else 1))


def _db(sse: int, values: int) -> float:
    """PSNR in dB of a sum of squared uint8 differences over ``values`` values, capped at :data:`PSNR_CAP`."""
    mse = sse / values
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, float(10 * np.log10(255.0**2 / mse)))


def psnr_outside(a: np.ndarray, b: np.ndarray, inside: np.ndarray, window: tuple[slice, slice]) -> float:
    """PSNR of uint8 images (H x W x 3) outside a region given inside a window of the frame.

    window: (rows, cols) of the frame; inside: the window's h x w bool, True on the region
    (everything outside the window is outside the region). Equal to ``psnr(a, b, ~mask)``
    with the whole frame's mask, without building it: the squared differences are exact
    integers, summed over the changed pixels and less those inside the region.
    """
    count = a.shape[0] * a.shape[1] - int(np.count_nonzero(inside))
    if not count:
        return float("nan")
    box = changed_box(a, b)
    if box is None:
        return PSNR_CAP
    sse = int(((a[box].astype(np.int32) - b[box].astype(np.int32)) ** 2).sum())
    if inside.any():
        squared = (a[window].astype(np.int32) - b[window].astype(np.int32)) ** 2
        sse -= int(squared[inside].sum())
    return _db(sse, count * a.shape[2])


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


_SSIM_SIGMA, _SSIM_RADIUS = 1.5, 5  # scikit-image's Gaussian SSIM window: radius int(3.5 * sigma + 0.5), 11 taps
_SSIM_C1, _SSIM_C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
_SSIM_TAPS = np.exp(-0.5 * (np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1) / _SSIM_SIGMA) ** 2)
_SSIM_TAPS /= _SSIM_TAPS.sum()


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The SSIM map of two uint8 images (H x W x C): H x W x C float64.

    scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255, full=True)``, with its separable Gaussian
    filter (reflected edges) run by OpenCV instead of SciPy: the same map up to the order of
    floating-point sums (about 1e-12), in a third of the time.
    """
    x, y = a.astype(np.float64), b.astype(np.float64)

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(z, cv2.CV_64F, _SSIM_TAPS, _SSIM_TAPS, borderType=cv2.BORDER_REFLECT).reshape(z.shape)

    ux, uy = blur(x), blur(y)
    vx, vy, vxy = blur(x * x) - ux * ux, blur(y * y) - uy * uy, blur(x * y) - ux * uy
    return ((2 * ux * uy + _SSIM_C1) * (2 * vxy + _SSIM_C2)) / ((ux**2 + uy**2 + _SSIM_C1) * (vx + vy + _SSIM_C2))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """SSIM of two uint8 RGB images (H x W x 3), scikit-image's Gaussian-weighted version (:func:`ssim_map`).

    With ``mask`` (H x W bool) the SSIM map is averaged inside it only (NaN if empty). Without,
    the whole frame's SSIM is computed where the images differ (:func:`_whole_frame_ssim`).
    """
    if mask is None:
        return _whole_frame_ssim(a, b)
    if not mask.any():
        return float("nan")
    return float(ssim_map(a, b).mean(axis=2)[mask].mean())


def _whole_frame_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image's whole-frame SSIM, computing the SSIM map only near the pixels that differ.

    Where a window holds identical pixels in both images the map is exactly 1 (the means,
    variances and covariance come out equal, and so do numerator and denominator), so the
    map is computed on the box of changed pixels grown by the window radius (plus one more
    radius of context, or the frame's own edge, so that those values are the whole frame's),
    and every other position of the whole frame's average counts as 1. The average is over
    the positions scikit-image averages (a radius away from the frame's edges), per channel,
    then over the channels: the same number up to the order of floating-point sums.
    """
    h, w = a.shape[:2]
    r = _SSIM_RADIUS
    positions = (h - 2 * r) * (w - 2 * r)
    if h <= 2 * r or w <= 2 * r:
        raise ValueError(f"SSIM needs images of at least {2 * r + 1} x {2 * r + 1} pixels, got {w} x {h}")
    box = changed_box(a, b)
    if box is None:
        return 1.0
    near = (max(box[0].start - r, 0), min(box[0].stop + r, h), max(box[1].start - r, 0), min(box[1].stop + r, w))
    ctx = (max(near[0] - r, 0), min(near[1] + r, h), max(near[2] - r, 0), min(near[3] + r, w))
    smap = ssim_map(a[ctx[0]:ctx[1], ctx[2]:ctx[3]], b[ctx[0]:ctx[1], ctx[2]:ctx[3]])
    # The part of `near` inside the averaged positions [r, h - r) x [r, w - r).
    y0, y1, x0, x1 = max(near[0], r), min(near[1], h - r), max(near[2], r), min(near[3], w - r)
    totals = np.full(a.shape[2], float(positions))
    if y1 > y0 and x1 > x0:
        part = smap[y0 - ctx[0]:y1 - ctx[0], x0 - ctx[2]:x1 - ctx[2]]
        totals += part.sum(axis=(0, 1), dtype=np.float64) - part.shape[0] * part.shape[1]
    return float(np.mean(totals / positions))


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
