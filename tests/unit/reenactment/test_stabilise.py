"""Temporal stabilisation of the pasted head: the network's shimmer goes, the actor's real
changes and the dubbed lower face stay."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vdub.core.io import load_frames
from vdub.face import landmarks as lm
from vdub.face.crop import crop, crop_units
from vdub.reenactment.paste import paste_heads
from vdub.reenactment.stabilise import StabiliseConfig, gaussian_taps, still_weight

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
    t_count, step = 16, 1.5  # the head drifts right by 1.5 px a frame inside a fixed crop box
    rng = np.random.default_rng(0)
    shifts = [np.float32([[1, 0, step * t], [0, 1, 0]]) for t in range(t_count)]
    actor = np.stack([cv2.warpAffine(frame, m, frame.shape[1::-1], borderMode=cv2.BORDER_REFLECT) for m in shifts])
    boxes = np.stack([box] * t_count)
    clean = np.stack([crop(a, box, SIZE) for a in actor])
    all_points = np.stack([points + [step * t / box[2], 0.0] for t in range(t_count)]).astype(np.float32)
    # The network: the actor's head plus per-frame shimmer.
    heads = np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).round().astype(np.uint8)
    masks = np.zeros((t_count, 3, SIZE, SIZE), np.uint8)
    masks[:, 0] = 255
    valid = np.ones(t_count, bool)
    runs = {}
    for window in (1, 5):
        cfg = StabiliseConfig(colour_window=1, stabilise_window=window)
        paste_heads(actor, heads, masks, clean, boxes, valid, all_points, cfg, tmp_path / f"w{window}.npy")
        runs[window] = np.stack([crop(f, box, SIZE) for f in load_frames(tmp_path / f"w{window}.npy")]).astype(float)
    # Judged a few pixels in from the ramp's ends (the crop back out of the frame resamples
    # across them) and on the middle frames (the full window).
    weight = still_weight(points, SIZE, np.zeros((SIZE, SIZE), np.float32), ramp=0.1)
    margin = np.ones((7, 7), np.uint8)
    still = cv2.erode((weight == 1.0).astype(np.uint8), margin).astype(bool)
    moving = cv2.erode((weight == 0.0).astype(np.uint8), margin).astype(bool)
    middle = slice(2, t_count - 2)

    def error(window: int, where: np.ndarray) -> float:
        return float(np.abs(runs[window][middle] - clean[middle])[:, where].mean())

    # Aligned averaging removes the shimmer without smearing the moving head (a plain
    # average of unaligned frames would leave an error of several grey levels at its edges).
    assert error(5, still) < 0.75 * error(1, still), (error(5, still), error(1, still))
    flicker = {w: float(np.abs(np.diff(runs[w][middle], axis=0))[:, still].mean()) for w in (1, 5)}
    assert flicker[5] < 0.7 * flicker[1], flicker
    # The mouth and jaw are the network's (dubbed) output, exactly as without stabilisation.
    np.testing.assert_array_equal(runs[5][:, moving], runs[1][:, moving])
