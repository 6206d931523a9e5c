"""What stands between the camera and the actor's face.

Two detectors, each a per-frame hard mask at the frame's resolution:

* :class:`HandOccluders`: MediaPipe Hands (the palm detector and the 21-point hand landmarker
  ship inside the pinned ``mediapipe`` wheel). A hand is drawn from its landmarks: the palm
  polygon, each finger as a thick line through its joints (round caps cover the finger tips)
  and the wrist continued into the forearm, all as wide as the hand measures. Landmarks alone
  fit a hand better than a colour key: skin in front of skin has no colour edge to find.
* :class:`ObjectOccluders`: anything else in front of the lower face. The shot's own frames
  are a model of the actor's lower face: warped onto one canonical mesh, each pixel's Lab
  colour over the shot has a median and a robust spread (the mouth's inside varies a lot, a
  cheek little). A pixel far outside its own spread in a frame is something the actor's face
  cannot explain there. Off by default (config ``visibility.objects``): measured, it misses a
  real hand (skin in front of skin) and flags clean frames (docs/quality.md). It needs the
  object to cover a pixel in fewer than half of the shot's frames (else it is the median).

:func:`soft_occluder` turns a hard mask into the soft one the paste uses: 1 on the occluder
and a margin around it, falling to 0 over a feather outside that, so the occluder's own
pixels stay exactly the actor's.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from vdub.face import landmarks as lm
from vdub.face.warp import piecewise_affine, triangulate

# Hand landmark indices (MediaPipe Hands): wrist, then four joints per finger, thumb first.
_WRIST = 0
_FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
_PALM = (0, 1, 5, 9, 13, 17)


def draw_hand(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Hard mask of one hand from its landmarks. points: 21 x 2 pixels. Returns H x W bool.

    Widths come from the hand itself: a finger is as wide as the knuckle spacing (index to
    middle), the forearm as the palm (index to little-finger knuckle), reaching 1.5 palm
    lengths beyond the wrist.
    """
    h, w = shape
    p = np.asarray(points, np.float64)
    out = np.zeros((h, w), np.uint8)
    finger = max(float(np.linalg.norm(p[5] - p[9])), 2.0)
    palm_width = max(float(np.linalg.norm(p[5] - p[17])), 2.0)
    cv2.fillPoly(out, [np.round(p[list(_PALM)]).astype(np.int32)], 1)
    for chain in _FINGERS:
        joints = np.round(p[[_WRIST if chain[0] == 1 else chain[0], *chain]]).astype(np.int32)
        cv2.polylines(out, [joints], False, 1, thickness=int(round(finger)), lineType=cv2.LINE_8)
    palm_length = p[_WRIST] - p[9]
    elbow = p[_WRIST] + 1.5 * palm_length
    cv2.line(out, tuple(np.round(p[_WRIST]).astype(int)), tuple(np.round(elbow).astype(int)), 1,
             thickness=int(round(palm_width)))
    return out.astype(bool)


class HandOccluders:
    """MediaPipe Hands over a shot's frames, in order (tracking between frames)."""

    def __init__(self, max_hands: int = 4, min_confidence: float = 0.5) -> None:
        import mediapipe as mp  # heavy import: only where hands are looked for

        self._hands = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=max_hands, model_complexity=1,
                                               min_detection_confidence=min_confidence,
                                               min_tracking_confidence=min_confidence)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The hands in one RGB frame (H x W x 3 uint8): H x W bool."""
        h, w = frame.shape[:2]
        result = self._hands.process(np.ascontiguousarray(frame))
        mask = np.zeros((h, w), bool)
        for hand in result.multi_hand_landmarks or []:
            points = np.array([(q.x * w, q.y * h) for q in hand.landmark])
            mask |= draw_hand((h, w), points)
        return mask

    def close(self) -> None:
        self._hands.close()


class ObjectOccluders:
    """Pixels of the lower face the shot's own face cannot explain (see the module docstring).

    frames: T x H x W x 3 uint8; points: T x 478 x 2+ actor mesh (pixels); valid: T; size: side
    of the canonical face the statistics are kept in (px); threshold: robust deviations (Lab
    distance over the pixel's median absolute deviation, floored) beyond which a pixel is an
    object.
    """

    def __init__(self, frames: np.ndarray, points: np.ndarray, valid: np.ndarray, size: int = 96,
                 threshold: float = 6.0, floor: float = 4.0) -> None:
        self.size, self.threshold = size, threshold
        self.valid = np.asarray(valid, bool)
        pts = np.asarray(points, np.float64)[:, :, :2]
        self.canonical = _canonical(pts[self.valid], size) if self.valid.any() else None
        self.triangles = triangulate(self.canonical) if self.canonical is not None else None
        self.region = self._lower_region() if self.canonical is not None else None
        self.median = self.spread = None
        if self.canonical is None:
            return
        # A subsample of frames is enough for the statistics; every frame is tested.
        sample = np.flatnonzero(self.valid)[:: max(1, int(self.valid.sum()) // 60)]
        stack = np.stack([self._lab(frames[t], pts[t]) for t in sample])
        self.median = np.median(stack, axis=0)
        deviation = np.linalg.norm(stack - self.median, axis=-1)
        self.spread = np.maximum(np.median(deviation, axis=0) * 1.4826, floor)
        self._points = pts

    def _lower_region(self) -> np.ndarray:
        """Canonical-space mask of the lower face: below the eyes, inside the face oval."""
        oval = np.zeros((self.size, self.size), np.uint8)
        cv2.fillPoly(oval, [np.round(self.canonical[lm.FACE_OVAL]).astype(np.int32)], 1)
        eyes_y = float(self.canonical[[*lm.RIGHT_EYE, *lm.LEFT_EYE], 1].max())
        oval[: int(np.ceil(eyes_y)) + 1] = 0
        return oval.astype(bool)

    def _lab(self, frame: np.ndarray, points: np.ndarray) -> np.ndarray:
        face, _ = piecewise_affine(np.ascontiguousarray(frame), points, self.canonical, self.triangles,
                                   (self.size, self.size))
        return cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)

    def canonical_mask(self, frame: np.ndarray, t: int) -> np.ndarray:
        """The object pixels of frame ``t`` in canonical space: size x size bool."""
        lab = self._lab(frame, self._points[t])
        # The frame's overall exposure may drift: compare after removing its median offset.
        diff = lab - self.median
        diff -= np.median(diff[self.region], axis=0)
        score = np.linalg.norm(diff, axis=-1) / self.spread
        mask = (score > self.threshold) & self.region
        # Specks are noise or a glint; an occluder is a blob.
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return mask.astype(bool)

    def __call__(self, frame: np.ndarray, t: int) -> np.ndarray:
        """The object pixels of frame ``t`` (H x W x 3 uint8) at its resolution: H x W bool."""
        h, w = frame.shape[:2]
        if self.canonical is None or not self.valid[t]:
            return np.zeros((h, w), bool)
        mask = self.canonical_mask(frame, t)
        if not mask.any():
            return np.zeros((h, w), bool)
        grey = np.repeat(mask.astype(np.uint8)[..., None] * 255, 3, axis=-1)
        back, coverage = piecewise_affine(grey, self.canonical, self._points[t], self.triangles, (h, w))
        return (back[..., 0] > 127) & coverage.astype(bool)


def _canonical(points: np.ndarray, size: int) -> np.ndarray:
    """A mean face (478 x 2) fitted into a size x size square with a small margin."""
    from vdub.face.geometry import umeyama

    reference = points[0]
    aligned = []
    for p in points[:: max(1, len(points) // 30)]:
        motion = umeyama(p[lm.STABLE], reference[lm.STABLE])
        aligned.append(p @ (motion.scale * motion.rotation).T + motion.translation)
    mean = np.mean(aligned, axis=0)
    lo, hi = mean.min(axis=0), mean.max(axis=0)
    scale = (size * 0.9) / float(np.max(hi - lo))
    return (mean - (lo + hi) / 2) * scale + size / 2


def soft_occluder(hard: np.ndarray, margin: float, feather: float) -> np.ndarray:
    """The occluder mask the paste keeps: H x W bool -> H x W uint8 (255 = the actor's pixel).

    255 on the occluder and within ``margin`` pixels of it, falling linearly to 0 over the next
    ``feather`` pixels: the dub never reaches the occluder, and meets it with a soft edge.
    """
    if not hard.any():
        return np.zeros(hard.shape, np.uint8)
    distance = cv2.distanceTransform((~hard).astype(np.uint8), cv2.DIST_L2, 5)
    keep = np.clip(1.0 - (distance - margin) / max(feather, 1.0), 0.0, 1.0)
    return np.round(keep * 255.0).astype(np.uint8)


def occluder_masks(frames: np.ndarray, points: np.ndarray, valid: np.ndarray, hands: bool, objects: bool,
                   threshold: float) -> Iterator[np.ndarray]:
    """The hard occluder mask of every frame: yields H x W bool, T of them.

    frames: T x H x W x 3 uint8; points: T x 478 x 2+ actor mesh; valid: T.
    """
    hand_finder = HandOccluders() if hands else None
    object_finder = ObjectOccluders(frames, points, valid, threshold=threshold) if objects else None
    try:
        for t in range(len(frames)):
            frame = np.asarray(frames[t])
            mask = np.zeros(frame.shape[:2], bool)
            if hand_finder is not None:
                mask |= hand_finder(frame)
            if object_finder is not None:
                mask |= object_finder(frame, t)
            yield mask
    finally:
        if hand_finder is not None:
            hand_finder.close()
