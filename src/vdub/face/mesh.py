"""Per-frame 3D face mesh: MediaPipe Face Mesh (478 points, refined lips, eyes and irises).

Stands in for the paper's PRNet (TensorFlow 1, weights not installable offline): like PRNet
it covers the inner mouth, through the inner-lip contour. The models ship inside the
``mediapipe==0.10.21`` wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vdub.core.io import load_npz
from vdub.face.config import CHOICES, FaceIdentityConfig, FaceMeshConfig
from vdub.face.identity import ActorIdentity, describe_face
from vdub.face.landmarks import N_POINTS

log = logging.getLogger(__name__)


@dataclass
class FaceTrack:
    """A mesh per frame.

    points: T x 478 x 3 float32, pixels at the frames' resolution (z scaled like x).
    valid: T bool, False where no face was found (points are NaN there).

    Written by :func:`track_faces` (None on tracks built otherwise), for QA:
    faces: T int16, how many distinct faces MediaPipe saw in the frame.
    boxes: T x max_faces x 4 float32, their mesh boxes (x0, y0, x1, y1) in pixels, left to
        right by centre, NaN-padded.
    chosen: T int16, index into ``boxes`` of the actor's face; -1 where none (no face, or only
        other people: ``faces > 0`` with ``chosen == -1`` means the actor was lost).
    acquired: T bool, True where the face was picked by the ``choose`` rule or, with a still of the actor, by
        identity (first frame with a face, after a frame without any, or when continuity or a check failed)
        rather than by continuity with the previous one.

    With a still of the actor (``actor`` of :func:`track_faces`), also:
    described: T int16, faces whose identity descriptor was computed in the frame (0 on most frames).
    actor_distance: T float32, descriptor distance of the chosen face to the still's where it was computed
        (NaN elsewhere; below ``face_identity.threshold`` means the actor).
    """

    points: np.ndarray
    valid: np.ndarray
    faces: np.ndarray | None = None
    boxes: np.ndarray | None = None
    chosen: np.ndarray | None = None
    acquired: np.ndarray | None = None
    described: np.ndarray | None = None
    actor_distance: np.ndarray | None = None

    _QA = ("faces", "boxes", "chosen", "acquired", "described", "actor_distance")

    def to_npz(self) -> dict[str, np.ndarray]:
        out = {"points": self.points, "valid": self.valid}
        out.update({k: getattr(self, k) for k in self._QA if getattr(self, k) is not None})
        return out

    @classmethod
    def from_npz(cls, data: dict[str, np.ndarray]) -> "FaceTrack":
        return cls(points=data["points"].astype(np.float32), valid=data["valid"].astype(bool),
                   **{k: data.get(k) for k in cls._QA})


def mesh_box(points: np.ndarray) -> np.ndarray:
    """Bounding box (x0, y0, x1, y1) of a mesh's x, y."""
    xy = points[:, :2]
    return np.concatenate([xy.min(0), xy.max(0)]).astype(np.float64)


def _size(box: np.ndarray) -> float:
    """A face's size: square root of its box area, pixels."""
    return float(np.sqrt(max(box[2] - box[0], 1e-6) * max(box[3] - box[1], 1e-6)))


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def continuity_cost(box: np.ndarray, previous: np.ndarray) -> float:
    """How far a face is from the previously chosen one: centre shift in face sizes + |log size ratio|."""
    size = _size(previous)
    return float(np.linalg.norm(_centre(box) - _centre(previous)) / size + abs(np.log(_size(box) / size)))


def pick_by_rule(boxes: list[np.ndarray], width: int, height: int, rule: str) -> int:
    """Index of the actor's face among ``boxes`` by a :data:`CHOICES` rule."""
    centres = np.array([_centre(b) for b in boxes])
    if rule == "largest":
        return int(np.argmax([_size(b) for b in boxes]))
    if rule == "central":
        return int(np.argmin(np.linalg.norm(centres - [width / 2, height / 2], axis=1)))
    if rule == "left":
        return int(np.argmin(centres[:, 0]))
    if rule == "right":
        return int(np.argmax(centres[:, 0]))
    raise ValueError(f"unknown face choice {rule!r}; known: {CHOICES}")


def distinct_faces(boxes: list[np.ndarray], previous: np.ndarray | None, overlap: float = 0.5) -> list[int]:
    """Indices of the distinct faces: of two meshes whose boxes overlap (IoU > ``overlap``) only one
    is kept, the one nearer the previous choice (else the larger), so MediaPipe's order never matters."""
    if previous is not None:
        order = sorted(range(len(boxes)), key=lambda i: continuity_cost(boxes[i], previous))
    else:
        order = sorted(range(len(boxes)), key=lambda i: -_size(boxes[i]))
    kept: list[int] = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) <= overlap for j in kept):
            kept.append(i)
    return kept


class FaceChooser:
    """Picks the actor's face frame by frame, independent of the order MediaPipe lists faces in.

    The first frame with a face picks by the ``choose`` rule; each later frame takes the face
    that best continues the last chosen one (:func:`continuity_cost`), provided that cost is at
    most ``max_jump``. When no face passes (the actor left, or turned away, while others stay)
    the frame has no actor face, rather than a jump to another person; the gate stays on where
    the actor was last seen. A frame without any face ends the track: the next face is picked
    by the rule again.

    With ``target``, the descriptor of a still of the actor (:mod:`vdub.face.identity`), the face is
    picked by who it is instead of by the rule: the face nearest the still, if nearer than
    ``identity.threshold``, else none. Descriptors cost about 0.1-0.2 s a face on one CPU core (the mesh
    10 ms a frame), so they are computed only where the choice is in doubt: on acquisition, when
    continuity fails, when the number of faces changes (someone enters or leaves; a cut), and on the
    followed face every ``identity.verify_every`` frames (a swap of people without a gap). Faces found
    not to be the actor are remembered and followed by continuity too, so that while the actor is away
    only newcomers are described (and everyone again every ``verify_every`` frames).
    """

    def __init__(self, rule: str, max_jump: float, target: np.ndarray | None = None,
                 identity: FaceIdentityConfig | None = None) -> None:
        self.rule = rule
        self.max_jump = max_jump
        self.previous: np.ndarray | None = None  # box of the last chosen face
        self.target = None if target is None else np.asarray(target, np.float64)  # 128: the still's descriptor
        self.identity = identity or FaceIdentityConfig()
        self.strangers: list[np.ndarray] = []  # boxes of faces found not to be the actor, as last seen
        self.seen = 0  # faces in the previous frame
        self.since_check = 0  # frames since the actor's identity was last confirmed (or every face checked)
        self.distances: dict[int, float] = {}  # this frame's descriptor distances to the still, by face index

    def step(self, boxes: list[np.ndarray], width: int, height: int,
             describe: Callable[[int], np.ndarray] | None = None) -> tuple[int | None, bool]:
        """Index into ``boxes`` of the actor's face (None: not among them), and whether it was
        picked by the rule or by identity (acquired) rather than by continuity.

        describe: face index -> its 128 descriptor in this frame; required with a ``target``, called only
        for the faces whose identity is needed (their distances are left in :attr:`distances`).
        """
        self.distances = {}
        if not boxes:
            self.previous, self.strangers, self.seen = None, [], 0
            return None, False
        if self.target is not None:
            if describe is None:
                raise ValueError("a chooser with a target (a still of the actor) needs describe()")
            return self._step_by_identity(boxes, describe)
        if self.previous is None:
            index, acquired = pick_by_rule(boxes, width, height, self.rule), True
        else:
            costs = [continuity_cost(b, self.previous) for b in boxes]
            index, acquired = int(np.argmin(costs)), False
            if costs[index] > self.max_jump:
                return None, False
        self.previous = boxes[index]
        return index, acquired

    def _step_by_identity(self, boxes: list[np.ndarray], describe: Callable[[int], np.ndarray]
                          ) -> tuple[int | None, bool]:
        self.since_check += 1
        changed, self.seen = len(boxes) != self.seen, len(boxes)
        due = self.since_check >= self.identity.verify_every
        follow = None
        if self.previous is not None:
            costs = [continuity_cost(b, self.previous) for b in boxes]
            follow = int(np.argmin(costs)) if min(costs) <= self.max_jump else None
        if follow is not None and (not (due or changed) or self._distance(follow, describe) < self.identity.threshold):
            self._keep(boxes, follow, confirmed=follow in self.distances)
            return follow, False
        # The followed face is gone or is someone else: who, of the others, is the actor? Every face when a check
        # is due; else only those not known to be someone else.
        known = set() if due else self._strangers_in(boxes)
        for j in range(len(boxes)):
            if j != follow and j not in known:
                self._distance(j, describe)
        others = [boxes[j] for j in known] + [boxes[j] for j, d in self.distances.items()
                                              if d >= self.identity.threshold]
        matches = {j: d for j, d in self.distances.items() if d < self.identity.threshold}
        if not matches:
            # Not in frame: the next frame acquires by identity again (a gate on the old place would
            # follow whoever stands there now).
            self.previous, self.strangers = None, others
            if not known:
                self.since_check = 0
            return None, False
        index = min(matches, key=matches.get)
        self.previous, self.strangers, self.since_check = boxes[index], others, 0
        return index, True

    def _distance(self, index: int, describe: Callable[[int], np.ndarray]) -> float:
        """Descriptor distance of face ``index`` to the still (computed once per frame)."""
        if index not in self.distances:
            self.distances[index] = float(np.linalg.norm(np.asarray(describe(index), np.float64) - self.target))
        return self.distances[index]

    def _strangers_in(self, boxes: list[np.ndarray]) -> set[int]:
        """Indices of the faces that continue a face known not to be the actor."""
        return {j for j, b in enumerate(boxes)
                if any(continuity_cost(b, s) <= self.max_jump for s in self.strangers)}

    def _keep(self, boxes: list[np.ndarray], index: int, confirmed: bool) -> None:
        """Face ``index`` followed: the known strangers move with their faces."""
        self.strangers = [boxes[j] for j in self._strangers_in(boxes) if j != index]
        self.previous = boxes[index]
        if confirmed:
            self.since_check = 0


def track_boxes(track: FaceTrack) -> np.ndarray:
    """The mesh box (x0, y0, x1, y1) of every frame of a track: T x 4 float64, NaN where it has no face."""
    out = np.full((len(track.valid), 4), np.nan)
    for t in np.flatnonzero(track.valid):
        out[t] = mesh_box(track.points[t])
    return out


def track_faces(frames: Iterable[np.ndarray], n_frames: int, cfg: FaceMeshConfig | None = None,
                actor: ActorIdentity | None = None, identity: FaceIdentityConfig | None = None,
                follow: np.ndarray | None = None) -> FaceTrack:
    """Run the face mesh over RGB frames (each H x W x 3 uint8).

    Returns a :class:`FaceTrack` of ``n_frames`` entries; frames without a face are marked
    invalid, never fatal. Up to ``cfg.max_faces`` faces are meshed per frame and the actor's
    is followed through the shot by a :class:`FaceChooser`; the per-frame face counts, boxes
    and choices are kept on the track for QA. With ``actor`` (a still's descriptor) the actor's
    face is picked by identity (``identity``: its threshold and checks), else by ``cfg.choose``.

    follow: T x 4 boxes (x0, y0, x1, y1; :func:`track_boxes` of the actor's track) or 1 x 4 (one box for
    every frame): where a row is finite, the face taken is the one that best continues that box (within
    ``cfg.max_jump``, else none), whatever the rule. For frames derived from the actor's (the virtual
    dubber, the dubbed output), so that they are measured on the shot's face, not on the largest.
    """
    import mediapipe as mp  # heavy import: only where the tracker runs

    cfg = cfg or FaceMeshConfig()
    points = np.full((n_frames, N_POINTS, 3), np.nan, np.float32)
    valid = np.zeros(n_frames, bool)
    faces = np.zeros(n_frames, np.int16)
    boxes = np.full((n_frames, cfg.max_faces, 4), np.nan, np.float32)
    chosen = np.full(n_frames, -1, np.int16)
    acquired = np.zeros(n_frames, bool)
    described = np.zeros(n_frames, np.int16)
    actor_distance = np.full(n_frames, np.nan, np.float32)
    chooser = FaceChooser(cfg.choose, cfg.max_jump, None if actor is None else actor.descriptor, identity)
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=not cfg.tracking,
        max_num_faces=cfg.max_faces,
        refine_landmarks=True,
        min_detection_confidence=cfg.min_detection_confidence,
        min_tracking_confidence=cfg.min_tracking_confidence,
    ) as mesh:
        for t, frame in enumerate(frames):
            if t >= n_frames:
                break
            h, w = frame.shape[:2]
            result = mesh.process(np.ascontiguousarray(frame))
            meshes = [np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32) * np.array([w, h, w], np.float32)
                      for face in (result.multi_face_landmarks or [])]
            face_boxes = [mesh_box(m) for m in meshes]
            kept = distinct_faces(face_boxes, chooser.previous)
            # left to right, so that the recorded order does not depend on MediaPipe's
            kept.sort(key=lambda i: (_centre(face_boxes[i])[0], _centre(face_boxes[i])[1]))
            meshes = [meshes[i] for i in kept]
            face_boxes = [face_boxes[i] for i in kept]
            faces[t] = len(meshes)
            if meshes:
                boxes[t, :len(meshes)] = np.array(face_boxes)
            describe = None if actor is None else (lambda j: describe_face(actor.model, frame, meshes[j]))
            wanted = None if follow is None else follow[t if len(follow) > 1 else 0]
            if wanted is not None and np.isfinite(wanted).all():
                index = _nearest(face_boxes, wanted, cfg.max_jump)
            else:
                index, acquired[t] = chooser.step(face_boxes, w, h, describe)
            described[t] = len(chooser.distances)
            if index is None:
                continue
            points[t] = meshes[index]
            valid[t] = True
            chosen[t] = index
            actor_distance[t] = chooser.distances.get(index, np.nan)
    track = FaceTrack(points, valid, faces, boxes, chosen, acquired,
                      *((described, actor_distance) if actor is not None else ()))
    _log_choices(track, cfg)
    return track


def _nearest(boxes: list[np.ndarray], wanted: np.ndarray, max_jump: float) -> int | None:
    """Index of the box that best continues ``wanted`` (:func:`continuity_cost`); None when none is within
    ``max_jump``."""
    if not boxes:
        return None
    costs = [continuity_cost(b, wanted) for b in boxes]
    index = int(np.argmin(costs))
    return index if costs[index] <= max_jump else None


def _log_choices(track: FaceTrack, cfg: FaceMeshConfig) -> None:
    n_frames = len(track.valid)
    missing = int((~track.valid).sum())
    if missing:
        log.info("no face in %d of %d frames", missing, n_frames)
    several = int((track.faces > 1).sum())
    if several:
        how = "identity (a still)" if track.described is not None else f"'{cfg.choose}'"
        log.info("%d faces at most, several in %d of %d frames; the actor's picked by %s at frames %s",
                 int(track.faces.max()), several, n_frames, how, np.flatnonzero(track.acquired).tolist())
    if track.described is not None:
        log.info("identity: %d face descriptors in %d of %d frames; the actor's distance to the still %s",
                 int(track.described.sum()), int((track.described > 0).sum()), n_frames,
                 "n/a" if np.isnan(track.actor_distance).all()
                 else f"{np.nanmin(track.actor_distance):.3f}-{np.nanmax(track.actor_distance):.3f}")
    lost = int(((track.faces > 0) & ~track.valid).sum())
    if lost:
        log.warning("actor's face lost in %d of %d frames where other faces were seen (gate max_jump %.2f%s): "
                    "marked faceless rather than switching person", lost, n_frames, cfg.max_jump,
                    "; none like the still" if track.described is not None else "")


def track_image(image: np.ndarray) -> np.ndarray | None:
    """Mesh of a single RGB image: 478 x 3 pixels, or None when no face is found."""
    track = track_faces([image], 1, FaceMeshConfig(tracking=False))
    return track.points[0] if track.valid[0] else None


def load_track(path: str | Path) -> FaceTrack:
    """Read a face track written by :func:`vdub.face.stages.face_geometry`."""
    return FaceTrack.from_npz(load_npz(path))
