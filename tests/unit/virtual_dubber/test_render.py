"""Rendering the aligned virtual-dubber face onto a real actor frame: coverage of the face
and the inner mouth, nothing changed outside the feathered mask, turned-away triangles."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from vdub.face import landmarks as lm
from vdub.face.geometry import Similarity
from vdub.face.warp import piecewise_affine, polygon_mask, triangulate, visible_triangles
from vdub.virtual_dubber.alignment import render_aligned
from vdub.virtual_dubber.config import AlignConfig


def _about_centre(points: np.ndarray, rotation: np.ndarray, scale: float = 1.0, shift=(0.0, 0.0)) -> Similarity:
    centre = points[lm.STABLE].mean(axis=0)
    translation = centre - scale * rotation @ centre + np.array([*shift, 0.0])
    return Similarity(scale, rotation, translation)


def test_render_covers_face_hull_and_inner_mouth_and_nothing_else(actor_clip):
    frames, track = actor_clip
    # The virtual dubber: a frame where the mouth is open, drawn onto another actor frame.
    opening = lm.mouth_opening(np.nan_to_num(track.points))
    src_t = int(np.argmax(opening))
    dst_t = (src_t + 20) % len(frames)
    vd_frame, vd_points = frames[src_t], track.points[src_t].astype(np.float64)
    actor_frame, actor_points = frames[dst_t], track.points[dst_t].astype(np.float64)
    transform = _about_centre(vd_points, Rotation.from_euler("z", 4, degrees=True).as_matrix(), 1.03, (6.0, -4.0))
    triangles = triangulate(vd_points[:, :2])
    aligned, composite, points, comp_alpha = render_aligned(actor_frame, actor_points, vd_frame, vd_points,
                                                             transform, AlignConfig(), triangles)
    shape = actor_frame.shape[:2]
    changed = np.any(aligned != actor_frame, axis=2)
    # The rendered face covers the mesh hull (inside the feather band) and the inner mouth.
    hull = polygon_mask(shape, points[lm.FACE_OVAL, :2]) > 0.5
    band = int(np.ceil(4 * AlignConfig().feather_fraction * lm.inter_ocular(actor_points))) + 2
    core = cv2.erode(hull.astype(np.uint8), np.ones((2 * band + 1, 2 * band + 1), np.uint8)).astype(bool)
    inner_mouth = polygon_mask(shape, points[lm.INNER_LIPS, :2]) > 0.5
    assert inner_mouth.sum() > 50, "the source frame has an open mouth"
    warped = _warped(vd_frame, vd_points, points, triangles)[inner_mouth].astype(int)
    assert np.abs(aligned[inner_mouth].astype(int) - warped).max() <= 1, "the inner mouth is drawn, unblended"
    assert changed[core].mean() > 0.9, "the face interior is rendered"
    # Nothing outside the face's feathered mask moves: the rendering never bleeds past the hull.
    outside = ~(polygon_mask(shape, points[lm.FACE_OVAL, :2]) > 0)
    outside = cv2.erode(outside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    np.testing.assert_array_equal(aligned[outside], actor_frame[outside])
    # The composite changes only where its own alpha is non-zero (the lower face).
    np.testing.assert_array_equal(composite[comp_alpha == 0], actor_frame[comp_alpha == 0])
    assert comp_alpha[inner_mouth].min() > 0.99


def _warped(vd_frame, vd_points, points, triangles):
    """What the renderer draws inside the face, without the blend."""
    drawn = visible_triangles(vd_points, points, triangles, depth=points[:, 2])
    return piecewise_affine(vd_frame, vd_points[:, :2], points[:, :2], drawn, vd_frame.shape[:2],
                            background=vd_frame)[0]


def test_turned_away_triangles_are_not_drawn(real_mesh):
    triangles = triangulate(real_mesh[:, :2])
    assert len(visible_triangles(real_mesh, real_mesh, triangles)) == len(triangles)
    for yaw, expect in ((40, "some"), (180, "none")):
        turned = _about_centre(real_mesh, Rotation.from_euler("y", yaw, degrees=True).as_matrix()).apply(real_mesh)
        drawn = visible_triangles(real_mesh, turned, triangles, depth=turned[:, 2])
        if expect == "none":
            assert len(drawn) == 0
        else:
            assert 0 < len(drawn) < len(triangles)
            depth = turned[drawn, 2].mean(axis=1)
            assert np.all(np.diff(depth) <= 1e-9), "drawn far (large z) to near"


def test_composite_covers_an_actor_mouth_that_opens_higher_than_the_dub(actor_clip):
    """The actor's own upper lip and teeth never show through the blend above a dub with a lower lip line.

    The virtual dubber (a closed-mouth frame) is drawn onto the frame where the actor's mouth is
    widest open: wherever the actor's mouth is (inner and outer contour), the composite is the
    virtual dubber's face, fully.
    """
    frames, track = actor_clip
    opening = lm.mouth_opening(np.nan_to_num(track.points))
    wide, closed = int(np.argmax(opening)), int(np.argmin(np.where(track.valid, opening, np.inf)))
    actor_frame, actor_points = frames[wide], track.points[wide].astype(np.float64)
    vd_frame, vd_points = frames[closed], track.points[closed].astype(np.float64)
    transform = Similarity(1.0, np.eye(3), (actor_points[lm.STABLE] - vd_points[lm.STABLE]).mean(axis=0))
    triangles = triangulate(vd_points[:, :2])
    _, composite, points, alpha = render_aligned(actor_frame, actor_points, vd_frame, vd_points, transform,
                                                 AlignConfig(), triangles)
    actor_mouth = polygon_mask(actor_frame.shape[:2], actor_points[lm.OUTER_LIPS, :2]) > 0.5
    above_dub = actor_mouth & (np.arange(actor_frame.shape[0])[:, None] < points[0, 1])
    assert above_dub.sum() > 20, "the actor's upper lip lies above the dub's"
    assert alpha[actor_mouth].min() > 0.99, alpha[actor_mouth].min()
