"""Mesh-track smoothing: less jitter on the real clips, closer to the truth and no lag on a
synthetic track, and crop boxes steadier than per-frame ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from support import REAL_CLIPS

from vdub.face import landmarks as lm
from vdub.face.config import MaskConfig, SmoothingConfig
from vdub.face.crop import crop_boxes
from vdub.face.geometry import Similarity
from vdub.face.smoothing import smooth_mesh_track, smooth_poses
from vdub.virtual_dubber.geometry_qa import box_jitter, jitter


@pytest.mark.parametrize("clip", REAL_CLIPS)
def test_stable_landmark_jitter_halves_on_real_clips(real_tracks, clip):
    track = real_tracks[clip]
    smoothed = smooth_mesh_track(track.points, track.valid, SmoothingConfig())
    result = jitter(track.points, smoothed, track.valid)
    assert result["reduction"] >= 0.5, f"{clip}: {result['raw_px']:.2f} -> {result['smoothed_px']:.2f} px"


@pytest.mark.parametrize("clip", REAL_CLIPS)
def test_crop_boxes_steadier_than_per_frame_on_real_clips(real_tracks, clip):
    track = real_tracks[clip]
    per_frame = box_jitter(crop_boxes(track.points, track.valid, MaskConfig(crop_smooth_window=1)), track.valid)
    smoothed = box_jitter(crop_boxes(track.points, track.valid, MaskConfig()), track.valid)
    assert smoothed <= 0.5 * per_frame


def _synthetic_track(mesh: np.ndarray, frames: int = 120, fps: float = 30.0):
    """A real mesh moved by a known smooth head motion and speaking mouth: T x 478 x 3."""
    t = np.arange(frames) / fps
    centre = mesh[lm.STABLE].mean(axis=0)
    weights = np.zeros(len(mesh))
    weights[lm.MOUTH + [lm.CHIN]] = 1.0
    truth = np.empty((frames, len(mesh), 3))
    for i, s in enumerate(t):
        face = mesh.copy()
        face[:, 1] += weights * 6.0 * (1 + np.sin(2 * np.pi * 2.5 * s))  # jaw, 2.5 Hz
        rot = Rotation.from_euler("yxz", [12 * np.sin(2 * np.pi * 0.4 * s), 5 * np.sin(2 * np.pi * 0.3 * s),
                                          3 * np.sin(2 * np.pi * 0.5 * s)], degrees=True).as_matrix()
        pose = Similarity(1.0 + 0.05 * np.sin(2 * np.pi * 0.2 * s), rot,
                          np.array([40 * np.sin(2 * np.pi * 0.35 * s), 15 * np.cos(2 * np.pi * 0.25 * s), 0.0]))
        truth[i] = pose.apply(face - centre) + centre
    return truth


def _lag(estimate: np.ndarray, truth: np.ndarray, max_shift: int = 4) -> float:
    """Sub-frame shift k minimising |estimate(t) - truth(t - k)| (positive = estimate late)."""
    shifts = np.arange(-max_shift, max_shift + 1)
    err = [np.abs(estimate[max_shift:-max_shift] - truth[max_shift - k: len(truth) - max_shift - k]).mean()
           for k in shifts]
    i = int(np.argmin(err))
    if 0 < i < len(err) - 1:  # parabola through the minimum and its neighbours
        a, b, c = err[i - 1], err[i], err[i + 1]
        return float(shifts[i] + 0.5 * (a - c) / (a - 2 * b + c))
    return float(shifts[i])


def test_synthetic_track_closer_to_truth_without_lag(real_mesh):
    truth = _synthetic_track(real_mesh)
    rng = np.random.default_rng(0)
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    valid = np.ones(len(truth), bool)
    smoothed = smooth_mesh_track(noisy, valid, SmoothingConfig())
    raw_err = np.linalg.norm(noisy - truth, axis=2).mean()
    smooth_err = np.linalg.norm(smoothed - truth, axis=2).mean()
    assert smooth_err < 0.8 * raw_err
    # Neither the head (stable points) nor the mouth trails its true motion by a frame.
    for index in (lm.STABLE, lm.MOUTH):
        assert abs(_lag(smoothed[:, index, :2], truth[:, index, :2])) < 1.0


def test_pose_smoothing_keeps_gaps_and_constant_poses():
    rot = Rotation.from_euler("y", 20, degrees=True).as_matrix()
    pose = Similarity(1.3, rot, np.array([5.0, -2.0, 1.0]))
    poses = [pose] * 6 + [None] + [pose] * 8
    out = smooth_poses(poses, window=5)
    assert out[6] is None
    for p in out[:6] + out[7:]:
        assert p.scale == pytest.approx(1.3)
        np.testing.assert_allclose(p.rotation, rot, atol=1e-9)
        np.testing.assert_allclose(p.translation, pose.translation, atol=1e-9)
