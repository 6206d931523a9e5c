"""What stands between the camera and the actor's face.

Per-frame hard masks at the frame's resolution:

* :class:`HandOccluders`: MediaPipe Hands (the palm detector and the 21-point hand landmarker
  ship inside the pinned ``mediapipe`` wheel). A hand is drawn from its landmarks: the palm
  polygon, each finger as a thick line through its joints (round caps cover the finger tips)
  and the wrist continued into the forearm, all as wide as the hand measures. Landmarks alone
  fit a hand better than a colour key: skin in front of skin has no colour edge to find.
* :class:`ObjectOccluders`: anything else in front of the lower face. The shot's own clean
  frames (no hand near the face) are exemplars of the actor's lower face: warped onto one
  canonical mesh, a pixel of a frame is explained where some exemplar has a colour within
  ``threshold`` (CIELAB distance) at that place or a pixel or two from it (the warp is not
  exact). What no exemplar explains is an object: a cup's rim, a microphone's grille.
* :func:`held_objects`: of those, what touches a hand. Props are held: a cup, a phone, a
  microphone in the hand. Tied to a hand, the object test is run only where a hand is near the
  face and cannot flag a clean frame (config ``visibility.props``, on); every unexplained pixel
  anywhere is ``visibility.objects`` (off: docs/quality.md has the measurements).

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

    def find(self, frame: np.ndarray) -> list[np.ndarray]:
        """The hands in one RGB frame (H x W x 3 uint8): a 21 x 2 landmark array (pixels) per hand."""
        h, w = frame.shape[:2]
        result = self._hands.process(np.ascontiguousarray(frame))
        return [np.array([(q.x * w, q.y * h) for q in hand.landmark]) for hand in result.multi_hand_landmarks or []]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The hands in one RGB frame (H x W x 3 uint8): H x W bool."""
        return hands_mask(frame.shape[:2], self.find(frame))

    def close(self) -> None:
        self._hands.close()


def hands_mask(shape: tuple[int, int], hands: list[np.ndarray]) -> np.ndarray:
    """The union of :func:`draw_hand` over ``hands`` (21 x 2 landmark arrays): H x W bool."""
    mask = np.zeros(shape, bool)
    for points in hands:
        mask |= draw_hand(shape, points)
    return mask


class ObjectOccluders:
    """Lower-face pixels that none of the shot's clean frames explain (see the module docstring).

    frames: T x H x W x 3 uint8; points: T x 478 x 2+ actor mesh (pixels); valid: T; clean: T bool, the
    frames that may serve as exemplars (default: every valid frame; a frame is never its own exemplar);
    size: side of the canonical face (px); threshold: CIELAB distance beyond which no exemplar explains a
    pixel; reach: how far (canonical px) an exemplar's pixel may lie from the tested one; exemplars: how
    many clean frames, spread over the shot, are kept.
    """

    def __init__(self, frames: np.ndarray, points: np.ndarray, valid: np.ndarray, clean: np.ndarray | None = None,
                 size: int = 128, threshold: float = 20.0, reach: int = 2, exemplars: int = 24) -> None:
        self.size, self.threshold, self.reach = size, threshold, reach
        self.valid = np.asarray(valid, bool)
        pool = self.valid & (np.ones_like(self.valid) if clean is None else np.asarray(clean, bool))
        self._points = np.full((len(self.valid), len(points[0]) + 2 * len(lm.FACE_OVAL), 2), np.nan)
        for t in np.flatnonzero(self.valid):
            self._points[t] = surround(np.asarray(points[t], np.float64)[:, :2])
        self.canonical = self.triangles = self.region = self.library = None
        self.sources = np.zeros(0, np.int64)
        if pool.sum() < 2:  # nothing to compare a frame with
            return
        self.canonical = _canonical(self._points[pool], size)
        self.triangles = triangulate(self.canonical)
        self.region = self._lower_region()
        self.sources = np.flatnonzero(pool)[np.linspace(0, pool.sum() - 1, min(exemplars, int(pool.sum()))).astype(int)]
        # Exemplars padded by ``reach`` (edge-replicated) so that every shift stays in bounds.
        library = np.stack([self._lab(frames[t], self._points[t]) for t in self.sources])
        self.library = np.pad(library, ((0, 0), (reach, reach), (reach, reach), (0, 0)), mode="edge")

    def _lower_region(self) -> np.ndarray:
        """Canonical-space mask of the lower head: below the eyes, inside the outer ring of :func:`surround`."""
        outer = self.canonical[-len(lm.FACE_OVAL):]
        region = np.zeros((self.size, self.size), np.uint8)
        cv2.fillPoly(region, [np.round(outer).astype(np.int32)], 1)
        eyes_y = float(self.canonical[[*lm.RIGHT_EYE, *lm.LEFT_EYE], 1].max())
        region[: int(np.ceil(eyes_y)) + 1] = 0
        return region.astype(bool)

    def _lab(self, frame: np.ndarray, points: np.ndarray) -> np.ndarray:
        face, _ = piecewise_affine(np.ascontiguousarray(frame), points, self.canonical, self.triangles,
                                   (self.size, self.size))
        return cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)

    def distance(self, frame: np.ndarray, t: int) -> np.ndarray:
        """Each canonical pixel's CIELAB distance to the nearest exemplar colour near it: size x size float32."""
        lab = self._lab(frame, self._points[t])
        library = self.library[self.sources != t]
        s, r = self.size, self.reach
        best = np.full((s, s), np.inf, np.float32)
        for dy in range(2 * r + 1):
            for dx in range(2 * r + 1):
                shifted = library[:, dy:dy + s, dx:dx + s]
                best = np.minimum(best, np.sqrt(((shifted - lab) ** 2).sum(-1)).min(0))
        return best

    def canonical_mask(self, frame: np.ndarray, t: int) -> np.ndarray:
        """The object pixels of frame ``t`` in canonical space: size x size bool."""
        mask = (self.distance(frame, t) > self.threshold) & self.region
        # Specks are noise or a glint; an occluder is a blob.
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        return mask.astype(bool)

    def __call__(self, frame: np.ndarray, t: int) -> np.ndarray:
        """The object pixels of frame ``t`` (H x W x 3 uint8) at its resolution: H x W bool."""
        h, w = frame.shape[:2]
        if self.library is None or not self.valid[t]:
            return np.zeros((h, w), bool)
        mask = self.canonical_mask(frame, t)
        if not mask.any():
            return np.zeros((h, w), bool)
        grey = np.repeat(mask.astype(np.uint8)[..., None] * 255, 3, axis=-1)
        back, coverage = piecewise_affine(grey, self.canonical, self._points[t], self.triangles, (h, w))
        return (back[..., 0] > 127) & coverage.astype(bool)


def surround(points: np.ndarray) -> np.ndarray:
    """The face mesh and two rings of points around it, out to about where the head mask reaches (half a face
    width beyond the cheeks, the neck below the chin), so that the object test sees what the paste covers.

    points: N x 2 mesh (pixels). Returns (N + 2 x len(FACE_OVAL)) x 2: the points, then the rings, inner first.
    The rings are the face oval scaled about its centre, in the face's own axes (the eye line and its normal).
    """
    oval = points[lm.FACE_OVAL]
    centre = oval.mean(0)
    right, left = lm.eye_centres(points)
    across = (left - right) / max(float(np.linalg.norm(left - right)), 1e-6)
    down = np.array([-across[1], across[0]])
    a, d = (oval - centre) @ across, (oval - centre) @ down
    rings = [centre + np.outer(a * side, across) + np.outer(d * np.where(d > 0, below, above), down)
             for side, below, above in ((1.3, 1.6, 1.1), (1.6, 2.2, 1.2))]
    return np.concatenate([points, *rings])


def held_objects(objects: np.ndarray, hands: np.ndarray, reach: float) -> np.ndarray:
    """The parts of ``objects`` (H x W bool) that touch ``hands`` (H x W bool) or come within ``reach``
    pixels of them: H x W bool. A held cup is one blob with the hand's fingers round it."""
    if not objects.any() or not hands.any():
        return np.zeros(objects.shape, bool)
    size = 2 * int(round(reach)) + 1
    near = cv2.dilate(hands.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0
    _, labels = cv2.connectedComponents(objects.astype(np.uint8), connectivity=8)
    touching = np.unique(labels[near & objects])
    return np.isin(labels, touching[touching > 0])


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
                   props: bool, threshold: float, reach: float = 0.1) -> Iterator[np.ndarray]:
    """The hard occluder mask of every frame: yields H x W bool, T of them.

    frames: T x H x W x 3 uint8; points: T x 478 x 2+ actor mesh; valid: T. hands: MediaPipe hands are
    occluders; objects: so is every pixel no clean frame explains (:class:`ObjectOccluders`, ``threshold``);
    props: so are those within ``reach`` face heights of a hand near the head (:func:`held_objects`; a hand
    is near where a landmark of it comes within half a face height of :func:`surround`'s outer ring; the
    clean frames, the exemplars, have none).
    """
    t_count = len(frames)
    found: list[list[np.ndarray]] = [[] for _ in range(t_count)]
    if hands or props:
        finder = HandOccluders()
        try:
            found = [finder.find(np.asarray(frames[t])) for t in range(t_count)]
        finally:
            finder.close()
    near = np.array([valid[t] and any(_near_head(h, points[t]) for h in found[t]) for t in range(t_count)], bool)
    object_finder = None
    if objects or (props and near.any()):
        object_finder = ObjectOccluders(frames, points, valid, clean=~near, threshold=threshold)
    for t in range(t_count):
        frame = np.asarray(frames[t])
        hand = hands_mask(frame.shape[:2], found[t])
        mask = hand.copy() if hands else np.zeros(frame.shape[:2], bool)
        if object_finder is not None and (objects or near[t]):
            things = object_finder(frame, t)
            if objects:
                mask |= things
            elif near[t]:
                mask |= held_objects(things, hand, reach * float(lm.face_height(np.asarray(points[t], np.float64))))
        yield mask


def _near_head(hand: np.ndarray, points: np.ndarray, reach: float = 0.5) -> bool:
    """Whether any of a hand's 21 x 2 landmarks comes within ``reach`` face heights of the outer ring of
    :func:`surround` (478 x 2+ mesh): what the hand holds reaches past its finger tips."""
    face = np.asarray(points, np.float64)[:, :2]
    ring = surround(face)[-len(lm.FACE_OVAL):].astype(np.float32)
    limit = -reach * float(lm.face_height(face))
    return any(cv2.pointPolygonTest(ring, (float(x), float(y)), True) >= limit for x, y in hand)
