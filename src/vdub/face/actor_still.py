"""A still image of the actor (a shot's ``actor_face`` in samples.yaml): the one face in it, and who it is.

The still tells the face tracker which of several people is the actor (:class:`vdub.face.mesh.FaceChooser`):
it must hold exactly one face, which is checked before any job starts (:func:`check_actor_stills`), so that a
still of the wrong kind fails in seconds, naming the shot and the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError
from vdub.core.samples import Shot
from vdub.face.config import FaceMeshConfig
from vdub.face.identity import ActorIdentity, IdentityModel, describe_face, load_identity_model


def load_still(path: str | Path, shot: str | None = None) -> np.ndarray:
    """The still as H x W x 3 uint8 RGB, upright (its EXIF orientation applied, as a viewer shows it)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ShotError(shot, path, f"actor_face is not an image that can be read ({err})") from None


def still_face(path: str | Path, cfg: FaceMeshConfig, shot: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The still (H x W x 3 uint8) and the mesh of its one face (478 x 3 pixels); ShotError when it holds no
    face or several (found as the tracker finds them: ``cfg``'s detector, one image, distinct faces)."""
    from vdub.face.mesh import track_faces  # MediaPipe: only where a still is looked at

    image = load_still(path, shot)
    track = track_faces([image], 1, dataclasses.replace(cfg, tracking=False))
    count = int(track.faces[0])
    if count != 1:
        what = "no face was found in it" if count == 0 else f"it shows {count} faces"
        raise ShotError(shot, path, f"actor_face must be a still of the actor's face alone, but {what}")
    return image, track.points[0]


def actor_identity(path: str | Path, cfg: FaceMeshConfig, shot: str | None = None,
                   model: IdentityModel | None = None) -> ActorIdentity:
    """Who the actor is, from their still: its face's descriptor with the model that computed it."""
    model = model or load_identity_model()
    image, points = still_face(path, cfg, shot)
    return ActorIdentity(model, describe_face(model, image, points))


def check_actor_stills(shots: list[Shot], cfg: FaceMeshConfig) -> None:
    """Fail on the first shot whose ``actor_face`` is not an image of exactly one face (ShotError naming the
    shot and the file). The files' existence is checked by :func:`vdub.core.samples.check_input_files`."""
    for shot in shots:
        if shot.actor_face:
            still_face(shot.actor_face, cfg, shot.id)
