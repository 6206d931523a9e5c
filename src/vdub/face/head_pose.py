"""Head turn and nod read off the face mesh: how far the face is from facing the camera.

MediaPipe's mesh carries a depth (z, scaled like x), so the face's own plane can be measured
per frame: spanned by the line through the outer eye corners and the line from the forehead to
the chin. Its normal leans sideways as the head turns (yaw) and up or down as it nods (pitch).
"""

from __future__ import annotations

import numpy as np

from vdub.face import landmarks as lm

_OUTER_EYE_CORNERS = (33, 263)  # right eye's outer corner, left eye's outer corner


def yaw_pitch(points: np.ndarray) -> np.ndarray:
    """Yaw and pitch of each mesh, degrees: 0, 0 facing the camera.

    points: T x 478 x 3 pixels with MediaPipe's depth (NaN where no face). Returns T x 2
    float64 (yaw: positive when the face turns towards the image's right; pitch: positive when
    the chin comes up), NaN where the mesh is missing.
    """
    p = np.asarray(points, np.float64)
    across = p[:, _OUTER_EYE_CORNERS[1]] - p[:, _OUTER_EYE_CORNERS[0]]
    down = p[:, lm.CHIN] - p[:, lm.FOREHEAD]
    normal = np.cross(down, across)  # out of the face, towards the camera (-z) when frontal
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    yaw = np.degrees(np.arcsin(np.clip(normal[:, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arcsin(np.clip(-normal[:, 1], -1.0, 1.0)))
    return np.stack([yaw, pitch], axis=1)
