"""The face-geometry stage: the face mesh tracked through a frames file (rule face_geometry)."""

from __future__ import annotations

import logging
from pathlib import Path

from vdub.core.io import load_frames, save_npz
from vdub.face.config import FaceIdentityConfig, FaceMeshConfig
from vdub.face.mesh import track_faces

log = logging.getLogger(__name__)


def face_geometry(shot: str, frames_path: Path, out_mesh: Path, cfg: FaceMeshConfig, actor_face: Path | None = None,
                  identity: FaceIdentityConfig | None = None) -> dict:
    """Track the face mesh through a frames file; frames without a face are marked invalid.

    actor_face: a still of the actor (the shot's ``actor_face``): among several faces the actor's is then the one
    most like it (``identity``: how alike, how often checked), else the one ``cfg.choose`` picks.
    """
    actor = None
    if actor_face is not None:
        from vdub.face.actor_still import actor_identity

        actor = actor_identity(actor_face, cfg, shot)
    frames = load_frames(frames_path)
    track = track_faces(iter(frames), len(frames), cfg, actor, identity)
    save_npz(out_mesh, **track.to_npz())
    summary = {"frames": len(frames), "frames_with_face": int(track.valid.sum())}
    log.info("shot %s: %s: face in %d/%d frames", shot, frames_path, summary["frames_with_face"], len(frames))
    return summary
