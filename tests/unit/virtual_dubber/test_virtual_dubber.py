"""Builtin virtual dubber on a real pair: the mouth follows the dubber, the rest stays the actor's."""

from __future__ import annotations

import numpy as np
import pytest
from support import REAL_CLIPS

from vdub.face import landmarks as lm
from vdub.face.config import SmoothingConfig
from vdub.face.mesh import track_faces
from vdub.face.smoothing import smooth_mesh_track
from vdub.face.warp import polygon_mask
from vdub.metrics.image import psnr
from vdub.metrics.landmarks import expression_lmd
from vdub.virtual_dubber.builtin import lower_face_weights, render_virtual_dubber, transfer_expression
from vdub.virtual_dubber.config import VirtualDubberConfig
from vdub.virtual_dubber.reference_frame import score_frames, select_reference

ACTORS = [c for c in REAL_CLIPS if c.startswith("actor_")]
DUBBERS = [c for c in REAL_CLIPS if c.startswith("dubber_")]


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


@pytest.mark.parametrize("dubber", DUBBERS)
@pytest.mark.parametrize("actor", ACTORS)
def test_mouth_motion_and_identity_on_real_pairs(real_clips, actor, dubber):
    """Mouth motion (each person's neutral removed) follows the dubber; the rest stays the actor."""
    n = 60
    a_frames, a_track = real_clips[actor]
    d_frames, d_track = real_clips[dubber]
    a_frames, d_frames = a_frames[:n], d_frames[:n]
    a_points = smooth_mesh_track(a_track.points[:n], a_track.valid[:n], SmoothingConfig())
    d_points = smooth_mesh_track(d_track.points[:n], d_track.valid[:n], SmoothingConfig())
    ref = select_reference(score_frames(a_frames, a_points, a_track.valid[:n]))
    neutral = select_reference(score_frames(d_frames, d_points, d_track.valid[:n]))
    reference = a_frames[ref]
    frames = np.stack([f for f, _ in render_virtual_dubber(reference, a_points[ref].astype(np.float64), d_frames,
                                                           d_points, d_track.valid[:n], neutral,
                                                           VirtualDubberConfig())])
    vd = track_faces(iter(frames), n)
    # At the dubber's neutral frame the virtual dubber is the reference: that is its neutral.
    vd_vs_dubber = expression_lmd(vd.points, vd.valid, neutral, d_track.points[:n], d_track.valid[:n], neutral)
    actor_vs_dubber = expression_lmd(a_track.points[:n], a_track.valid[:n], ref, d_track.points[:n],
                                     d_track.valid[:n], neutral)
    assert vd_vs_dubber <= 0.5 * actor_vs_dubber, (vd_vs_dubber, actor_vs_dubber)
    # Identity: away from the mouth and jaw (lower-face weight 0, and the ring that keeps
    # the background still) every frame is the reference to within a few grey levels.
    still = np.ones(reference.shape[:2], bool)
    lower = a_points[ref][lower_face_weights(a_points[ref]) > 0, :2]
    centre = lower.mean(axis=0)
    still &= polygon_mask(reference.shape[:2], centre + 1.6 * (lower[_hull(lower)] - centre)) < 0.5
    assert min(psnr(f, reference, still) for f in frames) > 40


def _hull(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull

    return ConvexHull(points).vertices


def test_offsets_are_scaled_to_the_actors_mouth(real_mesh):
    """A dubber with a mouth twice as wide moves the actor's mouth half as far (per unit of offset)."""
    actor = real_mesh
    dubber = real_mesh.copy()
    centre = dubber[lm.MOUTH_CORNERS, :2].mean(axis=0)
    lower = lower_face_weights(dubber) > 0.5
    dubber[lower, 0] = centre[0] + 2.0 * (dubber[lower, 0] - centre[0])  # a wider lower face and mouth
    offsets = np.zeros((1,) + real_mesh.shape)
    offsets[0, lm.LOWER_INNER_LIP, 1] = 10.0  # jaw drops 10 px in the dubber's frame
    plain = transfer_expression(offsets, dubber, actor, scale_to_mouth=False)
    scaled = transfer_expression(offsets, dubber, actor, scale_to_mouth=True)
    moved = lambda target: target[0, lm.LOWER_INNER_LIP, 1] - actor[lm.LOWER_INNER_LIP, 1]  # noqa: E731
    assert moved(scaled) == pytest.approx(0.5 * moved(plain), rel=0.05)


def test_contact_sheet_shows_the_widest_mouth_and_face_crops(tmp_path, real_mesh):
    from skimage import data

    from vdub.reporting.contact_sheet import contact_sheet, face_box, pick_frames

    opening = np.array([0.0, 0.1, np.nan, 0.9, 0.2, 0.1, 0.0, 0.3])
    picks = pick_frames(opening, 4)
    assert 3 in picks and len(picks) <= 4 and np.all(np.diff(picks) > 0)
    image = data.astronaut()
    box = face_box(real_mesh, image.shape[:2])
    assert box[2] - box[0] < image.shape[1] / 2, "the tile is cut around the face"
    frames = np.stack([image] * 8)
    points = np.stack([real_mesh] * 8)
    points[2] = np.nan  # no face: the whole frame is shown
    contact_sheet(frames, frames, image, picks, tmp_path / "sheet.png", dubber_points=points,
                  reference_points=real_mesh, tile_height=100)
    import cv2

    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape[0] == len(picks) * 102 and sheet.shape[1] >= 300
