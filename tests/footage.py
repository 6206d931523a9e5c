"""Occlusion test footage (issue 25, hands and props in front of the mouth): a real hand, keyed from a
shared clip, raised over the mouth of a shared actor clip and lowered again, with the ground-truth
occluder mask.

Nothing here is drawn: the occluder's pixels are a real hand's (actor_woman_hands.mp4), cut out frame
by frame with a soft matte (:func:`key_hand`), scaled to the actor's face and laid over the actor's
frames along a fixed trajectory (:func:`composite_occlusion`). :func:`make_occlusion_clip` does both
and writes the clip, the masks and a JSON of the occluded range. Deterministic (fixed frames, fixed
trajectory) and quick on 2 CPU cores: keying and tracking run on a few dozen frames only.

On sys.path like ``support`` (pyproject's pytest ``pythonpath``): ``from footage import ...``.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
HANDS_CLIP = MEDIA / "actor_woman_hands.mp4"
ACTOR_CLIP = MEDIA / "actor_woman_bluewall.mp4"

#: MediaPipe Hands landmark indices (wrist, then four per finger from the base to the tip).
WRIST = 0
PALM = (0, 1, 5, 9, 13, 17)
FINGERS = ((0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (0, 17, 18, 19, 20),
           (5, 9, 13, 17))


@dataclass
class HandSprites:
    """A real hand with its forearm, cut out of a clip frame by frame.

    rgba: T sprites, each h_t x w_t x 4 uint8: the source frame's own pixels (RGB, untouched) and the
        soft matte (A, 255 = hand), cropped to the matte.
    origin: T x 2 int, (x, y) of each sprite's top-left corner in its source frame.
    landmarks: T x 21 x 2 float32, the hand's MediaPipe landmarks in sprite pixels.
    axis: T x 2 float32, unit vector (x, y) along the forearm, away from the wrist.
    source_frames: the source clip's frame numbers, T of them.
    """

    rgba: list[np.ndarray]
    origin: np.ndarray
    landmarks: np.ndarray
    axis: np.ndarray
    source_frames: list[int]

    def size(self) -> float:
        """The hand's size (:func:`hand_size`), median over the frames: source pixels."""
        return float(np.median([hand_size(p) for p in self.landmarks]))

def _decode(path: Path, first: int, n_frames: int) -> tuple[np.ndarray, str]:
    """Frames ``first`` .. ``first + n_frames`` of a clip through the project's decoder: (T x H x W x 3 uint8
    RGB in display geometry, the clip's exact frame rate as a rational string)."""
    from vdub.media.video import probe_video, read_frames

    info = probe_video(path)
    frames = np.stack(list(read_frames(info, max_frames=n_frames, start=first)))
    if len(frames) != n_frames:
        raise ValueError(f"{path} has {len(frames)} frames from {first}, {n_frames} wanted")
    return frames, info.fps_str


def find_hands(frames: np.ndarray, side: str = "right") -> tuple[np.ndarray, list[np.ndarray | None]]:
    """One hand's landmarks per frame with MediaPipe Hands (its models ship in the mediapipe wheel).

    frames: T x H x W x 3 uint8 RGB. side: ``right`` or ``left``: the hand nearer that edge of the picture
    (by its mean x, not by MediaPipe's handedness label, which depends on whether it assumes a mirror).
    Returns (T x 21 x 2 float32 pixels (x, y) of that hand, the other hand's 21 x 2 per frame or None
    where there is none). Raises ValueError on a frame without a hand.
    """
    import mediapipe as mp  # heavy import: only where hands are found

    chosen = np.zeros((len(frames), 21, 2), np.float32)
    others: list[np.ndarray | None] = []
    h, w = frames.shape[1:3]
    with mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=2, model_complexity=1,
                                  min_detection_confidence=0.5, min_tracking_confidence=0.5) as hands:
        for t, frame in enumerate(frames):
            result = hands.process(np.ascontiguousarray(frame))
            found = [np.array([(p.x * w, p.y * h) for p in lm.landmark], np.float32)
                     for lm in result.multi_hand_landmarks or []]
            if not found:
                raise ValueError(f"no hand found in frame {t}")
            found.sort(key=lambda p: float(p[:, 0].mean()))
            chosen[t] = found[-1] if side == "right" else found[0]
            others.append(None if len(found) < 2 else (found[0] if side == "right" else found[-1]))
    return chosen, others


def _draw_hand(shape: tuple[int, int], points: np.ndarray, thickness: int) -> np.ndarray:
    """H x W uint8 (255 inside): the hand's bones as lines of ``thickness`` pixels and its palm filled."""
    out = np.zeros(shape, np.uint8)
    pts = np.round(points).astype(np.int32)
    cv2.fillPoly(out, [pts[list(PALM)]], 255)
    for chain in FINGERS:
        cv2.polylines(out, [pts[list(chain)]], False, 255, thickness)
    return out


def _gaussian(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, inverse covariance and log-determinant of N x 3 colour samples (regularised)."""
    mean = samples.mean(0)
    cov = np.cov(samples.T) + np.eye(3) * 4.0
    return mean, np.linalg.inv(cov), float(np.linalg.slogdet(cov)[1])


def _log_likelihood(pixels: np.ndarray, model: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    mean, inv, logdet = model
    d = pixels - mean
    return -0.5 * (np.einsum("...i,ij,...j->...", d, inv, d) + logdet)


def matte_hand(frame: np.ndarray, points: np.ndarray, other: np.ndarray | None = None, forearm: float = 1.15
               ) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """A soft alpha matte of the hand (and the forearm that continues it) in one frame.

    frame: H x W x 3 uint8 RGB. points: 21 x 2 landmarks of the hand, pixels. other: the other hand's
    landmarks, or None. forearm: how much forearm to keep past the wrist, in hand sizes (:func:`hand_size`;
    the elbow is at about 1.2). Returns (h x w float32 alpha in [0, 1] over a crop around the hand, (x0, y0)
    of that crop in the frame, the forearm's direction away from the wrist as a unit 2-vector (x, y)).

    Method: a two-class colour model learned from this frame's own pixels, as landmarks label them: skin
    from the pixels under the hand's bones and palm, background from a ring outside the hand's hull
    (and the other hand's hull removed from it). Each pixel's posterior of skin, in CIELAB, is the matte.
    Why not GrabCut: tried first, it took 0.7 s a frame and, with the beige knit behind the hand close to
    the skin's lightness, it now and then took the knit for hand or cut off the wrist; the skin's pink
    (Lab a*, b*) is what separates hand from knit, which a per-frame Gaussian per class captures directly,
    and the posterior is soft where the colours mix at the edge (anti-aliasing, motion blur) without any
    blur of our own. Only what is connected to the palm is kept (the knit's holes and the pebbles show
    skin-coloured specks), and small holes in the hand are filled.
    """
    h, w = frame.shape[:2]
    size = hand_size(points)
    wrist = points[WRIST]
    x0 = max(int(min(points[:, 0].min(), wrist[0] - forearm * size) - 0.3 * size), 0)
    x1 = min(int(max(points[:, 0].max(), wrist[0] + forearm * size) + 0.3 * size), w)
    y0 = max(int(points[:, 1].min() - 0.3 * size), 0)
    y1 = min(int(max(points[:, 1].max(), wrist[1] + forearm * size) + 0.3 * size), h)
    crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    local = points - (x0, y0)
    shape = crop.shape[:2]
    bones = _draw_hand(shape, local, max(int(0.05 * size), 2))
    hull = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(local).astype(np.int32)), 255)
    ring = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(0.5 * size) | 1,) * 2))
    ring = (ring > 0) & ~(cv2.dilate(hull, np.ones((int(0.2 * size) | 1,) * 2, np.uint8)) > 0)
    other_hull = np.zeros(shape, np.uint8)
    if other is not None:
        cv2.fillConvexPoly(other_hull, cv2.convexHull(np.round(other - (x0, y0)).astype(np.int32)), 255)
        other_hull = cv2.dilate(other_hull, np.ones((5, 5), np.uint8))
    skin = _gaussian(lab[bones > 0])
    back = _gaussian(lab[ring & (other_hull == 0)])
    odds = np.clip(_log_likelihood(lab, skin) - _log_likelihood(lab, back), -30, 30)
    posterior = 1.0 / (1.0 + np.exp(-odds))
    posterior[other_hull > 0] = 0
    sure = (posterior > 0.5).astype(np.uint8)
    _, labels = cv2.connectedComponents(sure, connectivity=4)
    hand = np.isin(labels, list(set(np.unique(labels[(bones > 0) & (sure > 0)])) - {0}))
    # The forearm: the hand's component beyond the wrist, along the direction it leaves the wrist in,
    # cut straight at ``forearm`` hand sizes (before the elbow, past which the upper arm and the body join).
    ys, xs = np.nonzero(hand)
    rel = np.stack([xs, ys], 1) + (x0, y0) - wrist
    dist = np.linalg.norm(rel, axis=1)
    away = rel @ (wrist - points[9]) > 0
    ring_px = rel[away & (dist > 0.5 * size) & (dist < 1.0 * size)]
    axis = ring_px.mean(0) if len(ring_px) else wrist - points[9]
    axis = axis / np.linalg.norm(axis)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    along = (xx + x0 - wrist[0]) * axis[0] + (yy + y0 - wrist[1]) * axis[1]
    across = np.abs(-(xx + x0 - wrist[0]) * axis[1] + (yy + y0 - wrist[1]) * axis[0])
    arm = (along <= 0.3 * size) | (across < 0.22 * size)
    hand &= arm & (along < forearm * size + 2)
    # The cut may leave a piece of the upper arm that only joined at the elbow: keep what touches the palm.
    _, labels = cv2.connectedComponents(hand.astype(np.uint8), connectivity=4)
    hand = np.isin(labels, list(set(np.unique(labels[(bones > 0) & hand])) - {0}))
    # Creases and shadows between fingers pressed together are hand too (opaque): bridge gaps of a few
    # pixels and fill small enclosed holes, but keep wider gaps, where the knit behind shows, open.
    closed = cv2.morphologyEx(hand.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, labels = cv2.connectedComponents(closed, connectivity=4)
    closed = np.isin(labels, list(set(np.unique(labels[(bones > 0) & (closed > 0)])) - {0})).astype(np.uint8)
    holes = cv2.connectedComponentsWithStats(1 - closed, connectivity=4)
    solid = closed.copy()
    for k in range(1, holes[0]):
        x, y, bw, bh, area = holes[2][k]
        inside = x > 0 and y > 0 and x + bw < shape[1] and y + bh < shape[0]
        if inside and area < (0.08 * size) ** 2:
            solid[holes[1] == k] = 1
    # Inside the solid hand the matte is 1; on a 2-pixel band at its edge it is the colour posterior
    # (the mixed pixels of the real edge); beyond, 0. The forearm's cut is a straight anti-aliased ramp.
    inner = cv2.erode(solid, np.ones((5, 5), np.uint8)) > 0
    band = (cv2.dilate(solid, np.ones((3, 3), np.uint8)) > 0) & ~inner
    alpha = np.where(inner, 1.0, np.where(band, posterior, 0.0))
    alpha *= np.clip(forearm * size - along + 0.5, 0, 1)
    return alpha.astype(np.float32), (x0, y0), axis.astype(np.float32)


def hand_size(points: np.ndarray) -> float:
    """A hand's size in pixels from its 21 x 2 landmarks: wrist to middle-finger base plus that base to
    the tip along the finger (independent of how the hand is turned in the picture plane)."""
    finger = sum(float(np.linalg.norm(points[a] - points[b])) for a, b in ((9, 10), (10, 11), (11, 12)))
    return float(np.linalg.norm(points[9] - points[WRIST])) + finger


def key_hand(video: Path = HANDS_CLIP, first: int = 225, n_frames: int = 54, side: str = "right",
             forearm: float = 1.15) -> HandSprites:
    """Key a real hand out of ``n_frames`` frames of ``video`` from frame ``first`` (:func:`matte_hand` on
    :func:`find_hands`' landmarks).

    The default stretch of actor_woman_hands.mp4 has the woman's right-of-picture hand in front of her knit
    with the fingers curled, moving a little, and holding nothing (before frame ~220 it holds a grass stalk).
    Returns :class:`HandSprites` of ``n_frames`` sprites.
    """
    frames, _ = _decode(video, first, n_frames)
    points, others = find_hands(frames, side)
    rgba, origin, landmarks, axes = [], [], [], []
    for frame, pts, other in zip(frames, points, others):
        alpha, (x0, y0), axis = matte_hand(frame, pts, other, forearm)
        ys, xs = np.nonzero(alpha > 0)
        top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        a8 = np.round(alpha[top:bottom, left:right] * 255).astype(np.uint8)
        rgb = frame[y0 + top:y0 + bottom, x0 + left:x0 + right]
        rgba.append(np.dstack([rgb, a8]))
        origin.append((x0 + left, y0 + top))
        landmarks.append(pts - (x0 + left, y0 + top))
        axes.append(axis)
    return HandSprites(rgba, np.array(origin, np.int64), np.array(landmarks, np.float32),
                       np.array(axes, np.float32), list(range(first, first + n_frames)))


def key_cup() -> np.ndarray:
    """A real cup keyed from a photograph: scikit-image's ``coffee`` (skimage.data.coffee, an espresso cup
    on a saucer seen from above, CC0; it ships inside the pinned scikit-image wheel, so nothing is
    downloaded). Returns h x w x 4 uint8 RGBA: the cup's white rim and the coffee inside it, the photo's own
    pixels, alpha 255 inside the rim's outer edge, anti-aliased over a pixel at it.

    The rim is the key: the only large white, colourless region of the photo (CIELAB L > 190, chroma < 25),
    a closed ring whose outer contour, filled, is the cup seen end-on. The red body below it is left out:
    it has the saucer's colour, and no colour edge separates them.
    """
    from skimage import data

    photo = data.coffee()
    lab = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB).astype(np.float32)
    white = (lab[..., 0] > 190) & (np.hypot(lab[..., 1] - 128, lab[..., 2] - 128) < 25)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(white.astype(np.uint8), connectivity=8)
    ring = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    ring = cv2.morphologyEx(ring, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    contours, _ = cv2.findContours(ring, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    solid = np.zeros(ring.shape, np.uint8)
    cv2.drawContours(solid, [outline], -1, 255, -1)
    x, y, w, h = cv2.boundingRect(outline)
    alpha = cv2.GaussianBlur(solid, (3, 3), 0)[y:y + h, x:x + w]
    return np.dstack([photo[y:y + h, x:x + w], alpha])


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff ``top`` over ``bottom``, both h x w x 4 uint8 RGBA (straight alpha) of one size."""
    at, ab = top[..., 3:] / 255.0, bottom[..., 3:] / 255.0
    a = at + ab * (1.0 - at)
    rgb = (top[..., :3] * at + bottom[..., :3] * ab * (1.0 - at)) / np.maximum(a, 1e-6)
    return np.dstack([np.round(rgb), np.round(a * 255.0)]).astype(np.uint8)


def hold_prop(hands: HandSprites, prop: np.ndarray, width: float = 0.5, grip: float = 0.35) -> HandSprites:
    """``hands`` with ``prop`` (h x w x 4 RGBA, e.g. :func:`key_cup`) held in the fist, behind the fingers.

    width: the prop's width in hand sizes (:func:`hand_size`; a cup's rim, 7-9 cm, is 0.4-0.5 of a hand).
    grip: the share of the prop's height that lies behind the hand: the prop stands on the far end of
    the hand from the forearm (the curled fingers, which hold it). It is scaled with each frame's hand and
    turned so that it stands along the forearm, as a held cup does: upright when
    :func:`composite_occlusion` turns the forearm down. Returns new sprites; the landmarks and origins
    move with the grown canvas, ``axis`` is unchanged.
    """
    rgba, origin, landmarks = [], [], []
    for sprite, pts, axis in zip(hands.rgba, hands.landmarks, hands.axis):
        scale = width * hand_size(pts) / prop.shape[1]
        height = prop.shape[0] * scale
        # How far the hand reaches from its knuckles away from the forearm: there the fingers close.
        ys, xs = np.nonzero(sprite[..., 3] > 127)
        knuckles = pts[[5, 9, 13, 17]].mean(0)
        reach = float(((knuckles - np.stack([xs, ys], 1)) @ axis).max())
        centre = knuckles - axis * (reach + (0.5 - grip) * height)
        # The prop's own down (0, 1) along the forearm's direction.
        linear = scale * np.array([[axis[1], axis[0]], [-axis[0], axis[1]]])
        matrix = np.hstack([linear, (centre - linear @ (np.array(prop.shape[1::-1]) / 2))[:, None]])
        cup, (cx, cy) = _placed(prop, matrix)
        x0, y0 = min(cx, 0), min(cy, 0)
        x1, y1 = max(cx + cup.shape[1], sprite.shape[1]), max(cy + cup.shape[0], sprite.shape[0])
        hand_layer = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        cup_layer = np.zeros_like(hand_layer)
        hand_layer[-y0:-y0 + sprite.shape[0], -x0:-x0 + sprite.shape[1]] = sprite
        cup_layer[cy - y0:cy - y0 + cup.shape[0], cx - x0:cx - x0 + cup.shape[1]] = cup
        rgba.append(_over(hand_layer, cup_layer))
        landmarks.append(pts - (x0, y0))
        origin.append((x0, y0))
    return HandSprites(rgba, hands.origin + np.array(origin), np.array(landmarks, np.float32), hands.axis.copy(),
                       list(hands.source_frames))


@dataclass
class Occlusion:
    """An actor clip with a real hand raised over the mouth and lowered again.

    frames: T x H x W x 3 uint8 RGB, the composited clip.
    masks: T x H x W bool, the ground-truth occluder: the hand layer's alpha > 0.5.
    layers: per frame, None where the hand is out of the picture, else (h x w x 4 uint8 RGBA: the keyed
        sprite scaled and turned as laid on this frame; (x, y) of its top-left corner in the frame, which
        may lie outside it). Where the layer's alpha is 255 the frame's pixel is the layer's.
    lips: T x H x W bool, the actor's lips and mouth opening (outer and inner lip polygons, filled) from
        the face mesh of the clip without the hand.
    coverage: T float, the share of ``lips`` that ``masks`` covers.
    visible: (start, end), the frames in which the hand is in the picture (mask non-empty), end exclusive.
    over_mouth: (start, end), the frames in which the hand is held at its target (the middle of ``visible``).
    hand_frames: per frame, the hand clip's frame laid on it (-1 where none).
    fps: the actor clip's exact frame rate, as a rational string.
    """

    frames: np.ndarray
    masks: np.ndarray
    layers: list[tuple[np.ndarray, tuple[int, int]] | None]
    lips: np.ndarray
    coverage: np.ndarray
    visible: tuple[int, int]
    over_mouth: tuple[int, int]
    hand_frames: list[int]
    fps: str


def lip_masks(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The lips and the mouth opening per frame: T x 478 x 3 face-mesh points (pixels) -> T x H x W bool,
    the union of the filled outer and inner lip polygons."""
    from vdub.face.landmarks import INNER_LIPS, OUTER_LIPS

    out = np.zeros((len(points), *shape), bool)
    for t, pts in enumerate(points):
        canvas = np.zeros(shape, np.uint8)
        for ring in (OUTER_LIPS, INNER_LIPS):
            cv2.fillPoly(canvas, [np.round(pts[ring, :2]).astype(np.int32)], 1)
        out[t] = canvas > 0
    return out


def _ease_out(p: float) -> float:
    """Fast start, slow arrival: how a hand is raised to a target."""
    return 1.0 - (1.0 - p) ** 2


def hand_schedule(start: int, rise: int, hold: int) -> list[tuple[int, float]]:
    """(frame, how far up: 0 below the picture .. 1 at the target) for each frame the hand is in the picture.

    ``rise`` frames up (eased out: quick, then slowing onto the mouth), ``hold`` frames at the target,
    ``rise`` frames down (the rise reversed). No frame of the list has the hand fully below the picture.
    """
    up = [_ease_out((i + 1) / (rise + 1)) for i in range(rise)]
    heights = up + [1.0] * hold + up[::-1]
    return [(start + i, h) for i, h in enumerate(heights)]


def _placed(sprite: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """``sprite`` (h x w x 4) warped by the 2 x 3 ``matrix`` into its own bounding box: (RGBA, (x, y) of
    the box's top-left corner in the target frame)."""
    h, w = sprite.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ matrix.T
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    shifted = matrix.copy()
    shifted[:, 2] -= (x0, y0)
    # Linear, not cubic: no overshoot halo at the matte's edge, and no value outside the source's range.
    layer = cv2.warpAffine(sprite, shifted, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return layer, (int(x0), int(y0))


def composite_occlusion(frames: np.ndarray, face_points: np.ndarray, hands: HandSprites, fps: str = "30/1",
                        start: int = 30, rise: int = 12, hold: int = 30, target_offset: float = 0.0,
                        hand_scale: float = 0.95, tilt_deg: float = 5.0) -> Occlusion:
    """Raise ``hands`` from below the picture over the actor's mouth, hold it there, lower it again.

    frames: T x H x W x 3 uint8 RGB of the actor. face_points: T x 478 x 3 face mesh of those frames, pixels
    (vdub.face.mesh.track_faces; every frame needs a face). hands: at least ``2 * rise + hold`` sprites,
    laid on frames ``start`` .. ``start + 2 * rise + hold`` in order, so the real hand's own motion plays.
    target_offset: where the hand's centre is held, below the mouth's centre, in face heights (the mesh
    box's height): 0 covers the mouth; about 0.3 covers only the chin and the lower lip's edge.
    hand_scale: the hand's length (:func:`hand_size`) in face heights; 0.85 makes it as wide as 0.6-0.8
    of the face, as a real hand is. tilt_deg: the forearm's lean from straight down, towards the right
    of the picture. One scale for the whole clip (the median face height), so the hand does not
    breathe with the face track.

    The hand's landmark centroid follows the mouth (each frame's outer-lip centroid plus the offset), so
    the hand stays on the mouth while the head moves, except that it is lowered where that would leave the
    forearm's cut end inside the picture (a few pixels, on the frames where the head is highest); on the
    way up and down it is that target shifted down by the rest of the way out of the picture.
    """
    from vdub.face.landmarks import OUTER_LIPS

    n, height, width = frames.shape[:3]
    schedule = hand_schedule(start, rise, hold)
    if len(hands.rgba) < len(schedule):
        raise ValueError(f"{len(schedule)} hand frames needed, {len(hands.rgba)} keyed")
    if start < 0 or schedule[-1][0] >= n:
        raise ValueError(f"the hand's frames {start}..{schedule[-1][0]} are not all in the clip's {n}")
    if not np.isfinite(face_points[..., :2]).all():
        raise ValueError("the face track misses frames: the mouth cannot be followed")
    face_height = float(np.median(np.ptp(face_points[..., 1], axis=1)))
    scale = hand_scale * face_height / hands.size()
    mouths = face_points[:, OUTER_LIPS, :2].mean(1)
    lips = lip_masks(face_points, (height, width))
    out = frames.copy()
    masks = np.zeros((n, height, width), bool)
    layers: list[tuple[np.ndarray, tuple[int, int]] | None] = [None] * n
    hand_frames = [-1] * n
    tilt = math.radians(tilt_deg)
    down = np.array([math.sin(tilt), math.cos(tilt)])
    for k, (t, up) in enumerate(schedule):
        sprite, pts, axis = hands.rgba[k], hands.landmarks[k], hands.axis[k]
        # The rotation that turns the forearm's direction onto ``down``.
        angle = math.atan2(axis[0] * down[1] - axis[1] * down[0], axis @ down)
        c, s = math.cos(angle) * scale, math.sin(angle) * scale
        linear = np.array([[c, -s], [s, c]])
        anchor = pts.mean(0)
        target = mouths[t] + (0.0, target_offset * face_height)
        top = (np.array([[0, 0], [sprite.shape[1], 0], [0, sprite.shape[0]], [sprite.shape[1], sprite.shape[0]]])
               - anchor) @ linear.T
        # Held low enough that the forearm's cut end is below the picture: no floating hand.
        ys, xs = np.nonzero(sprite[..., 3] > 127)
        lowest = float(((np.stack([xs, ys], 1) + 0.5 - anchor) @ linear.T)[:, 1].max())
        target = target + (0.0, max(0.0, height + 1 - (target[1] + lowest)))
        travel = height - target[1] - top[:, 1].min() + 1  # from here the whole sprite is below the picture
        centre = target + (0.0, (1.0 - up) * travel)
        matrix = np.hstack([linear, (centre - linear @ anchor)[:, None]])
        layer, (x0, y0) = _placed(sprite, matrix)
        layers[t], hand_frames[t] = (layer, (x0, y0)), hands.source_frames[k]
        # The part of the layer inside the picture.
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + layer.shape[1], width), min(y0 + layer.shape[0], height)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        part = layer[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        a = part[..., 3:].astype(np.float32) / 255.0
        under = out[t, fy0:fy1, fx0:fx1].astype(np.float32)
        out[t, fy0:fy1, fx0:fx1] = np.round(part[..., :3] * a + under * (1.0 - a)).astype(np.uint8)
        masks[t, fy0:fy1, fx0:fx1] = part[..., 3] > 127
    coverage = (masks & lips).sum((1, 2)) / np.maximum(lips.sum((1, 2)), 1)
    visible = (schedule[0][0], schedule[-1][0] + 1)
    over_mouth = (start + rise, start + rise + hold)
    return Occlusion(out, masks, layers, lips, coverage.astype(np.float64), visible, over_mouth, hand_frames, fps)


def make_occlusion(actor: Path = ACTOR_CLIP, hands: Path = HANDS_CLIP, n_frames: int = 125, start: int = 30,
                   rise: int = 12, hold: int = 30, target_offset: float = 0.0, hand_scale: float = 0.95,
                   tilt_deg: float = 5.0, hands_first: int = 225, cup: float | None = None) -> Occlusion:
    """The first ``n_frames`` of ``actor`` with a hand keyed from ``hands`` (from frame ``hands_first``)
    raised over the mouth: decode, track the face (vdub.face.mesh.track_faces), :func:`key_hand`,
    :func:`composite_occlusion` (see there for the other arguments). cup: the hand holds :func:`key_cup`
    this wide, in hand sizes (:func:`hold_prop`); None: an empty hand."""
    from vdub.face.mesh import track_faces

    frames, fps = _decode(actor, 0, n_frames)
    track = track_faces(iter(frames), len(frames))
    if not track.valid.all():
        raise ValueError(f"{actor}: no face in frames {np.flatnonzero(~track.valid).tolist()}")
    sprites = key_hand(hands, hands_first, 2 * rise + hold)
    if cup is not None:
        sprites = hold_prop(sprites, key_cup(), cup)
    return composite_occlusion(frames, track.points, sprites, fps, start, rise, hold, target_offset, hand_scale,
                               tilt_deg)


def write_occlusion(occlusion: Occlusion, out_dir: Path, actor: Path | None = ACTOR_CLIP, crf: int = 10,
                    name: str = "occlusion") -> dict[str, Path]:
    """Write ``occlusion`` to ``out_dir``: ``NAME.mp4`` (H.264 yuv420p at the actor's frame rate through the
    project's own writer, vdub.media.video.write_video, so the pipeline's ingest reads it like any camera
    file; with the actor's audio cut to the clip's length when ``actor`` has a track), ``NAME_masks.npy``
    (T x H x W bool, the ground-truth occluder) and ``NAME.json`` (frame count, size, fps, the
    ``visible`` and ``over_mouth`` ranges, end exclusive, the per-frame mouth coverage and the hand clip's
    frame per frame). Returns their paths by kind: ``clip``, ``masks``, ``json``.
    """
    from vdub.media.audio import extract_audio
    from vdub.media.video import probe_video, write_video

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"clip": out_dir / f"{name}.mp4", "masks": out_dir / f"{name}_masks.npy",
             "json": out_dir / f"{name}.json"}
    n, height, width = occlusion.frames.shape[:3]
    with tempfile.TemporaryDirectory() as tmp:
        audio = None
        if actor is not None and probe_video(actor).has_audio:
            audio = Path(tmp) / "audio.wav"
            num, den = (int(x) for x in occlusion.fps.split("/"))
            extract_audio(actor, audio, n * den / num)
        write_video(iter(occlusion.frames), paths["clip"], occlusion.fps, audio_path=audio, crf=crf)
    np.save(paths["masks"], occlusion.masks)
    paths["json"].write_text(json.dumps({
        "frames": n, "width": width, "height": height, "fps": occlusion.fps,
        "visible": list(occlusion.visible), "over_mouth": list(occlusion.over_mouth),
        "coverage": [round(float(c), 4) for c in occlusion.coverage],
        "hand_frames": occlusion.hand_frames, "actor": str(actor) if actor else None,
    }, indent=1))
    return paths


def contact_sheet(occlusion: Occlusion, path: Path, frames: list[int] | None = None, tile: int = 350) -> Path:
    """A PNG of some frames (top row, with frame number and mouth coverage) over their masks (bottom row,
    white, with the lips in red: light where the hand covers them). Default frames: the first with the
    hand, two on the way up, three while held, one on the way down. Returns ``path``."""
    start, end = occlusion.visible
    lo, hi = occlusion.over_mouth
    frames = frames or [start, (start + lo) // 2, lo - 1, lo + 2, (lo + hi) // 2, hi - 2, (hi + end) // 2]
    columns = []
    for t in frames:
        picture = occlusion.frames[t].copy()
        mask = np.repeat(occlusion.masks[t][..., None] * np.uint8(255), 3, 2)
        mask[occlusion.lips[t]] = mask[occlusion.lips[t]] // 2 + np.array([127, 0, 0], np.uint8)
        picture = cv2.resize(picture, (tile, tile), interpolation=cv2.INTER_AREA)
        cv2.putText(picture, f"{t}  cover {occlusion.coverage[t]:.2f}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 0), 2)
        columns.append(np.concatenate([picture, cv2.resize(mask, (tile, tile), interpolation=cv2.INTER_AREA)], 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(columns, 1), cv2.COLOR_RGB2BGR))
    return path
