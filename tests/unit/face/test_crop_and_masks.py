"""Masks and crops on a real frame: coverage of the head, eyes and mouth; crop stability."""

from __future__ import annotations

import numpy as np

from vdub.face import landmarks as lm
from vdub.face.config import MaskConfig
from vdub.face.crop import crop, crop_affine, crop_boxes, uncrop
from vdub.face.head_masks import crop_masks
from vdub.face.segmentation import person_segmentation
from vdub.face.warp import polygon_mask


def _in_crop(points, box, size):
    a = crop_affine(box, size)
    return points[:, :2] @ a[:, :2].T + a[:, 2]


def test_masks_cover_head_eyes_mouth_on_real_frame(actor_clip):
    frames, track = actor_clip
    t = 10
    frame = frames[t]
    cfg = MaskConfig()
    boxes = crop_boxes(track.points, track.valid, cfg)
    person = next(iter(person_segmentation([frame], 1)))
    size = 128
    head, eyes, mouth = crop_masks(person, track.points[t], boxes[t], size, cfg)
    pts = _in_crop(track.points[t], boxes[t], size)
    face = polygon_mask((size, size), pts[lm.FACE_OVAL]) > 0.5
    lips = polygon_mask((size, size), pts[lm.OUTER_LIPS]) > 0.5
    eye_px = (polygon_mask((size, size), pts[lm.RIGHT_EYE]) + polygon_mask((size, size), pts[lm.LEFT_EYE])) > 0.5
    # The head mask covers the whole face and the hair above it, and not the blue wall.
    assert (head[face] > 0.9).mean() > 0.98
    above = int(pts[lm.FOREHEAD, 1] - 0.1 * size), int(pts[lm.FOREHEAD, 0])
    assert head[above] > 0.5, "hair above the forehead belongs to the head"
    assert head[:5, :5].max() < 0.05 and head[:5, -5:].max() < 0.05, "background corners are not head"
    # The neck under the chin is head; the shoulders beside it are not.
    chin = pts[lm.CHIN]
    below_chin = int(min(chin[1] + 0.08 * size, size - 1)), int(chin[0])
    assert head[below_chin] > 0.5
    assert head[-3:, : size // 8].max() < 0.2 and head[-3:, -size // 8:].max() < 0.2
    # Part masks sit on their parts and not elsewhere.
    assert (mouth[lips] > 0.5).mean() > 0.95 and (eyes[eye_px] > 0.5).mean() > 0.95
    assert mouth[eye_px].max() < 0.05 and eyes[lips].max() < 0.05
    # Soft, not binary.
    assert ((head > 0.05) & (head < 0.95)).any()


def test_crop_uncrop_round_trip(actor_clip):
    frames, _ = actor_clip
    box = np.array([350.0, 300.0, 200.0])
    patch = crop(frames[0], box, 200)  # 1:1 scale: the round trip is lossless
    back = uncrop(patch, box, frames[0].shape[:2])
    np.testing.assert_array_equal(back[202:398, 252:448], frames[0][202:398, 252:448])
    assert back[:190].max() == 0 and back[410:].max() == 0, "nothing outside the box"


def test_crop_boxes_are_smoother_than_per_frame(actor_clip):
    _, track = actor_clip
    raw = crop_boxes(track.points, track.valid, MaskConfig(crop_smooth_window=1))
    smooth = crop_boxes(track.points, track.valid, MaskConfig())
    jitter = lambda b: np.abs(np.diff(b[:, :2], 2, axis=0)).mean()  # noqa: E731 - centre acceleration, px
    assert jitter(smooth) < 0.5 * jitter(raw)


def test_uncrop_is_zero_outside_its_window():
    from vdub.face.crop import uncrop_window

    rng = np.random.default_rng(0)
    for k in range(60):
        size = (64, 128, 176)[k % 3]
        patch = rng.random((size, size)).astype(np.float32) + 0.01  # non-zero everywhere, to the patch's edge
        shape = (120, 160) if k % 2 else (90, 200)
        box = np.array([rng.uniform(-40, 240), rng.uniform(-40, 160), rng.uniform(8, 150)])
        full = uncrop(patch, box, shape)
        window = uncrop_window(box, size, shape)
        outside = full.copy()
        outside[window] = 0
        assert outside.max() == 0, box
        assert full[window].size == 0 or full[window].max() > 0, box  # and the window is not somewhere else
