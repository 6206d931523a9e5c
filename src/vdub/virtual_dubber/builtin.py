"""Virtual dubber, builtin backend: the actor's reference frame animated by the dubber.

The paper's virtual dubber is LivePortrait driven by the dubber video. The builtin backend
works offline from face geometry alone:

1. The dubber's expression is measured relative to the dubber's own neutral frame, in a
   pose-normalised face frame (a similarity fit on skull-stable points removes head motion).
2. The expression offsets are carried into the actor's reference frame (rotated and scaled
   by the similarity between the two neutrals) and applied to the lower face only, with a
   smooth weight that is 0 at the nose and 1 from the mouth down, so the jaw and chin move
   with the mouth (the paper's double-chin point) while eyes and brows stay the actor's.
3. The reference frame is warped piecewise-affinely onto the moved landmarks; the
   background stays static, as in the paper.
4. The opened inner mouth is filled with a real mouth interior (teeth, tongue), mapped onto
   the target inner-lip polygon and colour-matched to the reference's perioral skin. With
   ``mouth_source: actor`` (the default) it is the actor's own: the actor frame whose
   pose-free inner-lip shape is nearest the target among those that open at least as wide
   (:class:`MouthLibrary`); the dubber's mouth only where no actor frame opens as wide.
   Another person's teeth in the actor's face are what a viewer notices first.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from vdub.face import landmarks as lm
from vdub.face.geometry import robust_umeyama, umeyama
from vdub.face.warp import blend, feather, piecewise_affine, polygon_mask, triangulate
from vdub.virtual_dubber.config import VirtualDubberConfig

log = logging.getLogger(__name__)


def log_mouth_sources(shot: str, what: str, sources: list[int]) -> dict[str, int]:
    """Log (and return) where the inner mouths came from: the actor's own frames, the dubber's, none."""
    src = np.asarray(sources)
    counts = {"actor": int((src >= 0).sum()), "dubber": int((src == -1).sum()), "closed": int((src == -2).sum())}
    log.info("shot %s: %s inner mouth from the actor's own frames in %d frames (%d distinct), the dubber's in %d, "
             "closed in %d", shot, what, counts["actor"], len(set(src[src >= 0].tolist())), counts["dubber"],
             counts["closed"])
    return counts


class MouthLibrary:
    """The actor's own open mouths, indexed by their pose-free inner-lip shape.

    Every actor frame with a face is moved onto the reference frame's skull (similarity on
    the skull-stable points) and described by its inner-lip contour relative to its centre,
    in reference inter-ocular units. :meth:`choose` finds the frame whose contour is nearest
    a target mesh's among the frames that open at least ``min_ratio`` as wide.
    """

    def __init__(self, points: np.ndarray, valid: np.ndarray, reference_points: np.ndarray) -> None:
        """points: T x 478 x 3 actor track (pixels); valid: T; reference_points: 478 x 3."""
        self.points = points
        self.reference = np.asarray(reference_points, np.float64)
        self.scale = max(float(lm.inter_ocular(self.reference)), 1e-6)
        self.index = np.flatnonzero(valid)
        normalised = np.stack([robust_umeyama(points[t, lm.STABLE], self.reference[lm.STABLE]).apply(
            points[t].astype(np.float64)) for t in self.index]) if len(self.index) else np.zeros((0, lm.N_POINTS, 3))
        self.shapes = self._shape(normalised)
        self.openings = lm.mouth_opening(normalised) if len(self.index) else np.zeros(0)

    def _shape(self, points: np.ndarray) -> np.ndarray:
        inner = points[..., lm.INNER_LIPS, :2]
        return (inner - inner.mean(axis=-2, keepdims=True)) / self.scale

    def choose(self, target: np.ndarray, min_ratio: float = 0.9, exclude: tuple[int, int] | None = None,
               previous: int | None = None, continuity: float = 0.25) -> int | None:
        """The actor frame whose inner mouth best fills ``target`` (478 x 3, reference pixels), or None.

        exclude: ``(first, last)`` frames never chosen (self-reenactment: the target frame
        and its neighbours). previous: the frame chosen for the last target; its successor
        is kept while within ``continuity`` of the best distance, so the teeth do not jump
        between frames of equal fit.
        """
        if not len(self.index):
            return None
        opening = float(lm.mouth_opening(target))
        ok = self.openings >= min_ratio * opening
        if exclude is not None:
            ok &= (self.index < exclude[0]) | (self.index > exclude[1])
        if not ok.any():
            return None
        distance = np.linalg.norm(self.shapes - self._shape(np.asarray(target, np.float64)), axis=-1).mean(axis=-1)
        distance[~ok] = np.inf
        best = int(np.argmin(distance))
        if previous is not None:
            follow = np.flatnonzero(self.index == previous + 1)
            if len(follow) and distance[follow[0]] <= (1.0 + continuity) * distance[best]:
                best = int(follow[0])
        return int(self.index[best])


def expression_offsets(points: np.ndarray, valid: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Per-frame landmark offsets from the neutral, with head pose removed.

    points: T x 478 x 3 (dubber, pixels); valid: T; neutral: 478 x 3 (the dubber's neutral frame).
    Returns T x 478 x 3 offsets expressed in the neutral frame's coordinates (0 where invalid).
    """
    offsets = np.zeros_like(points, dtype=np.float64)
    for t in np.flatnonzero(valid):
        pose = robust_umeyama(points[t, lm.STABLE], neutral[lm.STABLE])
        offsets[t] = pose.apply(points[t].astype(np.float64)) - neutral
    return offsets


def lower_face_weights(points: np.ndarray) -> np.ndarray:
    """Weight per landmark: 0 above the nose base, rising smoothly to 1 at the upper lip.

    points: 478 x 2+ of a (roughly upright) face. Returns 478 in [0, 1].
    """
    v = points[:, :2] @ face_axis(points)
    nose_base = v[2]  # MediaPipe point 2: below the nose tip
    lip_top = v[0]  # upper lip, outer contour
    x = np.clip((v - nose_base) / max(lip_top - nose_base, 1e-6), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def face_axis(points: np.ndarray) -> np.ndarray:
    """Unit vector down the face (perpendicular to the eye line, image y down). points: 478 x 2+."""
    right, left = lm.eye_centres(points[:, :2])
    across = (left - right) / max(np.linalg.norm(left - right), 1e-6)
    return np.array([-across[1], across[0]])


def mouth_width(points: np.ndarray) -> float:
    """Corner-to-corner width of the mouth (pixels). points: 478 x 2+."""
    left, right = lm.MOUTH_CORNERS
    return float(np.linalg.norm(points[left, :2] - points[right, :2]))


def transfer_expression(offsets: np.ndarray, dubber_neutral: np.ndarray, actor_reference: np.ndarray,
                        gain: float = 1.0, scale_to_mouth: bool = True) -> np.ndarray:
    """Apply the dubber's offsets to the actor's reference mesh.

    The offsets are carried by the similarity between the two neutral skulls; with
    ``scale_to_mouth`` they are further scaled by the ratio of the two neutral mouths'
    widths (in the actor's frame), so a wide-mouthed dubber does not stretch a small mouth
    past what it can do: the actor's mouth does what the dubber's does, at its own size.

    offsets: T x 478 x 3 in the dubber-neutral frame; dubber_neutral, actor_reference: 478 x 3.
    Returns target meshes T x 478 x 3 in the reference frame's pixels.
    """
    to_actor = umeyama(dubber_neutral[lm.STABLE], actor_reference[lm.STABLE])
    if scale_to_mouth:
        gain *= mouth_width(actor_reference) / max(mouth_width(to_actor.apply(dubber_neutral)), 1e-6)
    weights = lower_face_weights(actor_reference)
    moved = to_actor.apply_vectors(offsets) * (gain * weights)[None, :, None]
    return actor_reference[None].astype(np.float64) + moved


def anchor_points(shape: tuple[int, int], face: np.ndarray) -> np.ndarray:
    """Fixed points that keep the background still: image border and a ring around the face."""
    h, w = shape
    xs = np.linspace(0, w - 1, 5)
    ys = np.linspace(0, h - 1, 5)
    border = ([(x, 0) for x in xs] + [(x, h - 1) for x in xs]
              + [(0, y) for y in ys[1:-1]] + [(w - 1, y) for y in ys[1:-1]])
    oval = face[lm.FACE_OVAL, :2]
    centre = oval.mean(axis=0)
    ring = centre + 1.35 * (oval - centre)
    ring = np.clip(ring, 0, [w - 1, h - 1])
    return np.concatenate([np.array(border, np.float64), ring])


def _lab_stats(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    sel = mask.reshape(-1) > 0.5
    if sel.sum() < 16:
        return np.zeros(3), np.ones(3)
    return lab[sel].mean(axis=0), lab[sel].std(axis=0) + 1e-3


def _skin_ring(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Mask of the skin around the mouth: a band outside the outer lips."""
    lips = points[lm.OUTER_LIPS, :2]
    centre = lips.mean(axis=0)
    outer = polygon_mask(shape, centre + 1.6 * (lips - centre))
    inner = polygon_mask(shape, centre + 1.1 * (lips - centre))
    return np.clip(outer - inner, 0.0, 1.0)


def mouth_interior(source_frame: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
                   actor_frame: np.ndarray, actor_points: np.ndarray, out_shape: tuple[int, int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A source frame's inner mouth mapped onto the target inner-lip polygon, colour-matched.

    source_frame: Hs x Ws x 3 (a dubber frame, or another frame of the actor);
    source_points, target_points, actor_points: 478 x 3 (``actor_*``: the reference frame
    the target lives in). Returns ``(image H x W x 3 uint8, alpha H x W float32)``.
    """
    src = source_points[lm.INNER_LIPS, :2].astype(np.float32)
    dst = target_points[lm.INNER_LIPS, :2].astype(np.float32)
    affine, _ = cv2.estimateAffine2D(src, dst, method=cv2.LMEDS)
    if affine is None:
        return np.zeros(out_shape + (3,), np.uint8), np.zeros(out_shape, np.float32)
    h, w = out_shape
    warped = cv2.warpAffine(source_frame, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # The source's teeth and tongue are lit and white-balanced for its own frame: move their
    # Lab statistics by the difference between the two frames' perioral skin.
    d_mean, d_std = _lab_stats(source_frame, _skin_ring(source_frame.shape[:2], source_points))
    a_mean, a_std = _lab_stats(actor_frame, _skin_ring(actor_frame.shape[:2], actor_points))
    lab = cv2.cvtColor(warped, cv2.COLOR_RGB2LAB).astype(np.float64)
    lab = (lab - d_mean) * (a_std / d_std) + a_mean
    matched = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    alpha = feather(polygon_mask(out_shape, dst), radius=1.0)
    return matched, alpha


def render_virtual_dubber(
    reference: np.ndarray,
    reference_points: np.ndarray,
    dubber_frames: np.ndarray,
    dubber_track_points: np.ndarray,
    dubber_valid: np.ndarray,
    dubber_neutral_index: int,
    cfg: VirtualDubberConfig,
    actor_frames: np.ndarray | None = None,
    mouths: MouthLibrary | None = None,
    exclude_window: int | None = None,
    sources: list[int] | None = None,
):
    """Yield ``(frame H x W x 3 uint8, target mesh 478 x 3)`` for every dubber frame.

    reference: H x W x 3 actor reference frame; reference_points: 478 x 3 its mesh.
    dubber_frames: T x Hd x Wd x 3 (conformed to the shot); dubber_track_points: T x 478 x 3;
    dubber_valid: T. Frames where the dubber has no face hold the neutral expression. The
    dubber's track is expected smoothed already (:func:`vdub.face.smoothing.smooth_mesh_track`).

    actor_frames, mouths: the actor's frames (T' x H x W x 3) and their :class:`MouthLibrary`,
    which ``mouth_source: actor`` fills the inner mouth from (their track, the library's
    ``points``). exclude_window: for self-reenactment (the "dubber" is the actor), actor
    frames within this many frames of the driving frame are never chosen, and without an
    actor frame that opens as wide the nearest shape is stretched (never the driving frame
    itself). sources: when given, receives per frame the actor frame the mouth came
    from, -1 for the dubber's, -2 for no fill.
    """
    shape = reference.shape[:2]
    neutral = dubber_track_points[dubber_neutral_index].astype(np.float64)
    offsets = expression_offsets(dubber_track_points, dubber_valid, neutral)
    targets = transfer_expression(offsets, neutral, reference_points, cfg.expression_gain, cfg.scale_to_mouth)
    use_actor = cfg.mouth_source == "actor" and mouths is not None and actor_frames is not None
    if exclude_window is not None and not use_actor:
        raise ValueError("self-reenactment (exclude_window) needs the actor's frames and mouth library")

    anchors = anchor_points(shape, reference_points)
    src_all = np.concatenate([reference_points[:, :2], anchors])
    triangles = triangulate(src_all)
    previous = None
    for t in range(len(dubber_frames)):
        target = targets[t]
        dst_all = np.concatenate([target[:, :2], anchors])
        frame, _ = piecewise_affine(reference, src_all, dst_all, triangles, shape, background=reference)
        source = -2
        if cfg.mouth_fill and dubber_valid[t] and lm.mouth_opening(target) > cfg.min_mouth_opening:
            chosen = None
            if use_actor:
                exclude = None if exclude_window is None else (t - exclude_window, t + exclude_window)
                chosen = mouths.choose(target, cfg.mouth_min_ratio, exclude, previous, cfg.mouth_continuity)
                if chosen is None and exclude is not None:
                    # Self-reenactment has no dubber to fall back on: the nearest shape, however wide.
                    chosen = mouths.choose(target, 0.0, exclude, previous, cfg.mouth_continuity)
            if chosen is not None:
                src_frame, src_points, source = np.asarray(actor_frames[chosen]), mouths.points[chosen], chosen
            elif exclude_window is None:
                src_frame, src_points, source = np.asarray(dubber_frames[t]), dubber_track_points[t], -1
            if source != -2:
                inner, alpha = mouth_interior(src_frame, src_points, target, reference, reference_points, shape)
                frame = blend(frame, inner, alpha)
        previous = source if source >= 0 else None
        if sources is not None:
            sources.append(source)
        yield frame, target.astype(np.float32)
