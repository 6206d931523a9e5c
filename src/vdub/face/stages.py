"""The face stages: the face mesh tracked through a frames file (rule face_geometry), and what of the actor's
face the dub may change (rule visibility)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import FrameWriter, load_frames, load_json, save_npz
from vdub.face import landmarks as lm
from vdub.face.config import FaceIdentityConfig, FaceMeshConfig, VisibilityConfig
from vdub.face.head_pose import yaw_pitch
from vdub.face.mesh import load_track, mesh_box, track_faces
from vdub.face.occluders import occluder_masks, soft_occluder
from vdub.face.visibility import REASONS, coverage, shot_visibility

log = logging.getLogger(__name__)


def face_geometry(shot: str, frames_path: Path, out_mesh: Path, cfg: FaceMeshConfig, actor_face: Path | None = None,
                  identity: FaceIdentityConfig | None = None, follow: np.ndarray | None = None) -> dict:
    """Track the face mesh through a frames file; frames without a face are marked invalid.

    actor_face: a still of the actor (the shot's ``actor_face``): among several faces the actor's is then the one
    most like it (``identity``: how alike, how often checked), else the one ``cfg.choose`` picks. follow: boxes
    the face must continue (:func:`vdub.face.mesh.track_faces`): the virtual dubber's face is where the actor's
    is in the reference frame.
    """
    actor = None
    if actor_face is not None:
        from vdub.face.actor_still import actor_identity

        actor = actor_identity(actor_face, cfg, shot)
    frames = load_frames(frames_path)
    track = track_faces(iter(frames), len(frames), cfg, actor, identity, follow=follow)
    save_npz(out_mesh, **track.to_npz())
    summary = {"frames": len(frames), "frames_with_face": int(track.valid.sum())}
    log.info("shot %s: %s: face in %d/%d frames", shot, frames_path, summary["frames_with_face"], len(frames))
    return summary


def reference_box(actor_mesh: Path, reference_json: Path) -> np.ndarray:
    """The actor's face box in the shot's reference frame: 1 x 4 (x0, y0, x1, y1), NaN for a faceless shot."""
    frame = load_json(reference_json)["actor"]["frame"]
    track = load_track(actor_mesh)
    if frame is None or not track.valid[frame]:
        return np.full((1, 4), np.nan)
    return mesh_box(track.points[frame])[None]


def visibility(shot: str, frames_path: Path, mesh_path: Path, out_occluders: Path, out_visibility: Path,
               cfg: VisibilityConfig) -> dict:
    """Find the occluders in front of the actor's face and the dub weight of every frame.

    Writes ``out_occluders`` (T x H x W uint8, :func:`vdub.face.occluders.soft_occluder`: 255 where
    the actor's own pixel must stay) and ``out_visibility`` (:class:`vdub.face.visibility.Visibility`).
    """
    frames = load_frames(frames_path)
    track = load_track(mesh_path)
    t_count, h, w = frames.shape[:3]
    if len(track.valid) != t_count:
        raise ShotError(shot, mesh_path, f"mesh has {len(track.valid)} frames, the frames file {t_count}")
    covered, face_covered = np.zeros(t_count, np.float32), np.zeros(t_count, np.float32)
    height = lm.face_height(np.nan_to_num(track.points.astype(np.float64)))
    with FrameWriter(out_occluders, t_count, h, w, channels=1) as writer:
        hard_masks = occluder_masks(frames, track.points, track.valid, cfg.hands, cfg.objects, cfg.props,
                                    cfg.object_threshold)
        for t, hard in enumerate(hard_masks):
            if not track.valid[t]:
                writer.write(np.zeros((h, w), np.uint8))
                continue
            covered[t] = coverage(track.points[t], hard)
            face_covered[t] = coverage(track.points[t], hard, lm.FACE_OVAL)
            fh = float(height[t])
            writer.write(soft_occluder(hard, cfg.occluder_margin * fh, cfg.occluder_feather * fh))
    result = shot_visibility(track.points, track.valid, covered, face_covered, yaw_pitch(track.points), cfg)
    save_npz(out_visibility, **result.to_npz())
    summary = {reason: int(result.reasons[:, k].sum()) for k, reason in enumerate(REASONS)}
    summary["faded"] = int((result.weight < 1).sum())
    log.info("shot %s: dub faded on %d of %d frames (%s)", shot, summary["faded"], t_count,
             ", ".join(f"{k} {v}" for k, v in summary.items() if k != "faded" and v))
    return summary
