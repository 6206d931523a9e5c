"""Training pairs of the upscaler from the actor's own frames: degraded crops and the swapper's
reconstructions as inputs, the actor's crops at the output size as targets (paper 2.3)."""

from __future__ import annotations

import cv2
import numpy as np


def check_crops(name: str, arr: np.ndarray, size: int | None = None) -> None:
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"{name} must be N x S x S x 3 uint8 (square crops), got {arr.shape} {arr.dtype}")
    if size is not None and arr.shape[1] != size:
        raise ValueError(f"{name} crops are {arr.shape[1]} px, expected {size} px")


def _degrade(hr: np.ndarray, in_size: int, rng: np.random.Generator, max_blur_sigma: float,
             max_noise: float, jpeg_quality: tuple[int, int]) -> np.ndarray:
    """One HxHx3 uint8 crop -> in_size x in_size x 3 uint8, mildly and randomly degraded.

    Blur before the downscale (optics/defocus at the actor's resolution), then sensor-like
    Gaussian noise and a JPEG round-trip (the footage and the swapper's training crops were
    compressed). Strengths are drawn uniformly from zero, so clean pairs are included too.
    """
    img = hr
    sigma = rng.uniform(0.0, max_blur_sigma)
    if sigma > 0.1:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma * hr.shape[0] / in_size)
    # INTER_AREA: the proper box-filtered shrink, so the LR is not aliased by the resize itself
    img = cv2.resize(img, (in_size, in_size), interpolation=cv2.INTER_AREA).astype(np.float32)
    noise = rng.uniform(0.0, max_noise) * 255.0
    img = np.clip(img + rng.normal(0.0, 1.0, img.shape).astype(np.float32) * noise, 0, 255).round().astype(np.uint8)
    quality = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
    if quality < 100:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV failed to JPEG-encode a training crop")
        img = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return img


def build_training_pairs(
    actor_hr: np.ndarray,
    swapped_lr: np.ndarray | None,
    in_size: int,
    *,
    seed: int = 0,
    max_blur_sigma: float = 0.8,
    max_noise: float = 0.01,
    jpeg_quality: tuple[int, int] = (70, 100),
) -> tuple[np.ndarray, np.ndarray]:
    """Assemble the actor-specific SR training set, as in the paper (after Patel et al.).

    actor_hr: NxHxHx3 uint8, the actor's head crops at the SR output size (H = out_size).
    swapped_lr: NxSxSx3 uint8 or None, the swapper's reconstruction of actor frame i through
        the actor decoder, for the same N frames in the same order; resized (area or
        bicubic) to ``in_size`` when S differs.
    in_size: the SR input side in pixels.
    seed: seeds the random degradations (the result is a pure function of the arguments).
    max_blur_sigma: largest Gaussian blur, in *input* pixels, applied before downscaling.
    max_noise: largest Gaussian noise standard deviation, as a fraction of full scale.
    jpeg_quality: inclusive range of JPEG qualities; 100 means no JPEG round-trip.

    Returns ``(lr, hr)``: lr Mx(in_size)x(in_size)x3 uint8 and hr MxHxHx3 uint8 with M = N
    (actor pairs only) or 2N: first the N actor pairs (lr = the actor crop degraded and
    downscaled), then the N swapper pairs (lr = the swapper's output, hr = the actor crop,
    so the network learns to restore the swapper's blur with the actor's own details).
    """
    actor_hr = np.asarray(actor_hr)
    check_crops("actor_hr", actor_hr)
    if in_size < 1 or in_size > actor_hr.shape[1]:
        raise ValueError(f"in_size must be in 1..{actor_hr.shape[1]} (the actor crop size), got {in_size}")
    rng = np.random.default_rng(seed)
    lr = [_degrade(frame, in_size, rng, max_blur_sigma, max_noise, jpeg_quality) for frame in actor_hr]
    hr = [actor_hr]
    if swapped_lr is not None:
        swapped_lr = np.asarray(swapped_lr)
        check_crops("swapped_lr", swapped_lr)
        if len(swapped_lr) != len(actor_hr):
            raise ValueError(
                f"swapped_lr has {len(swapped_lr)} crops but actor_hr has {len(actor_hr)}: "
                "the swapper outputs must be the reconstructions of the same actor frames, in order"
            )
        if swapped_lr.shape[1] != in_size:
            interp = cv2.INTER_AREA if swapped_lr.shape[1] > in_size else cv2.INTER_CUBIC
            swapped_lr = np.stack([cv2.resize(f, (in_size, in_size), interpolation=interp) for f in swapped_lr])
        lr += list(swapped_lr)
        hr.append(actor_hr)
    return np.stack(lr).astype(np.uint8), np.concatenate(hr).astype(np.uint8)
