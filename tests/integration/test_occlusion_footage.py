"""The occlusion footage generator (tests/footage.py, issue 25): a real hand keyed from
actor_woman_hands.mp4, raised over actor_woman_bluewall.mp4's mouth, held and lowered, with its
ground-truth mask. What the occluder detector's tests will rely on is checked on the real output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from footage import HANDS_CLIP, _decode, hand_schedule, hold_prop, key_cup, key_hand, make_occlusion, write_occlusion
from support import decode, needs_media

pytestmark = [pytest.mark.media, needs_media]

FRAMES, START, RISE, HOLD = 125, 30, 12, 30


@pytest.fixture(scope="module")
def occlusion():
    return make_occlusion(n_frames=FRAMES, start=START, rise=RISE, hold=HOLD)


def test_mask_is_non_empty_exactly_while_the_hand_is_up(occlusion):
    shown = occlusion.masks.any((1, 2))
    expected = np.zeros(FRAMES, bool)
    expected[START:START + 2 * RISE + HOLD] = True
    assert occlusion.visible == (START, START + 2 * RISE + HOLD)
    assert [t for t, _ in hand_schedule(START, RISE, HOLD)] == list(range(*occlusion.visible))
    np.testing.assert_array_equal(shown, expected)
    assert occlusion.over_mouth == (START + RISE, START + RISE + HOLD)


def test_hand_covers_the_mouth_while_held_and_nothing_before_or_after(occlusion):
    lo, hi = occlusion.over_mouth
    assert occlusion.lips.any((1, 2)).all()  # the face mesh found lips in every frame
    assert (occlusion.coverage[lo:hi] > 0.5).all(), occlusion.coverage[lo:hi]
    assert (occlusion.coverage[:occlusion.visible[0]] == 0).all()
    assert (occlusion.coverage[occlusion.visible[1]:] == 0).all()
    # The hand rises from below: first only the bottom of the picture, then higher each frame.
    tops = [np.flatnonzero(occlusion.masks[t].any(1))[0] for t in range(occlusion.visible[0], lo + 1)]
    assert tops[0] > occlusion.masks.shape[1] * 0.7 and all(np.diff(tops) <= 0)
    # While held, the forearm runs out of the bottom of the picture (no floating hand).
    assert occlusion.masks[lo:hi, -1].any(1).all()


def test_hand_pixels_are_the_keyed_hand_pixels(occlusion):
    sprites = key_hand(n_frames=4)
    sources, _ = _decode(HANDS_CLIP, sprites.source_frames[0], 4)
    for sprite, (x, y), source in zip(sprites.rgba, sprites.origin, sources):
        h, w = sprite.shape[:2]
        np.testing.assert_array_equal(sprite[..., :3], source[y:y + h, x:x + w])  # the clip's own pixels
        assert (sprite[..., 3] == 255).sum() > 0.8 * (sprite[..., 3] > 0).sum()  # solid, only the edge is soft
    actor = decode("actor_woman_bluewall.mp4", FRAMES)
    for t in range(*occlusion.visible):
        layer, (x0, y0) = occlusion.layers[t]
        height, width = occlusion.frames.shape[1:3]
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + layer.shape[1], width), min(y0 + layer.shape[0], height)
        part = layer[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        frame, under = occlusion.frames[t, fy0:fy1, fx0:fx1], actor[t, fy0:fy1, fx0:fx1]
        opaque, clear = part[..., 3] == 255, part[..., 3] == 0
        np.testing.assert_array_equal(frame[opaque], part[..., :3][opaque])
        np.testing.assert_array_equal(frame[clear], under[clear])
    untouched = np.ones(FRAMES, bool)
    untouched[slice(*occlusion.visible)] = False
    np.testing.assert_array_equal(occlusion.frames[untouched], actor[untouched])
    # Skin, not the blue wall or the dark jacket: the opaque hand's colour is the keyed hand's.
    layer = occlusion.layers[sum(occlusion.over_mouth) // 2][0]
    hand = layer[..., :3][layer[..., 3] == 255].mean(0)
    keyed = np.concatenate([s[..., :3][s[..., 3] == 255] for s in sprites.rgba]).mean(0)
    assert np.abs(hand - keyed).max() < 12 and hand[0] > hand[2] + 20, (hand, keyed)


def test_written_clip_decodes_at_the_actor_geometry(occlusion, tmp_path):
    from vdub.media.video import probe_video, read_frames

    paths = write_occlusion(occlusion, tmp_path)
    info = probe_video(paths["clip"])
    assert (info.n_frames, info.display_width, info.display_height, info.fps_str) == (FRAMES, 700, 700, "30/1")
    assert info.has_audio
    decoded = np.stack(list(read_frames(info)))
    assert decoded.shape == occlusion.frames.shape
    assert np.abs(decoded.astype(np.int16) - occlusion.frames).mean() < 1.5  # CRF 10: near lossless
    masks = np.load(paths["masks"])
    assert masks.dtype == bool and masks.shape == (FRAMES, 700, 700)
    np.testing.assert_array_equal(masks, occlusion.masks)
    meta = json.loads(paths["json"].read_text())
    assert meta["visible"] == list(occlusion.visible) and meta["over_mouth"] == list(occlusion.over_mouth)
    assert len(meta["coverage"]) == FRAMES and meta["frames"] == FRAMES


def test_lower_target_covers_the_mouth_only_partly():
    partial = make_occlusion(n_frames=90, start=10, rise=10, hold=20, target_offset=0.4)
    lo, hi = partial.over_mouth
    assert partial.masks[lo:hi].any((1, 2)).all()
    assert (partial.coverage[lo:hi] > 0.02).all() and (partial.coverage[lo:hi] < 0.5).all(), partial.coverage[lo:hi]


def test_the_cup_is_the_photos_own_pixels_held_behind_the_fingers():
    import cv2
    from footage import hand_size
    from skimage import data

    cup = key_cup()
    solid = cup[..., 3] == 255
    assert 0.6 < solid.mean() < 0.85  # the rim seen end-on: an ellipse fills pi / 4 of its box
    # The photo's own pixels, unchanged: the crop is found in the photo with no difference at all.
    photo = data.coffee()
    y, x = np.unravel_index(np.argmin(cv2.matchTemplate(photo, np.ascontiguousarray(cup[..., :3]), cv2.TM_SQDIFF)),
                            (photo.shape[0] - cup.shape[0] + 1, photo.shape[1] - cup.shape[1] + 1))
    np.testing.assert_array_equal(photo[y:y + cup.shape[0], x:x + cup.shape[1]], cup[..., :3])
    assert cup[..., :3][solid].mean() > 150  # the white rim and the coffee, not the dark red saucer
    hands = key_hand(n_frames=3)
    held = hold_prop(hands, cup, width=0.6)
    for before, after, pts, new_pts in zip(hands.rgba, held.rgba, hands.landmarks, held.landmarks):
        x, y = np.round(new_pts[0] - pts[0]).astype(int)
        opaque = before[..., 3] == 255
        # The fingers are in front of the cup: the hand's pixels are the hand's.
        np.testing.assert_array_equal(after[y:y + before.shape[0], x:x + before.shape[1]][opaque], before[opaque])
        # Most of the cup shows above them.
        scale = 0.6 * hand_size(pts) / cup.shape[1]
        grown = (after[..., 3] > 127).sum() - (before[..., 3] > 127).sum()
        assert grown > 0.5 * (cup[..., 3] > 127).sum() * scale ** 2, grown
