"""Where the dub may show: occluders kept in front of it (hands found on real footage, nothing found on the
clean shared talking heads), the dub's weight fading over frames instead of popping, and a clean shot left
bit for bit as it was."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import decode, needs_media

from vdub.evaluation.qc import frame_ranges
from vdub.face import landmarks as lm
from vdub.face.config import VisibilityConfig
from vdub.face.head_pose import yaw_pitch
from vdub.face.mesh import track_faces
from vdub.face.occluders import HandOccluders, draw_hand, held_objects, occluder_masks, soft_occluder
from vdub.face.visibility import REASONS, coverage, fade_weights, gate_alpha, gated, shot_visibility


def test_fade_ramps_out_before_and_back_in_after_without_steps_larger_than_one_over_the_ramp():
    off = np.zeros(40, bool)
    off[20:24] = True
    weight = fade_weights(off, 5)
    assert (weight[20:24] == 0).all() and weight[:14].min() == 1 and weight[30:].min() == 1
    np.testing.assert_allclose(weight[14:20], [1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6], atol=1e-6)
    np.testing.assert_allclose(weight[24:30], [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1], atol=1e-6)
    assert np.abs(np.diff(weight)).max() <= 1 / 6 + 1e-6
    assert (fade_weights(np.zeros(10, bool), 5) == 1).all()
    np.testing.assert_array_equal(fade_weights(off, 0), (~off).astype(np.float32))


def test_shot_visibility_names_each_reason():
    t_count = 30
    points = np.zeros((t_count, 478, 2))
    points[:, lm.FOREHEAD] = [100, 50]
    points[:, lm.CHIN] = [100, 250]  # a face 200 px high
    points[10, lm.CHIN] = [100, 80]  # 30 px: too small
    valid = np.ones(t_count, bool)
    valid[25] = False
    angles = np.zeros((t_count, 2))
    angles[5, 0] = 45.0  # turned past max_yaw
    angles[15, 1] = -35.0  # nodded past max_pitch
    covered = np.zeros(t_count)
    covered[20] = 0.8
    cfg = VisibilityConfig(fade_frames=1)
    seen = shot_visibility(points, valid, covered, covered, angles, cfg)
    why = {reason: np.flatnonzero(seen.reasons[:, k]).tolist() for k, reason in enumerate(REASONS)}
    assert why == {"no_face": [25], "turned": [5, 15], "small": [10], "occluded": [20]}
    assert (seen.weight[[5, 10, 15, 20, 25]] == 0).all() and seen.weight[0] == 1
    faded = seen.weight < 1
    assert [(r["start"], r["end"]) for r in frame_ranges(faded, 1 - seen.weight, 0)] == [
        (4, 6), (9, 11), (14, 16), (19, 21), (24, 26)]
    assert [(r["start"], r["end"]) for r in frame_ranges(faded, 1 - seen.weight, 2)] == [(4, 26)]


def test_coverage_is_the_share_of_the_lips_under_the_occluder():
    points = np.zeros((478, 2))
    angle = np.linspace(0, 2 * np.pi, len(lm.OUTER_LIPS), endpoint=False)
    points[lm.OUTER_LIPS] = np.stack([50 + 20 * np.cos(angle), 50 + 10 * np.sin(angle)], axis=1)
    occluder = np.zeros((100, 100), bool)
    assert coverage(points, occluder) == 0
    occluder[:, :50] = True
    assert 0.45 < coverage(points, occluder) < 0.55
    occluder[:] = True
    assert coverage(points, occluder) == 1


def test_gate_keeps_the_occluder_exactly_and_leaves_a_clean_frame_bit_for_bit():
    rng = np.random.default_rng(0)
    actor = rng.integers(0, 256, (60, 80, 3), np.uint8)
    dubbed = rng.integers(0, 256, (60, 80, 3), np.uint8)
    assert gated(actor, dubbed, None, 1.0) is dubbed
    assert gated(actor, dubbed, np.zeros((60, 80), np.uint8), 1.0) is dubbed
    np.testing.assert_array_equal(gated(actor, dubbed, None, 0.0), actor)
    hard = np.zeros((60, 80), bool)
    hard[20:40, 30:50] = True
    soft = soft_occluder(hard, margin=3, feather=4)
    assert (soft[hard] == 255).all() and soft[0, 0] == 0
    # Within the margin the occluder is kept whole too; beyond it the dub comes back over the feather.
    assert soft[20, 27] == 255 and 0 < soft[20, 25] < 255 and soft[20, 22] == 0
    out = gated(actor, dubbed, soft, 1.0)
    np.testing.assert_array_equal(out[soft == 255], actor[soft == 255])
    np.testing.assert_array_equal(out[soft == 0], dubbed[soft == 0])
    half = gate_alpha((60, 80), soft, 0.5)
    assert half[0, 0] == pytest.approx(0.5) and (half[hard] == 0).all()


def test_a_hand_is_drawn_from_its_landmarks_with_fingers_as_wide_as_the_knuckles():
    # An open right hand, fingers up, wrist at the bottom.
    points = np.array([[100, 200], [80, 185], [68, 168], [60, 152], [54, 138],  # wrist, thumb
                       [88, 140], [86, 115], [85, 98], [84, 84],  # index
                       [100, 137], [100, 110], [100, 92], [100, 76],  # middle
                       [112, 140], [113, 115], [114, 98], [115, 86],  # ring
                       [123, 146], [126, 126], [128, 112], [129, 100]], float)
    mask = draw_hand((300, 200), points)
    assert mask[points[:, 1].astype(int), points[:, 0].astype(int)].all()  # every joint
    assert mask[160, 100] and mask[230, 100]  # the palm, and the forearm below the wrist
    assert not mask[40, 100] and not mask[150, 20]  # above the finger tips, beside the thumb


@needs_media
@pytest.mark.media
def test_hands_are_found_on_real_footage_and_nothing_on_the_clean_talking_heads():
    hands = HandOccluders()
    try:
        frames = decode("actor_woman_hands.mp4", 60)[::6]
        assert sum(hands(f).any() for f in frames) >= 9
    finally:
        hands.close()
    for clip in ("actor_woman_bluewall.mp4", "actor_glasses_man.mp4", "actor_girl_turns.mp4"):
        frames = decode(clip, 60)
        track = track_faces(iter(frames), len(frames))
        # The defaults: hands and what they hold.
        found = list(occluder_masks(frames, track.points, track.valid, hands=True, objects=False, props=True,
                                    threshold=VisibilityConfig().object_threshold))
        assert not any(m.any() for m in found), clip


def test_held_objects_are_the_blobs_a_hand_touches():
    objects, hand = np.zeros((60, 60), bool), np.zeros((60, 60), bool)
    hand[40:60, 20:30] = True
    objects[20:42, 15:35] = True  # the cup, in the fingers
    objects[5:10, 50:55] = True  # a glint elsewhere on the face
    held = held_objects(objects, hand, reach=3)
    assert held[20:42, 15:35].all() and not held[5:10, 50:55].any()
    objects[20:42, 15:35] = False
    objects[20:36, 15:35] = True  # 4 px above the hand: within reach 5, not within 3
    assert not held_objects(objects, hand, reach=3).any() and held_objects(objects, hand, reach=5)[25, 25]
    assert not held_objects(objects, np.zeros_like(hand), reach=5).any()


@needs_media
@pytest.mark.media
def test_a_cup_held_to_the_mouth_is_found_with_the_hand_that_holds_it():
    """A real cup (keyed from scikit-image's coffee photo) in a real hand (keyed from actor_woman_hands.mp4)
    raised to woman_bluewall's mouth (tests/footage.py). Measured on this clip: on the frames it is held,
    the hands alone find 12-19 % of the occluder inside the face, hands and props 95-97 %, and take at most
    0.24 % of the rest of the face (the occluder's rim) for it."""
    from footage import make_occlusion

    cup = make_occlusion(n_frames=90, start=20, rise=12, hold=20, target_offset=0.45, cup=0.6)
    track = track_faces(iter(cup.frames), len(cup.frames))
    threshold = VisibilityConfig().object_threshold

    def recall(props: bool) -> list[float]:
        found = list(occluder_masks(cup.frames, track.points, track.valid, hands=True, objects=False, props=props,
                                    threshold=threshold))
        out = []
        for t in range(*cup.over_mouth):
            face = np.zeros(cup.frames.shape[1:3], np.uint8)
            cv2.fillPoly(face, [np.round(track.points[t][lm.FACE_OVAL, :2]).astype(np.int32)], 1)
            truth = cup.masks[t] & (face > 0)
            out.append(float((found[t] & truth).sum() / truth.sum()))
            assert (found[t] & (face > 0) & ~cup.masks[t]).sum() < 0.01 * face.sum(), t
        assert not any(m.any() for m in found[:cup.visible[0]]) and not any(m.any() for m in found[cup.visible[1]:])
        return out

    assert max(recall(props=False)) < 0.3
    assert min(recall(props=True)) > 0.85


@needs_media
@pytest.mark.media
def test_head_turns_read_off_the_mesh_follow_the_turn():
    frames = decode("actor_girl_turns.mp4", 225)[::4]
    track = track_faces(iter(frames), len(frames))
    angles = yaw_pitch(track.points)
    # Where the nose moves towards one cheek the face has turned that way (2D check, independent of depth).
    x = track.points[:, :, 0]
    towards_left = (x[:, lm.NOSE_TIP] - x[:, 234]) / (x[:, 454] - x[:, 234]) - 0.5
    assert np.corrcoef(angles[:, 0], towards_left)[0, 1] > 0.8
    frontal = np.abs(towards_left) < 0.03
    assert np.abs(angles[frontal, 0]).max() < 6.0
