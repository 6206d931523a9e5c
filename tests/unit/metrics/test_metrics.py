"""Metrics on constructed inputs with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vdub.face import landmarks as lm
from vdub.face.geometry import Similarity
from vdub.face.mesh import track_image
from vdub.metrics.image import PSNR_CAP, psnr, ssim
from vdub.metrics.landmarks import lmd, mouth_opening_correlation


@pytest.fixture(scope="module")
def mesh():
    from skimage import data

    points = track_image(data.astronaut())
    assert points is not None
    return points.astype(np.float64)


def test_psnr_known_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(20, 235, (64, 64, 3), dtype=np.uint8)
    assert psnr(a, a) == PSNR_CAP
    b = (a.astype(int) + rng.choice([-5, 5], a.shape)).astype(np.uint8)  # MSE exactly 25
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 25), abs=1e-9)
    mask = np.zeros((64, 64), bool)
    mask[:10] = True
    c = a.copy()
    c[10:] = 0  # differences outside the mask do not count
    assert psnr(a, c, mask) == PSNR_CAP


@pytest.mark.parametrize("edit", [(slice(40, 80), slice(50, 90)), (slice(0, 3), slice(0, 160)),
                                  (slice(117, 120), slice(150, 160)), (slice(60, 61), slice(70, 71)),
                                  (slice(0, 120), slice(0, 160))])
def test_whole_frame_metrics_computed_where_frames_differ_equal_the_full_computation(edit):
    """PSNR and SSIM of a frame and its locally edited copy (the evaluation's case) against the plain
    computation over every pixel: PSNR exactly, SSIM up to the order of a floating-point sum."""
    from skimage import data
    from skimage.metrics import structural_similarity

    a = cv2.resize(data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    b = a.copy()
    b[edit] = np.random.default_rng(0).integers(0, 256, b[edit].shape, dtype=np.uint8)
    full = structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert ssim(a, b) == pytest.approx(full, rel=0, abs=1e-12)

    def plain_psnr(x: np.ndarray, y: np.ndarray) -> float:
        mse = ((x.astype(np.float64) - y) ** 2).mean()
        return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * np.log10(255.0**2 / mse))

    mask = np.zeros(a.shape[:2], bool)
    mask[30:100, 20:140] = True
    assert psnr(a, b) == plain_psnr(a, b) and psnr(a, b, mask) == plain_psnr(a[mask], b[mask])


def test_ssim_identical_and_degraded():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + rng.normal(0, 60, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, noisy) < 0.9


def test_lmd_zero_for_same_track_and_pose_invariant(mesh):
    track = np.stack([mesh, mesh, mesh])
    valid = np.ones(3, bool)
    assert lmd(track, valid, track, valid) == pytest.approx(0.0, abs=1e-9)
    # The same face elsewhere in the frame, bigger and rolled: still LMD 0.
    moved = Similarity(1.7, Rotation.from_euler("z", 12, degrees=True).as_matrix(), np.array([40.0, -25.0, 3.0]))
    assert lmd(track, valid, moved.apply(track), valid) == pytest.approx(0.0, abs=1e-6)


def test_lmd_known_mouth_shift(mesh):
    iod = float(lm.inter_ocular(mesh))
    opened = mesh.copy()
    lower = lm.OUTER_LIPS[11:] + lm.INNER_LIPS[11:]  # the 18 lower-lip points
    opened[lower, 1] += 0.1 * iod
    valid = np.ones(1, bool)
    # Lower-lip points move by 0.1 IOD; centring moves all 40 points by 0.1 * 18/40 IOD.
    shift = 0.1 * 18 / 40
    expected = (18 * (0.1 - shift) + 22 * shift) / 40
    assert lmd(mesh[None], valid, opened[None], valid) == pytest.approx(expected, rel=1e-3)


def test_lmd_ignores_frames_without_face(mesh):
    a = np.stack([mesh, mesh])
    b = np.stack([mesh, mesh + 50])
    b[1, lm.MOUTH] += 10  # a different mouth, but in a frame marked faceless
    assert lmd(a, np.ones(2, bool), b, np.array([True, False])) == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(lmd(a, np.zeros(2, bool), b, np.ones(2, bool)))


def test_mouth_opening_correlation(mesh):
    frames = []
    for k in range(6):
        m = mesh.copy()
        m[lm.LOWER_INNER_LIP, 1] += k
        frames.append(m)
    track = np.stack(frames)
    valid = np.ones(6, bool)
    assert mouth_opening_correlation(track, valid, track, valid) == pytest.approx(1.0)
    assert mouth_opening_correlation(track, valid, track[::-1], valid) == pytest.approx(-1.0)


def test_mean_lab_difference_measures_colour_not_texture():
    from vdub.metrics.colour import mean_lab_difference

    rng = np.random.default_rng(0)
    a = rng.integers(60, 200, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[5:35, 5:35] = True
    assert mean_lab_difference(a, a, mask) == 0.0
    shuffled = a.reshape(-1, 3)[rng.permutation(1600)].reshape(a.shape)  # same colours, other texture
    assert mean_lab_difference(a, shuffled, np.ones((40, 40), bool)) < 1e-3
    warmer = np.clip(a.astype(int) + [12, 0, -12], 0, 255).astype(np.uint8)
    assert mean_lab_difference(a, warmer, mask) > 5
    assert np.isnan(mean_lab_difference(a, a, np.zeros((40, 40), bool)))


def test_flicker_compensates_head_motion_and_measures_what_is_left(real_mesh):
    from skimage import data

    from vdub.metrics.flicker import motion_compensated_difference, static_head_region

    frame = data.astronaut()
    h, w = frame.shape[:2]
    # The head moves by a known similarity (small rotation, zoom and shift) between two frames.
    angle, scale, shift = np.deg2rad(2.0), 1.02, np.array([3.5, -2.0])
    centre = real_mesh[lm.NOSE_TIP, :2]
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    affine = np.hstack([rot, (centre + shift - rot @ centre)[:, None]])
    moved = cv2.warpAffine(frame, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved_points = real_mesh[:, :2] @ rot.T + affine[:, 2]
    head = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(head, cv2.convexHull(moved_points[lm.FACE_OVAL].astype(np.int32)), 1.0)
    region = static_head_region(moved_points, head, np.zeros_like(head))
    # Forehead in, mouth and chin out.
    for index, inside in ((lm.FOREHEAD, True), (151, True), (lm.UPPER_INNER_LIP, False), (lm.CHIN, False)):
        x, y = moved_points[index].astype(int)
        assert region[y, x] == inside, index
    still = motion_compensated_difference(frame, moved, real_mesh, moved_points, region)
    uncompensated = float(np.abs(cv2.cvtColor(moved, cv2.COLOR_RGB2GRAY).astype(float)
                                 - cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))[region].mean())
    assert still < 0.25 * uncompensated, (still, uncompensated)
    # Shimmer added on top is measured (mean |N(0, 8)| = 6.4 grey levels).
    noisy = np.clip(moved + np.random.default_rng(0).normal(0, 8, moved.shape[:2])[..., None], 0, 255).astype(np.uint8)
    shimmer = motion_compensated_difference(frame, noisy, real_mesh, moved_points, region)
    assert 4.0 < shimmer - still < 8.0, (shimmer, still)
    assert np.isnan(motion_compensated_difference(frame, moved, real_mesh, moved_points, np.zeros_like(region)))


def test_window_forms_equal_the_whole_frame_forms(mesh):
    """The evaluation works on the head's window of the frame: the same numbers as on the whole frame."""
    from skimage import data

    from vdub.face.warp import polygon_mask
    from vdub.metrics.colour import inner_mouth_lab
    from vdub.metrics.flicker import motion_compensated_difference, static_head_region
    from vdub.metrics.image import psnr_outside

    frame = data.astronaut()
    h, w = frame.shape[:2]
    rng = np.random.default_rng(0)
    other = frame.copy()
    other[150:260, 180:300] = rng.integers(0, 256, (110, 120, 3), dtype=np.uint8)
    other[5:8, 400:410] = 0  # a change outside the window counts too
    window = slice(100, 300), slice(150, 330)
    origin = (window[1].start, window[0].start)
    head = np.zeros((h, w), np.float32)
    head[120:280, 170:310] = 1.0
    eyes = np.zeros_like(head)
    inside = head >= 1e-3
    assert psnr_outside(frame, other, inside[window], window) == psnr(frame, other, ~inside)
    assert psnr_outside(frame, frame, inside[window], window) == PSNR_CAP
    region = static_head_region(mesh, head, eyes)
    np.testing.assert_array_equal(static_head_region(mesh, head[window], eyes[window], origin), region[window])
    moved = np.roll(other, (2, -1), axis=(0, 1))
    assert motion_compensated_difference(frame, moved, mesh, mesh, region[window], origin) == pytest.approx(
        motion_compensated_difference(frame, moved, mesh, mesh, region), rel=1e-6)  # float32 sums in another order
    # The inner mouth, converted on its bounding box only.
    opened = mesh.copy()
    opened[lm.LOWER_INNER_LIP, 1] += 12
    whole = polygon_mask((h, w), opened[lm.INNER_LIPS, :2]) > 0.5
    lab = cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[whole].astype(np.float64)
    sums = inner_mouth_lab(frame, opened)
    assert sums[3] == whole.sum()  # the same pixels
    # The same float32 Lab per pixel, up to OpenCV's vector and scalar paths, which another CPU or another
    # box width may take for different pixels (at most an ulp each: 6e-8 relative); summed in float64.
    np.testing.assert_allclose(sums[:3], lab.sum(axis=0), rtol=1e-6)
