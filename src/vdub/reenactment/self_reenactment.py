"""Self-reenactment pairs: the ground truth of the repair (not in the paper).

At inference the network sees a *composite*: the actor frame with the lower face of the
virtual dubber (the actor's reference frame driven by the dubber) aligned onto it. Nothing
in the footage shows what that frame should have looked like. But the actor speaks in the
footage: drive the actor's reference frame with the actor's *own* face track through the
same builtin virtual-dubber backend, track it, align and composite it exactly as the dubbed
composites are, and the result is a composite whose true answer is known: the real actor
frame. The inner mouth is filled the way inference fills it, from the actor frame of
nearest inner-lip shape, but never from the target frame or its ``exclude_window``
neighbours (that would hand the answer to the network).

These pairs train the actor decoder to turn a composite into a real frame (the swapper's
``train.self_pair_share``), and every ``holdout_every``-th pair is kept out of training and
scored: the project's one measure against a true answer (lower-face PSNR and SSIM, LPIPS
where its weights exist), for the composite itself and for the network's repair of it.

The pairs use only the actor's footage, so a new dubber take never rebuilds them. The
virtual dubber here is always the builtin backend (a LivePortrait-driven self-pair would
need LivePortrait's GPU run on the actor's own video; not built yet).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import FrameWriter, load_frames, load_npz, save_npz
from vdub.face.config import FaceMeshConfig, MaskConfig, SmoothingConfig
from vdub.face.crop import crop, trainable
from vdub.face.head_masks import crop_mouth_mask
from vdub.face.mesh import FaceTrack, mesh_box, track_faces
from vdub.face.warp import triangulate
from vdub.reenactment.compositing import blend_corrected, still_weight
from vdub.reenactment.config import PasteConfig, SelfPairsConfig
from vdub.virtual_dubber.alignment import render_aligned, rigid_transforms, smooth_track
from vdub.virtual_dubber.builtin import MouthLibrary, log_mouth_sources, render_virtual_dubber
from vdub.virtual_dubber.config import AlignConfig, VirtualDubberConfig

log = logging.getLogger(__name__)

#: Frames with a face from which a shot is long enough that fewer than 2 self-reenactment pairs
#: means the actor's own track failed to align (an error), not that the shot is short (a warning).
_SHORT_SHOT = 10


def holdout_frames(valid: np.ndarray, every: int) -> np.ndarray:
    """Every ``every``-th frame among those with a pair (indices into the shot)."""
    return np.flatnonzero(valid)[every - 1::every]


def lower_face_mask(points: np.ndarray, head: np.ndarray, ramp: float) -> np.ndarray:
    """Where a dub changes the face: the head below the nose, S x S float32 in [0, 1].

    points: 478 x 2 actor mesh in crop units; head: S x S head mask in [0, 1]; ramp: the
    fade below the nose tip in face heights (the complement of the stabiliser's still part).
    """
    size = head.shape[0]
    return (1.0 - still_weight(points, size, np.zeros((size, size), np.float32), ramp)) * head


def build_self_pairs(shot: str, actor_frames: Path, actor_mesh: Path, actor_crops: Path, reference_frame: int,
                     out_npz: Path, cfg: SelfPairsConfig, dubber_cfg: VirtualDubberConfig, align_cfg: AlignConfig,
                     smoothing: SmoothingConfig, face_cfg: FaceMeshConfig, mask_cfg: MaskConfig,
                     mouth_frames: np.ndarray | None = None) -> dict[str, Any]:
    """Render, align and composite the actor driven by the actor; write the pairs.

    mouth_frames: T bool, the frames the inner mouths may come from (None: every frame with a face).

    Writes ``out_npz`` with ``valid`` (T: a pair exists), ``composite`` (T x S x S x 3
    uint8: the self-composite in the actor's crop boxes, the network's input),
    ``composite_mouth`` (T x S x S uint8: the aligned self-dubber's mouth mask; head and eye
    masks are the actor's), ``mouth_source`` (T: the actor frame each inner mouth came
    from, -2 none), ``holdout`` (N frame indices) and, for them at ``score_size``,
    ``holdout_composite`` / ``holdout_actor`` (N x R x R x 3) and ``holdout_head`` /
    ``holdout_lower`` (N x R x R uint8 masks). Targets and loss masks of the other frames
    are the actor crops themselves (``actor_crops``).
    """
    actor = load_frames(actor_frames)
    raw = FaceTrack.from_npz(load_npz(actor_mesh))
    crops = load_npz(actor_crops)
    boxes, s = crops["boxes"], crops["actor"].shape[1]
    t_count, h, w = actor.shape[:3]
    if not raw.valid[reference_frame]:
        raise ShotError(shot, actor_mesh, f"reference frame {reference_frame} has no face")
    track = smooth_track(raw, smoothing)
    reference = np.array(actor[reference_frame])
    reference_points = track.points[reference_frame].astype(np.float64)
    self_cfg = dataclasses.replace(dubber_cfg, mouth_source="actor")
    mouths = MouthLibrary(track.points, track.valid if mouth_frames is None else track.valid & mouth_frames,
                          reference_points)

    scratch = Path(out_npz).with_name("self_dubber.tmp.npy")
    sources: list[int] = []
    try:
        with FrameWriter(scratch, t_count, h, w) as writer:
            for frame, _ in render_virtual_dubber(reference, reference_points, actor, track.points, track.valid,
                                                  reference_frame, self_cfg, actor, mouths,
                                                  exclude_window=cfg.exclude_window, sources=sources):
                writer.write(frame)
        rendered = load_frames(scratch)
        # The self-dubber's face stays where the reference frame's is (other people in it stay too).
        follow = mesh_box(raw.points[reference_frame])[None]
        vd_track = smooth_track(track_faces(iter(rendered), t_count, face_cfg, follow=follow), smoothing)
        out = _composite_pairs(actor, rendered, track, vd_track, boxes, crops, s, cfg, align_cfg, mask_cfg)
    finally:
        scratch.unlink(missing_ok=True)
    out["mouth_source"] = np.asarray(sources, np.int32)
    save_npz(out_npz, **out)
    log_mouth_sources(shot, "self-reenactment", sources)
    summary = {"frames": t_count, "pairs": int(out["valid"].sum()), "held_out": len(out["holdout"])}
    log.info("shot %s: self-reenactment pairs from reference frame %d: %s", shot, reference_frame, summary)
    if summary["pairs"] < 2 and raw.valid.sum() >= _SHORT_SHOT:
        raise ShotError(shot, actor_frames, f"only {summary['pairs']} self-reenactment pairs: the actor's own "
                                            "track could not be aligned onto the actor")
    if summary["pairs"] < 2:
        log.warning("shot %s: only %d self-reenactment pairs (a shot of %d frames with a face): the repair learns "
                    "from the actor's crops alone", shot, summary["pairs"], int(raw.valid.sum()))
    return summary


def _no_pairs(t_count: int, size: int, score_size: int, held: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a pairs file, all empty: T frames of crops ``size``, ``held`` held-out slots of ``score_size``."""
    r = score_size
    return {"valid": np.zeros(t_count, bool), "composite": np.zeros((t_count, size, size, 3), np.uint8),
            "composite_mouth": np.zeros((t_count, size, size), np.uint8), "holdout": np.zeros(held, np.int64),
            "holdout_composite": np.zeros((held, r, r, 3), np.uint8),
            "holdout_actor": np.zeros((held, r, r, 3), np.uint8),
            "holdout_head": np.zeros((held, r, r), np.uint8), "holdout_lower": np.zeros((held, r, r), np.uint8)}


def save_no_pairs(out_npz: Path, t_count: int, size: int, cfg: SelfPairsConfig) -> dict[str, Any]:
    """The pairs file of a shot without a face: no pair, nothing held out."""
    save_npz(out_npz, **_no_pairs(t_count, size, cfg.score_size), mouth_source=np.full(t_count, -2, np.int32))
    return {"frames": t_count, "pairs": 0, "held_out": 0}


def _composite_pairs(actor: Any, rendered: Any, track: FaceTrack, vd_track: FaceTrack, boxes: np.ndarray,
                     crops: dict[str, np.ndarray], s: int, cfg: SelfPairsConfig, align_cfg: AlignConfig,
                     mask_cfg: MaskConfig) -> dict[str, np.ndarray]:
    """Align and composite every self-rendered frame as :func:`vdub.virtual_dubber.stages.align` does; cut the crops."""
    t_count = len(actor)
    transforms = rigid_transforms(vd_track, track, align_cfg.scale_mode, align_cfg.scale_window)
    valid = np.array([tr is not None for tr in transforms]) & trainable(crops)
    if not vd_track.valid.any():
        return _no_pairs(t_count, s, cfg.score_size)
    triangles = triangulate(vd_track.points[np.flatnonzero(vd_track.valid)[0], :, :2])
    held = holdout_frames(valid, cfg.holdout_every)
    r = cfg.score_size
    out = _no_pairs(t_count, s, r, len(held))
    out.update(valid=valid, holdout=held)
    slot = {int(t): i for i, t in enumerate(held)}
    for t in np.flatnonzero(valid):
        frame = np.array(actor[t])
        _, composite, points, _ = render_aligned(frame, track.points[t], np.array(rendered[t]), vd_track.points[t],
                                                 transforms[t], align_cfg, triangles)
        out["composite"][t] = crop(composite, boxes[t], s)
        out["composite_mouth"][t] = np.round(crop_mouth_mask(points, boxes[t], s, mask_cfg) * 255).astype(np.uint8)
        if t in slot:
            i = slot[t]
            out["holdout_composite"][i] = crop(composite, boxes[t], r)
            out["holdout_actor"][i] = crop(frame, boxes[t], r)
            head = cv2.resize(crops["actor_masks"][t, 0].astype(np.float32) / 255.0, (r, r),
                              interpolation=cv2.INTER_LINEAR)
            out["holdout_head"][i] = np.round(head * 255).astype(np.uint8)
            lower = lower_face_mask(crops["actor_points"][t], head, cfg.lower_face_ramp)
            out["holdout_lower"][i] = np.round(lower * 255).astype(np.uint8)
    return out


def training_pairs(pairs: dict[str, np.ndarray], crops: dict[str, np.ndarray]
                   ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The pairs the swapper trains on, and the held-out frames it must not see.

    pairs: a ``self_pairs.npz``; crops: the shot's ``crops.npz`` (actor crops and masks).
    Returns ``((inputs N x S x S x 3, targets N x S x S x 3, masks N x 3 x S x S), held)``:
    inputs the self-composites, targets the actor crops, masks the actor's (head, eyes) with
    the mouth mask of the self-composite's lips, for every pair not held out.
    """
    held = np.asarray(pairs["holdout"], np.int64)
    use = pairs["valid"].astype(bool).copy()
    use[held] = False
    idx = np.flatnonzero(use)
    masks = np.array(crops["actor_masks"][idx])
    masks[:, 2] = np.maximum(masks[:, 2], pairs["composite_mouth"][idx])
    return (pairs["composite"][idx], crops["actor"][idx], masks), held


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """Held-out self-reenactment frames: what the network repairs and what the repair is scored against.

    inputs: N x S x S x 3 uint8 self-composites (the network's input); heads: N x S x S uint8
    their head masks (its fourth channel); at the scoring size R: actor N x R x R x 3 uint8 the
    real frames, composite N x R x R x 3 uint8 the self-composites, alpha N x R x R uint8 the
    head mask the repair is blended through, lower N x R x R bool the lower face (where a dub
    changes the face).
    """

    inputs: np.ndarray
    heads: np.ndarray
    actor: np.ndarray
    composite: np.ndarray
    alpha: np.ndarray
    lower: np.ndarray

    @classmethod
    def of(cls, pairs: dict[str, np.ndarray], crops: dict[str, np.ndarray]) -> HeldOut:
        """The held-out frames of a ``self_pairs.npz`` and the shot's ``crops.npz``."""
        held = np.asarray(pairs["holdout"], np.int64)
        return cls(pairs["composite"][held], crops["actor_masks"][held, 0], pairs["holdout_actor"],
                   pairs["holdout_composite"], pairs["holdout_head"], pairs["holdout_lower"] > 127)

    @classmethod
    def join(cls, parts: list[HeldOut]) -> HeldOut:
        """Several shots' held-out frames as one set (the per-actor model's)."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, rows: np.ndarray) -> HeldOut:
        """The given frames only."""
        return HeldOut(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))


def repair(model, held: HeldOut, detail: float) -> tuple[np.ndarray, np.ndarray]:
    """The network's repair of the held-out self-composites, pasted as inference pastes it.

    model: a :class:`vdub.reenactment.swapper.network.IdentitySwapper`; detail: the preset's
    ``paste.detail`` (no colour match or stabilisation: those need the neighbouring frames).
    At the scoring size R the head is inference's corrective head
    (:func:`vdub.reenactment.compositing.blend_corrected`, crops resized to R), blended into
    the actor crop through the head mask. Returns ``(repaired, network)``, both N x R x R x 3
    uint8 (``network``: its output upscaled).
    """
    from vdub.reenactment.swapper.inference import swap

    r = held.actor.shape[1]
    if not len(held):
        empty = np.zeros((0, r, r, 3), np.uint8)
        return empty, empty
    heads = swap(model, held.inputs, held.heads, decoder="actor")

    def resize(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (r, r), interpolation=cv2.INTER_LINEAR)

    def up(image: np.ndarray) -> np.ndarray:
        # A uint8 input is resized in uint8, rounded to whole grey levels (inference warps it as
        # float32); kept so that the held-out scores stay those of earlier runs, bit for bit.
        return resize(image).astype(np.float32)

    repaired, network = [], []
    for i in range(len(held)):
        residual = heads[i].astype(np.float32) - held.inputs[i].astype(np.float32)
        alpha = held.alpha[i].astype(np.float32) / 255.0
        repaired.append(blend_corrected(held.actor[i], held.composite[i], residual, held.inputs[i], alpha, detail, up))
        network.append(resize(heads[i]))
    return np.stack(repaired), np.stack(network)


def repair_holdout(model, pairs: dict[str, np.ndarray], crops: dict[str, np.ndarray], paste: PasteConfig
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`repair` of a shot's held-out frames (a ``self_pairs.npz`` and its ``crops.npz``) with the
    shot's paste settings, of which only ``detail`` applies."""
    return repair(model, HeldOut.of(pairs, crops), paste.detail)


def repaired_psnr(model, held: HeldOut, detail: float) -> float:
    """Mean lower-face PSNR (dB) of the network's repair of the held-out frames as pasted (:func:`repair`)
    against the real frames: the ``repaired`` row of :func:`score_holdout`, the early stop's score.
    NaN without held-out frames."""
    from vdub.metrics.image import psnr

    if not len(held):
        return float("nan")
    repaired, _ = repair(model, held, detail)
    return float(np.nanmean([psnr(held.actor[i], repaired[i], held.lower[i]) for i in range(len(held))]))


def score_holdout(pairs: dict[str, np.ndarray], repaired: np.ndarray, network: np.ndarray, lpips=None
                  ) -> dict[str, Any]:
    """Lower-face scores of the held-out self-reenactment frames against the real actor frames.

    pairs: a ``self_pairs.npz``; repaired, network: N x R x R x 3 uint8 from
    :func:`repair_holdout`. lpips: optional callable ``(a, b) -> N distances`` on two
    N x R x R x 3 uint8 stacks. Returns per variant (``composite``: the network's input;
    ``network``: its own output; ``repaired``: as pasted) the mean ``psnr`` and ``ssim``
    inside the lower face and ``lpips`` of the head crops (None without weights), and the
    held-out frame indices.
    """
    from vdub.metrics.image import psnr, ssim

    target = pairs["holdout_actor"]
    lower = pairs["holdout_lower"] > 127
    variants = {"composite": pairs["holdout_composite"], "network": network, "repaired": repaired}
    result: dict[str, Any] = {"frames": [int(t) for t in pairs["holdout"]]}
    for name, images in variants.items():
        n = len(target)
        result[name] = {
            "psnr": float(np.nanmean([psnr(target[i], images[i], lower[i]) for i in range(n)])) if n else None,
            "ssim": float(np.nanmean([ssim(target[i], images[i], lower[i]) for i in range(n)])) if n else None,
            "lpips": float(np.mean(lpips(target, images))) if lpips is not None and n else None,
        }
    return result
