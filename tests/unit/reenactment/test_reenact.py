"""Pasting the swapped heads back: colour corrected against the actor, steady over time, and
nothing changed outside the head mask."""

from __future__ import annotations

import numpy as np
from support import decode, needs_media

from vdub.core.io import load_frames
from vdub.face.crop import crop
from vdub.reenactment.paste import paste_heads
from vdub.reenactment.stabilise import StabiliseConfig


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
    stats = paste_heads(actor, heads, masks, reference, boxes, np.ones(t_count, bool), points, StabiliseConfig(),
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
    from vdub.face.crop import crop_boxes, crop_units
    from vdub.face.head_masks import MaskConfig
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
    paste_heads(actor, heads, masks, reference, boxes, valid, points, StabiliseConfig(), tmp_path / "out.npy",
                out_matte=tmp_path / "matte.npy")
    out, matte = load_frames(tmp_path / "out.npy"), load_frames(tmp_path / "matte.npy")
    for t in range(t_count):
        if t in cut:
            np.testing.assert_array_equal(out[t], actor[t])
            assert not matte[t].any()
        else:
            assert np.abs(out[t].astype(int) - actor[t].astype(int)).max() > 20, t  # the head was pasted
