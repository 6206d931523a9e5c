"""Builtin virtual dubber on a real pair: the mouth follows the dubber, the rest stays the actor's."""

from __future__ import annotations

import numpy as np
import pytest

from vdub import landmarks as lm
from vdub.face_mesh import track_faces
from vdub.reference import score_frames, select_reference
from vdub.virtual_dubber import VirtualDubberConfig, lower_face_weights, render_virtual_dubber
from vdub.warp import polygon_mask


@pytest.fixture(scope="module")
def virtual(actor_clip, dubber_clip):
    a_frames, a_track = actor_clip
    d_frames, d_track = dubber_clip
    ref = select_reference(score_frames(a_frames, a_track.points, a_track.valid))
    neutral = select_reference(score_frames(d_frames, d_track.points, d_track.valid))
    rendered = list(render_virtual_dubber(a_frames[ref], a_track.points[ref].astype(np.float64), d_frames,
                                          d_track.points, d_track.valid, neutral, VirtualDubberConfig()))
    frames = np.stack([f for f, _ in rendered])
    return ref, frames, track_faces(iter(frames), len(frames))


def test_reference_is_frontal_with_closed_mouth(actor_clip):
    frames, track = actor_clip
    scores = score_frames(frames, track.points, track.valid)
    ref = select_reference(scores)
    assert scores["mouth_closed"][ref] > 0.8
    assert scores["frontal"][ref] > 0.95
    assert select_reference(scores, override=3) == 3


def test_mouth_follows_dubber(virtual, actor_clip, dubber_clip):
    _, _, vd_track = virtual
    _, a_track = actor_clip
    _, d_track = dubber_clip
    both = vd_track.valid & d_track.valid
    vd_open = lm.mouth_opening(vd_track.points[both])
    d_open = lm.mouth_opening(d_track.points[both])
    a_open = lm.mouth_opening(a_track.points[both])
    corr = np.corrcoef(vd_open, d_open)[0, 1]
    assert corr > 0.8, f"virtual dubber's mouth opening correlates {corr:.2f} with the dubber's"
    # Closer to the dubber's mouth motion than the unedited actor is.
    assert np.abs(vd_open - d_open).mean() < 0.5 * np.abs(a_open - d_open).mean()


def test_upper_face_and_background_stay_the_reference(virtual, actor_clip):
    ref, frames, _ = virtual
    a_frames, a_track = actor_clip
    reference = a_frames[ref].astype(np.int16)
    weights = lower_face_weights(a_track.points[ref])
    upper = a_track.points[ref][weights == 0, :2]
    # Pixels of the upper face (eyes, brows, forehead, nose) and the background barely change.
    eyes = np.maximum(polygon_mask(reference.shape[:2], a_track.points[ref][lm.RIGHT_EYE, :2]),
                      polygon_mask(reference.shape[:2], a_track.points[ref][lm.LEFT_EYE, :2])) > 0.5
    for f in frames[::5]:
        diff = np.abs(f.astype(np.int16) - reference).mean(axis=2)
        assert diff[eyes].mean() < 1.0
        assert diff[:60, :].mean() < 0.5  # top strip: background and hair
    assert len(upper) > 100


def test_open_mouth_is_filled_with_mouth_content(virtual, dubber_clip):
    _, frames, vd_track = virtual
    _, d_track = dubber_clip
    opening = lm.mouth_opening(vd_track.points)
    t = int(np.nanargmax(np.where(vd_track.valid, opening, np.nan)))
    assert opening[t] > 0.15
    inner = polygon_mask(frames[t].shape[:2], vd_track.points[t, lm.INNER_LIPS, :2]) > 0.5
    lips_ring = (polygon_mask(frames[t].shape[:2], vd_track.points[t, lm.OUTER_LIPS, :2]) > 0.5) & ~inner
    # Inside the opened lips: darker than the lips around it (oral cavity) or bright (teeth),
    # i.e. not the stretched lip texture of the closed reference mouth.
    lum = frames[t].astype(float).mean(axis=2)
    interior, lips = lum[inner], lum[lips_ring]
    assert inner.sum() > 50
    assert np.abs(interior.mean() - lips.mean()) > 10 or interior.std() > 1.5 * lips.std()
