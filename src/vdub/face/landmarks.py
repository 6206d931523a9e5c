"""Index sets of MediaPipe Face Mesh (478 points with ``refine_landmarks``) and small
measurements on them.

The topology of the canonical mesh is fixed, so the sets are constants; each polygon is an
ordered loop. "Left"/"right" are the subject's, as in MediaPipe (the subject's right eye
is on the image's left for a frontal face).
"""

from __future__ import annotations

import numpy as np

N_POINTS = 478

FACE_OVAL = [10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148,
             152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338]
RIGHT_EYE = [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7]
LEFT_EYE = [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249]
RIGHT_BROW = [46, 53, 52, 65, 55, 107, 66, 105, 63, 70]
LEFT_BROW = [276, 283, 282, 295, 285, 336, 296, 334, 293, 300]
# Outer lip contour, from the right mouth corner over the upper lip and back under the lower.
OUTER_LIPS = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
# Inner lip contour: the opening of the mouth (what PRNet's inner-mouth region stood for).
INNER_LIPS = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
MOUTH = OUTER_LIPS + INNER_LIPS

# Points that move with the skull, not with expression: forehead, nose bridge and tip, eye
# corners. Rigid alignment is estimated on these only: the jaw and lips move with speech,
# and the brows lift with expression.
STABLE = [10, 151, 9, 8, 109, 338, 67, 297, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263]

RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10
UPPER_INNER_LIP = 13
LOWER_INNER_LIP = 14
MOUTH_CORNERS = (61, 291)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the right and left eye from the eye corners.

    points: ... x 478 x D. Returns two arrays of shape ... x D.
    """
    right = points[..., list(RIGHT_EYE_CORNERS), :].mean(axis=-2)
    left = points[..., list(LEFT_EYE_CORNERS), :].mean(axis=-2)
    return right, left


def inter_ocular(points: np.ndarray) -> np.ndarray:
    """Distance between the eye centres in the points' own units (2D, x and y only).

    points: ... x 478 x D. Returns shape ``...``.
    """
    right, left = eye_centres(points[..., :2])
    return np.linalg.norm(left - right, axis=-1)


def face_height(points: np.ndarray) -> np.ndarray:
    """Forehead-to-chin distance in the points' own units (2D, x and y only).

    points: ... x 478 x D. Returns shape ``...``.
    """
    return np.linalg.norm(points[..., FOREHEAD, :2] - points[..., CHIN, :2], axis=-1)


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap divided by mouth width: 0 for a closed mouth, ~0.3-0.6 wide open.

    points: ... x 478 x D. Returns shape ``...``.
    """
    gap = np.linalg.norm(points[..., UPPER_INNER_LIP, :2] - points[..., LOWER_INNER_LIP, :2], axis=-1)
    width = np.linalg.norm(points[..., MOUTH_CORNERS[0], :2] - points[..., MOUTH_CORNERS[1], :2], axis=-1)
    return gap / np.maximum(width, 1e-6)


def eye_opening(points: np.ndarray) -> np.ndarray:
    """Mean eyelid gap of both eyes divided by eye width (about 0.25-0.35 open, <0.1 closed).

    points: ... x 478 x D. Returns shape ``...``.
    """
    def one(top: int, bottom: int, a: int, b: int) -> np.ndarray:
        gap = np.linalg.norm(points[..., top, :2] - points[..., bottom, :2], axis=-1)
        width = np.linalg.norm(points[..., a, :2] - points[..., b, :2], axis=-1)
        return gap / np.maximum(width, 1e-6)

    return 0.5 * (one(159, 145, 33, 133) + one(386, 374, 362, 263))
