"""Compositing the swapped heads back: colour corrected against the actor, steady over time (the
network's shimmer goes, the actor's real changes and the dubbed lower face stay), and nothing
changed outside the head mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import decode, needs_media

from vdub.core.io import load_frames
from vdub.face import landmarks as lm
from vdub.face.crop import crop, crop_units, uncrop
from vdub.face.warp import blend
from vdub.reenactment.compositing import gaussian_taps, paste_corrected, paste_heads, still_weight
from vdub.reenactment.config import PasteConfig

SIZE = 96


# ---------------------------------------------------------------- colour and paste


def test_colour_is_matched_smoothly_and_only_inside_the_mask(tmp_path):
    from skimage import data

    t_count, size = 12, 64
    actor = np.stack([data.astronaut()[:256, 100:356]] * t_count)
    box = np.array([128.0, 110.0, 160.0])
    boxes = np.stack([box] * t_count)
    reference = np.stack([crop(actor[0], box, size)] * t_count)
    yy, xx = np.mgrid[0:size, 0:size] / size
    mask = (np.exp(-(((yy - 0.5) / 0.3) ** 2 + ((xx - 0.5) / 0.25) ** 2) ** 2) * 255).astype(np.uint8)
    masks = np.zeros((t_count, 3, size, size), np.uint8)
    masks[:, 0] = mask
    # The network's heads: the actor's own, with a colour cast that flickers from frame to frame.
    rng = np.random.default_rng(0)
    casts = rng.normal(0, 3, (t_count, 3)) + [15, 0, -10]
    heads = np.clip(reference.astype(float) + casts[:, None, None, :], 0, 255).astype(np.uint8)
    points = np.full((t_count, 478, 2), np.nan, np.float32)  # no mesh: nothing to stabilise, colour only
    stats = paste_heads(actor, heads, masks, reference, boxes, np.ones(t_count, bool), points, PasteConfig(),
                         tmp_path / "out.npy", out_matte=tmp_path / "matte.npy")
    out, matte = load_frames(tmp_path / "out.npy"), load_frames(tmp_path / "matte.npy")
    assert stats["head_delta_e_before"] > 5 and stats["head_delta_e_after"] < 2, stats
    # Steady: the pasted region changes less from frame to frame than the raw casts did.
    region = (slice(40, 180), slice(60, 200))
    out_flicker = np.abs(np.diff(out[:, region[0], region[1]].astype(float), axis=0)).mean()
    raw_flicker = np.abs(np.diff(casts, axis=0)).mean()
    assert out_flicker < 0.5 * raw_flicker, (out_flicker, raw_flicker)
    # Outside the box nothing moves.
    np.testing.assert_array_equal(out[:, :, :30], actor[:, :, :30])
    # The matte: the head mask at full resolution, opaque in the middle of the head, and where it
    # is 0 the output is the actor's frame bit for bit.
    assert matte.shape == actor.shape[:3] and matte.dtype == np.uint8
    assert (matte[:, 110, 128] == 255).all() and (matte[:, :, :30] == 0).all()
    zero = matte == 0
    np.testing.assert_array_equal(out[zero], actor[zero])
    assert (out != actor).any(axis=-1)[~zero].mean() > 0.5  # the matte is not just "everything"


@needs_media
def test_cutaway_frames_pass_through_bit_exact(tmp_path):
    """A shot with a cutaway (frames of another clip, no head crop): those frames leave the paste untouched."""
    from vdub.face.config import MaskConfig
    from vdub.face.crop import crop_boxes
    from vdub.face.mesh import track_faces

    t_count, size, cut = 10, 64, [4, 5, 6]
    actor = decode("actor_woman_bluewall.mp4", t_count)
    other = decode("actor_glasses_man.mp4", t_count)
    other = np.stack([np.resize(f, actor.shape[1:]) for f in other])  # same geometry, another picture
    actor[cut] = other[cut]
    track = track_faces(iter(actor), t_count)
    valid = track.valid.copy()
    valid[cut] = False  # the shot's own face only; the cutaway is not edited
    boxes = crop_boxes(track.points, valid, MaskConfig())
    reference = np.stack([crop(actor[t], boxes[t], size) for t in range(t_count)])
    heads = np.clip(reference.astype(int) + 40, 0, 255).astype(np.uint8)  # visibly different heads
    masks = np.zeros((t_count, 3, size, size), np.uint8)
    masks[:, 0] = 255
    points = np.stack([crop_units(track.points[t, :, :2], boxes[t]) for t in range(t_count)])
    paste_heads(actor, heads, masks, reference, boxes, valid, points, PasteConfig(), tmp_path / "out.npy",
                out_matte=tmp_path / "matte.npy")
    out, matte = load_frames(tmp_path / "out.npy"), load_frames(tmp_path / "matte.npy")
    for t in range(t_count):
        if t in cut:
            np.testing.assert_array_equal(out[t], actor[t])
            assert not matte[t].any()
        else:
            assert np.abs(out[t].astype(int) - actor[t].astype(int)).max() > 20, t  # the head was pasted


# ---------------------------------------------------------------- stabilisation


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
        cfg = PasteConfig(colour_window=1, stabilise_window=window)
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


# ---------------------------------------------------------------- the corrective paste


def test_corrective_paste_is_the_composite_where_the_network_changed_nothing():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), np.uint8)
    composite = frame.copy()
    composite[60:90, 60:100] = rng.integers(0, 256, (30, 40, 3), np.uint8)  # the dubbed lower face
    box = np.array([80.0, 70.0, 80.0])
    size = 32
    mask = np.zeros((size, size), np.float32)
    mask[4:28, 4:28] = 1.0
    network_input = rng.integers(0, 256, (size, size, 3), np.uint8)
    out = paste_corrected(frame, composite, np.zeros((size, size, 3), np.float32), network_input, mask, box, 1.0)
    inside = out != frame
    assert inside.any()
    # Exactly the composite blended through the mask: full-resolution detail, nothing redrawn.
    alpha = np.clip(uncrop(mask, box, frame.shape[:2]), 0, 1)
    np.testing.assert_array_equal(out, blend(frame, composite, alpha))
    np.testing.assert_array_equal(out[:, :30], frame[:, :30])  # outside the box: untouched
    # A residual moves the head by that much (up to rounding), inside the mask only.
    residual = np.full((size, size, 3), 10.0, np.float32)
    lifted = paste_corrected(frame, composite, residual, network_input, mask, box, 1.0)
    full = alpha > 0.999
    change = lifted[full].astype(int) - np.clip(composite[full].astype(int) + 10, 0, 255)
    assert np.abs(change).max() <= 1
    np.testing.assert_array_equal(lifted[alpha == 0], frame[alpha == 0])


def test_paste_config_rejects_what_the_paste_cannot_do():
    with pytest.raises(ValueError, match="paste detail"):
        PasteConfig(detail=1.5)
    with pytest.raises(ValueError, match="odd number"):
        PasteConfig(stabilise_window=4)
    with pytest.raises(ValueError, match="stabilise_ramp"):
        PasteConfig(stabilise_ramp=0.0)
    # JSON may bring the detail as an int: the paste's scalars are of a Python float all the same.
    assert type(PasteConfig.from_dict({"detail": 1}).detail) is float
