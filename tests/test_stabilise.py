"""Temporal stabilisation of the pasted head: the network's shimmer goes, the actor's real
changes and the dubbed lower face stay."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vdub import landmarks as lm
from vdub.io import load_frames
from vdub.masks import crop, crop_units
from vdub.pipeline import _paste_heads
from vdub.stabilise import StabiliseConfig, gaussian_taps, still_weight

SIZE = 96


@pytest.fixture(scope="module")
def astronaut_shot(real_mesh):
    """A 16-frame still shot of the astronaut's face, its crop box, and the mesh in crop units."""
    from skimage import data

    frame = data.astronaut()[:320, 60:380]
    points = real_mesh[:, :2] - [60, 0]
    box = np.array([*points[lm.NOSE_TIP], 2.2 * np.ptp(points[:, 1])], np.float64)
    return frame, box, crop_units(points, box)


def _at(weight: np.ndarray, points: np.ndarray, index: int) -> float:
    x, y = (points[index] * weight.shape[0]).astype(int)
    return float(weight[y, x])


def test_still_weight_is_the_upper_head_without_eyes(astronaut_shot):
    _, _, points = astronaut_shot
    eyes = np.zeros((SIZE, SIZE), np.float32)
    weight = still_weight(points, SIZE, eyes, ramp=0.1)
    assert _at(weight, points, lm.FOREHEAD) == 1.0 and _at(weight, points, 151) == 1.0
    assert _at(weight, points, lm.UPPER_INNER_LIP) == 0.0 and _at(weight, points, lm.CHIN) == 0.0
    # The eye mask is cut out; a missing mesh stabilises nothing.
    x, y = (points[lm.RIGHT_EYE_CORNERS[0]] * SIZE).astype(int)
    eyes[y - 3:y + 4, x - 3:x + 4] = 1.0
    assert still_weight(points, SIZE, eyes, ramp=0.1)[y, x] == 0.0
    assert not still_weight(np.full_like(points, np.nan), SIZE, eyes, ramp=0.1).any()
    np.testing.assert_allclose(gaussian_taps(5).sum(), 1.0)


def test_shimmer_is_averaged_away_above_the_nose_and_the_mouth_is_untouched(astronaut_shot, tmp_path):
    frame, box, points = astronaut_shot
    t_count = 16
    rng = np.random.default_rng(0)
    actor = np.stack([frame] * t_count)
    # A real change in the actor's forehead (a light coming on at frame 8) that must pass unsmoothed.
    fx, fy = (points[lm.FOREHEAD] * box[2] + box[:2] - box[2] / 2).astype(int)
    actor[8:, fy - 6:fy + 14, fx - 20:fx + 20] = np.clip(actor[8:, fy - 6:fy + 14, fx - 20:fx + 20] + 30.0, 0, 255)
    reference = np.stack([crop(a, box, SIZE) for a in actor])
    # The network: the actor's head, blurred (a steady residual), plus per-frame shimmer.
    blurred = np.stack([cv2.GaussianBlur(r, (0, 0), 1.0) for r in reference]).astype(np.float32)
    heads = np.clip(blurred + rng.normal(0, 6, blurred.shape), 0, 255).round().astype(np.uint8)
    masks = np.zeros((t_count, 3, SIZE, SIZE), np.uint8)
    masks[:, 0] = 255
    boxes = np.stack([box] * t_count)
    all_points = np.stack([points] * t_count)
    valid = np.ones(t_count, bool)
    runs = {}
    for window in (1, 5):
        cfg = StabiliseConfig(colour_window=1, stabilise_window=window)
        _paste_heads(actor, heads, masks, reference, boxes, valid, all_points, cfg, tmp_path / f"w{window}.npy")
        runs[window] = np.stack([crop(f, box, SIZE) for f in load_frames(tmp_path / f"w{window}.npy")]).astype(float)
    weight = still_weight(points, SIZE, np.zeros((SIZE, SIZE), np.float32), ramp=0.1)
    # A few pixels in from the ramp's ends: the crop back out of the frame resamples across them.
    margin = np.ones((7, 7), np.uint8)
    still = cv2.erode((weight == 1.0).astype(np.uint8), margin).astype(bool)
    moving = cv2.erode((weight == 0.0).astype(np.uint8), margin).astype(bool)

    def flicker(crops: np.ndarray, where: np.ndarray) -> float:
        diffs = np.abs(np.diff(crops, axis=0))
        diffs = np.delete(diffs, 7, axis=0)  # the light's own step (frame 7 -> 8) is a real change
        return float(diffs[:, where].mean())

    assert flicker(runs[5], still) < 0.6 * flicker(runs[1], still), (flicker(runs[5], still), flicker(runs[1], still))
    # The mouth and jaw are the network's (dubbed) output, exactly as without stabilisation.
    np.testing.assert_array_equal(runs[5][:, moving], runs[1][:, moving])
    # The light's step arrives at frame 8 in full, not spread over the window.
    fy_c, fx_c = (points[lm.FOREHEAD][::-1] * SIZE).astype(int)
    patch = (slice(fy_c - 1, fy_c + 3), slice(fx_c - 5, fx_c + 5))
    step = runs[5][8][patch].mean() - runs[5][7][patch].mean()
    assert step > 20, step
