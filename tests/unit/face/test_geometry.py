"""Rigid alignment on known transforms, temporal smoothing, and the piecewise-affine warp."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vdub.face import landmarks as lm
from vdub.face.config import SmoothingConfig
from vdub.face.geometry import Similarity, robust_umeyama, umeyama
from vdub.face.mesh import FaceTrack
from vdub.face.smoothing import fill_gaps, savgol_track
from vdub.face.warp import piecewise_affine, triangulate
from vdub.virtual_dubber.alignment import rigid_transforms, smooth_track


def _known_transform() -> Similarity:
    rot = Rotation.from_euler("xyz", [8, -15, 6], degrees=True).as_matrix()
    return Similarity(1.17, rot, np.array([23.5, -11.25, 4.0]))


def test_umeyama_recovers_known_transform_on_real_mesh(real_mesh):
    truth = _known_transform()
    moved = truth.apply(real_mesh)
    est = umeyama(real_mesh[lm.STABLE], moved[lm.STABLE])
    error_px = np.linalg.norm(est.apply(real_mesh)[:, :2] - moved[:, :2], axis=1).max()
    assert error_px < 0.5
    assert est.scale == pytest.approx(truth.scale, rel=1e-9)


def test_robust_umeyama_ignores_outliers(real_mesh):
    truth = _known_transform()
    moved = truth.apply(real_mesh)[lm.STABLE]
    corrupted = moved.copy()
    corrupted[[0, 5]] += [[30.0, -25.0, 0.0], [-40.0, 10.0, 5.0]]  # two tracker glitches
    plain = umeyama(real_mesh[lm.STABLE], corrupted)
    robust = robust_umeyama(real_mesh[lm.STABLE], corrupted)
    err = lambda s: np.linalg.norm(s.apply(real_mesh)[:, :2] - truth.apply(real_mesh)[:, :2], axis=1).max()  # noqa: E731
    assert err(robust) < 0.5 < err(plain)


def test_rigid_transforms_per_frame_and_gaps(real_mesh):
    truths = [Similarity(1.0 + 0.01 * t, Rotation.from_euler("z", 2 * t, degrees=True).as_matrix(),
                         np.array([t, -t, 0.0])) for t in range(5)]
    source = FaceTrack(np.stack([real_mesh] * 5).astype(np.float32), np.array([1, 1, 0, 1, 1], bool))
    target = FaceTrack(np.stack([tr.apply(real_mesh) for tr in truths]).astype(np.float32), np.ones(5, bool))
    found = rigid_transforms(source, target)
    assert found[2] is None
    for t in (0, 1, 3, 4):
        err = np.abs(found[t].apply(real_mesh)[:, :2] - truths[t].apply(real_mesh)[:, :2]).max()
        assert err < 0.05


def test_savgol_reduces_noise_without_lag():
    rng = np.random.default_rng(0)
    t = np.arange(120, dtype=float)
    truth = 40 * np.sin(2 * np.pi * t / 60.0)  # a head sway of 2 s at 30 fps
    noisy = truth + rng.normal(0, 1.5, t.shape)
    smooth = savgol_track(noisy[:, None], np.ones(len(t), bool), window=7)[:, 0]
    assert np.abs(smooth - truth).mean() < 0.6 * np.abs(noisy - truth).mean()
    # No lag: the cross-correlation peak between smoothed and true motion is at shift 0.
    lags = range(-3, 4)
    best = max(lags, key=lambda k: np.dot(np.roll(smooth, k)[5:-5], truth[5:-5]))
    assert best == 0


def test_smoothing_keeps_gaps_as_gaps(real_mesh):
    pts = np.stack([real_mesh + i for i in range(12)]).astype(np.float32)
    valid = np.ones(12, bool)
    valid[5] = False
    pts[5] = np.nan
    out = smooth_track(FaceTrack(pts, valid), SmoothingConfig())
    assert np.isnan(out.points[5]).all()
    assert np.isfinite(out.points[valid]).all()


def test_fill_gaps_interpolates():
    values = np.array([[0.0], [np.nan], [np.nan], [3.0]])
    out = fill_gaps(values, np.array([1, 0, 0, 1], bool))
    np.testing.assert_allclose(out[:, 0], [0, 1, 2, 3])


def test_piecewise_affine_identity_and_translation():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    pts = np.array([[0, 0], [79, 0], [0, 59], [79, 59], [40, 30]], float)
    tri = triangulate(pts)
    same, cover = piecewise_affine(image, pts, pts, tri, (60, 80))
    assert cover[1:-1, 1:-1].all()
    np.testing.assert_array_equal(same[1:-1, 1:-1], image[1:-1, 1:-1])
    # Moving every point by (+5, +3) shifts the content by the same amount.
    shifted, _ = piecewise_affine(image, pts, pts + [5, 3], tri, (60, 80))
    np.testing.assert_array_equal(shifted[10:50, 10:70], image[7:47, 5:65])


def test_alignment_scale_is_consistent_over_the_shot(real_mesh):
    """Tracking noise makes a free per-frame scale breathe; smooth/shot modes hold it steady."""
    rng = np.random.default_rng(3)
    frames = 60
    truths = [Similarity(1.2, Rotation.from_euler("z", 3 * np.sin(t / 9), degrees=True).as_matrix(),
                         np.array([2.0 * t, 0.5 * t, 0.0])) for t in range(frames)]
    source = FaceTrack(np.stack([real_mesh] * frames).astype(np.float32), np.ones(frames, bool))
    clean = np.stack([tr.apply(real_mesh) for tr in truths])
    noisy = FaceTrack((clean + rng.normal(0, 1.0, clean.shape)).astype(np.float32), np.ones(frames, bool))
    spread = {}
    for mode in ("frame", "smooth", "shot"):
        found = rigid_transforms(source, noisy, scale_mode=mode)
        scales = np.array([f.scale for f in found])
        spread[mode] = scales.std()
        err = np.median([np.linalg.norm(f.apply(real_mesh)[lm.STABLE, :2] - c[lm.STABLE, :2], axis=1).mean()
                         for f, c in zip(found, clean)])
        assert err < 1.0, f"{mode}: stable points {err:.2f} px from the truth"
    assert spread["smooth"] < 0.5 * spread["frame"]
    # One scale for the whole shot: the spread is zero up to float64 rounding of the mean (2e-16 seen).
    assert spread["shot"] < 1e-12, spread["shot"]
    # Noise-free: every mode recovers the transform exactly.
    exact = FaceTrack(clean.astype(np.float32), np.ones(frames, bool))
    for mode in ("frame", "smooth", "shot"):
        for f, c in zip(rigid_transforms(source, exact, scale_mode=mode), clean):
            assert np.abs(f.apply(real_mesh)[:, :2] - c[:, :2]).max() < 0.5
