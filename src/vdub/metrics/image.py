"""Pixel fidelity of uint8 images: PSNR and SSIM, computed only where two images differ."""

from __future__ import annotations

import cv2
import numpy as np

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
