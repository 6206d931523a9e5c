"""Section 2.2 stages, file to file: crops and masks, self-reenactment pairs, the swapper's training
(per shot, per actor, generic pretraining) and the reenactment (rules actor_crops, masks, self_pairs,
pretrain, train_actor, train_swapper, reenact).

The face environment runs the crop and mask stages: torch is imported inside the functions that train."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import load_frames, load_npz, resume_path_for, save_npz
from vdub.face import landmarks as lm
from vdub.face.config import FaceMeshConfig, MaskConfig, SmoothingConfig
from vdub.face.crop import crop, crop_boxes, crop_units, trainable
from vdub.face.head_masks import crop_masks, crop_mouth_mask
from vdub.face.mesh import load_track
from vdub.face.segmentation import person_segmentation
from vdub.reenactment.config import LossWeights, PasteConfig, SelfPairsConfig, SwapperConfig, TrainConfig
from vdub.training.early_stop import EarlyStop, score_frames
from vdub.virtual_dubber.config import AlignConfig, ReferenceConfig, VirtualDubberConfig
from vdub.virtual_dubber.reference_frame import pick_reference

log = logging.getLogger(__name__)


def actor_crops(shot: str, actor_frames: Path, actor_mesh: Path, out_crops: Path, crop_size: int,
                cfg: MaskConfig, occluders: Path | None = None) -> dict:
    """Head crops and soft masks of the actor frames alone (no dubber in them).

    Writes ``boxes`` (T x 3: cx, cy, side in frame pixels), ``valid`` (T: actor face found),
    ``actor`` (T x S x S x 3 uint8), ``actor_masks`` (T x 3 x S x S uint8; head, eyes,
    mouth) and ``actor_points`` (T x 478 x 2 float32: the actor's mesh in crop units, 0..1
    across the box; NaN without a face). Kept apart from the composite crops so that the per-actor model, trained on
    these, does not depend on any dubber take. ``trainable`` (T): the valid frames with no
    occluder on the head (the rule visibility's ``occluders``): only those are training
    targets, so that the network never learns to draw a hand or a cup onto the face.
    """
    actor = load_frames(actor_frames)
    occluder_frames = load_frames(occluders) if occluders is not None else None
    track = load_track(actor_mesh)
    t_count, s = len(actor), crop_size
    if track.valid.any():
        boxes = crop_boxes(track.points, track.valid, cfg)
    else:  # no face in the shot: nothing is cut for training; a centred box keeps the arrays' shapes
        h, w = actor.shape[1:3]
        boxes = np.tile(np.array([w / 2, h / 2, min(h, w)], np.float32), (t_count, 1))
    out = {"boxes": boxes, "valid": track.valid.copy(), "actor": np.zeros((t_count, s, s, 3), np.uint8),
           "actor_masks": np.zeros((t_count, 3, s, s), np.uint8),
           "actor_points": np.full((t_count, lm.N_POINTS, 2), np.nan, np.float32),
           "trainable": track.valid.copy()}
    for t, person in enumerate(person_segmentation(iter(actor), t_count)):
        out["actor"][t] = crop(np.asarray(actor[t]), boxes[t], s)
        if track.valid[t]:
            own = crop_masks(person, track.points[t], boxes[t], s, cfg)
            out["actor_masks"][t] = np.round(own * 255).astype(np.uint8)
            out["actor_points"][t] = crop_units(track.points[t], boxes[t])
            if occluder_frames is not None and occluder_frames[t].any():
                occluder = crop(np.asarray(occluder_frames[t]), boxes[t], s, interpolation=cv2.INTER_LINEAR)
                out["trainable"][t] = not ((occluder > 0) & (own[0] > 0.1)).any()
    save_npz(out_crops, **out)
    if (track.valid & ~out["trainable"]).any():
        log.info("shot %s: %d frames with an occluder on the head are no training targets",
                 shot, int((track.valid & ~out["trainable"]).sum()))
    return {"frames": t_count, "valid": int(track.valid.sum()), "trainable": int(out["trainable"].sum())}



def masks(shot: str, actor_crops_path: Path, composite_frames: Path, aligned_mesh: Path, out_crops: Path,
          cfg: MaskConfig) -> dict:
    """Composite crops and masks in the actor's crop boxes, bundled with the actor's crops.

    Writes ``boxes`` and the actor crops as in :func:`actor_crops`, ``valid`` (T: frames the
    network is trained on and reenacts: a face in the actor and an aligned virtual
    dubber), ``composite`` (T x S x S x 3 uint8) and ``composite_masks`` (T x 3 x S x S):
    the actor's head and eye masks (the composite's head is the actor's) with the mouth
    mask of the aligned virtual dubber's lips.
    """
    own = load_npz(actor_crops_path)
    composite = load_frames(composite_frames)
    aligned = load_npz(aligned_mesh)
    boxes, s = own["boxes"], own["actor"].shape[1]
    valid = own["valid"].astype(bool) & aligned["valid"].astype(bool)
    t_count = len(composite)
    out = {"boxes": boxes, "valid": valid, "trainable": valid & trainable(own), "actor": own["actor"],
           "actor_masks": own["actor_masks"],
           "actor_points": own["actor_points"], "composite": np.zeros((t_count, s, s, 3), np.uint8),
           "composite_masks": np.zeros((t_count, 3, s, s), np.uint8)}
    for t in range(t_count):
        out["composite"][t] = crop(np.asarray(composite[t]), boxes[t], s)
        if valid[t]:
            out["composite_masks"][t, :2] = own["actor_masks"][t, :2]
            mouth = crop_mouth_mask(aligned["points"][t], boxes[t], s, cfg)
            out["composite_masks"][t, 2] = np.round(mouth * 255).astype(np.uint8)
    save_npz(out_crops, **out)
    return {"frames": t_count, "valid": int(valid.sum())}


def self_pairs(shot: str, actor_frames: Path, actor_mesh: Path, actor_crops_path: Path, override: int | None,
               out_pairs: Path, cfg: SelfPairsConfig, dubber_cfg: VirtualDubberConfig, align_cfg: AlignConfig,
               smoothing: SmoothingConfig, mesh_cfg: FaceMeshConfig, mask_cfg: MaskConfig,
               reference_cfg: ReferenceConfig, visibility: Path | None = None) -> dict:
    """The self-reenactment pairs of a shot (:mod:`vdub.reenactment.self_reenactment`): actor side only.

    The actor's reference frame is picked here exactly as the ``reference`` stage picks it
    (same scores, ``reference_cfg``, same override), so that these pairs never wait for, nor
    re-run with, a dubber take; the builtin dubber, the alignment, the face mesh and the masks
    are those of the shot's inference (with the rule visibility's file, reference and inner mouths
    from frames with nothing in front of the face).
    """
    from vdub.face.visibility import clean_track, load_visibility
    from vdub.reenactment.self_reenactment import build_self_pairs, save_no_pairs

    track = load_track(actor_mesh)
    if not track.valid.any():  # no face in the shot: no pairs (the reference stage says why)
        return save_no_pairs(out_pairs, len(track.valid), load_npz(actor_crops_path)["actor"].shape[1], cfg)
    seen = load_visibility(visibility) if visibility is not None else None
    clean = clean_track(track, seen)
    ref = pick_reference(shot, "actor", actor_frames, clean, override, reference_cfg)["frame"]
    return build_self_pairs(shot, actor_frames, actor_mesh, actor_crops_path, ref, out_pairs, cfg, dubber_cfg,
                            align_cfg, smoothing, mesh_cfg, mask_cfg, mouth_frames=clean.valid)


def _without(arrays: tuple[np.ndarray, ...], rows: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, ...]:
    """The given rows (frame indices) of each array, less the held-out frames."""
    keep = np.setdiff1d(rows, held)
    return tuple(a[keep] for a in arrays)


def _self_pair_data(pairs_paths: list[Path], crops_paths: list[Path], use: bool
                    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, list[np.ndarray]]:
    """Training pairs of several shots, concatenated (None unless ``use``), and each shot's held-out frames.

    The held-out frames are kept out of training whether or not the pairs are used, so that
    their score is never of frames the network has seen. ``pairs_paths`` empty: no pairs
    and nothing held out.
    """
    from vdub.reenactment.self_reenactment import training_pairs

    if not pairs_paths:
        return None, [np.zeros(0, np.int64) for _ in crops_paths]
    parts, held = [], []
    for pairs_path, crops_path in zip(pairs_paths, crops_paths, strict=True):
        pairs, shot_held = training_pairs(load_npz(pairs_path), load_npz(crops_path))
        parts.append(pairs)
        held.append(shot_held)
    if not use:
        return None, held
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3)), held  # type: ignore[return-value]


def _held_out_score(pairs_paths: list[Path], crops_paths: list[Path], stop: EarlyStop | None, detail: float
                    ) -> Callable[[Any], float] | None:
    """The swapper's early-stop score over these shots' held-out self-reenactment frames: their repair as
    pasted with ``detail`` (:func:`vdub.reenactment.self_reenactment.repaired_psnr`); None without an active
    stop or pairs."""
    from vdub.reenactment.self_reenactment import HeldOut, repaired_psnr

    if stop is None or not stop.active or not pairs_paths:
        return None
    held = HeldOut.join([HeldOut.of(load_npz(p), load_npz(c)) for p, c in zip(pairs_paths, crops_paths, strict=True)])
    if not len(held):
        log.warning("no held-out self-reenactment frame to score: the swapper trains to its ceiling")
        return None
    return functools.partial(repaired_psnr, held=held.subset(score_frames(len(held))), detail=detail)


def train_swapper(shot: str, crops_path: Path, out_model: Path, out_losses: Path, net_cfg: SwapperConfig,
                  train_cfg: TrainConfig, weights: LossWeights, init_model: Path | None = None,
                  self_pairs: Path | None = None, stop: EarlyStop | None = None, detail: float = 1.0) -> dict:
    """Train the identity-swapping network on the shot's actor and composite crops.

    The actor decoder learns to reconstruct actor crops, the dubber decoder the composite
    crops (actor frame + lower part of the aligned virtual dubber): the very input it
    reenacts later. Frames without a face in both are left out. With ``init_model`` (the
    actor's model, see :func:`train_actor`, or the generic pretrained one) the run
    fine-tunes from it. With ``self_pairs`` (:mod:`vdub.reenactment.self_reenactment`) the held-out
    frames are kept out of every actor-side example, and ``train.self_pair_share`` of the
    actor decoder's batches are self-reenactment pairs; with an active ``stop`` the network's
    repair of the held-out frames, pasted with ``detail`` (the preset's ``paste.detail``), is
    scored as it trains, and training ends at the plateau.
    """
    from vdub.reenactment.swapper.train import fit_swapper, save_untrained_swapper

    data = load_npz(crops_path)
    valid = trainable(data)
    if not valid.any():
        log.warning("shot %s: %s: no frame with a face free of occluders: the swapper is not trained (the shot's "
                    "frames pass through)", shot, crops_path)
        return save_untrained_swapper(net_cfg, out_model, out_losses, "no frame with a face", init_from=init_model)
    pairs, (held,) = _self_pair_data([self_pairs] if self_pairs else [], [crops_path],
                                     use=train_cfg.self_pair_share > 0)
    rows = np.flatnonzero(valid)
    actor, actor_masks = _without((data["actor"], data["actor_masks"]), rows, held)
    score = _held_out_score([self_pairs] if self_pairs else [], [crops_path], stop, detail)
    summary = fit_swapper(actor, actor_masks, data["composite"][valid], data["composite_masks"][valid], net_cfg,
                          train_cfg, weights, out_model, resume_path_for(out_model), out_losses, init_from=init_model,
                          self_pairs=pairs, score=score, early_stop=stop)
    log.info("shot %s: swapper trained%s (%d frames held out): %s", shot,
             f" from {init_model}" if init_model else "", len(held), summary)
    return summary


def _train_on_one_subject(crops: np.ndarray, crop_masks_: np.ndarray, net_cfg: SwapperConfig,
                          train_cfg: TrainConfig, weights: LossWeights, out_model: Path, out_losses: Path,
                          init_model: Path | None,
                          self_pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                          score: Callable[[Any], float] | None = None, stop: EarlyStop | None = None) -> dict:
    """Train both decoders to reconstruct the same crops (N x S x S x 3, masks N x 3 x S x S).

    Without ``self_pairs`` (generic pretraining has no video to build them from) the
    preset's self-pair share is ignored. ``score``, ``stop``: the early stop (:func:`fit_swapper`).
    """
    import dataclasses

    from vdub.reenactment.swapper.train import fit_swapper

    if self_pairs is None:
        train_cfg = dataclasses.replace(train_cfg, self_pair_share=0.0)
    return fit_swapper(crops, crop_masks_, crops, crop_masks_, net_cfg, train_cfg, weights, out_model,
                       resume_path_for(out_model), out_losses, init_from=init_model, self_pairs=self_pairs,
                       score=score, early_stop=stop)


def pretrain(faces_dir: Path, out_model: Path, out_losses: Path, net_cfg: SwapperConfig, train_cfg: TrainConfig,
             weights: LossWeights, mask_cfg: MaskConfig) -> dict:
    """Generic pretraining (the paper's CelebA-HQ stage): both decoders on a folder of faces, cut to crops of
    ``net_cfg.crop_size`` with ``mask_cfg``."""
    from vdub.reenactment.pretraining_faces import face_crops, face_images

    paths = face_images(faces_dir)
    crops, masks_, skipped = face_crops(paths, net_cfg.crop_size, mask_cfg)
    if len(crops) < 2:
        raise ShotError(None, faces_dir, f"pretraining needs face images: {len(crops)} of {len(paths)} files "
                                         f"have a face")
    summary = _train_on_one_subject(crops, masks_, net_cfg, train_cfg, weights, out_model, out_losses, None)
    log.info("pretraining on %d faces (%d files skipped): %s", len(crops), len(skipped), summary)
    return {**summary, "faces": len(crops), "skipped": skipped}


def train_actor(actor: str, crops_paths: list[Path], out_model: Path, out_losses: Path, net_cfg: SwapperConfig,
                train_cfg: TrainConfig, weights: LossWeights, init_model: Path | None = None,
                self_pairs: list[Path] | None = None, stop: EarlyStop | None = None, detail: float = 1.0) -> dict:
    """The per-actor model: both decoders learn the actor's own crops from all of the actor's shots.

    No dubber take enters it, so a new take re-trains only the shot's short fine-tune. The
    dubber decoder starts from the actor's face, which is what the composites mostly are.
    ``init_model``: the generic pretrained model, when there is one. ``self_pairs``: each
    shot's self-reenactment pairs (in the order of ``crops_paths``), mixed into the actor
    decoder's batches; their held-out frames are left out, and with an active ``stop`` scored
    as it trains (all shots' together, pasted with ``detail``), ending training at the plateau.
    """
    pairs, held = _self_pair_data(list(self_pairs or []), crops_paths, use=train_cfg.self_pair_share > 0)
    crops, crop_masks_ = [], []
    for path, shot_held in zip(crops_paths, held):
        data = load_npz(path)
        own, own_masks = _without((data["actor"], data["actor_masks"]), np.flatnonzero(trainable(data)), shot_held)
        crops.append(own)
        crop_masks_.append(own_masks)
    crops_all, masks_all = np.concatenate(crops), np.concatenate(crop_masks_)
    if len(crops_all) == 0:
        from vdub.reenactment.swapper.train import save_untrained_swapper

        log.warning("actor %s: no frame with a face over %d shots: the actor's model is not trained", actor,
                    len(crops_paths))
        return save_untrained_swapper(net_cfg, out_model, out_losses, "no frame with a face", init_from=init_model)
    score = _held_out_score(list(self_pairs or []), crops_paths, stop, detail)
    summary = _train_on_one_subject(crops_all, masks_all, net_cfg, train_cfg, weights, out_model, out_losses,
                                    init_model, pairs, score, stop)
    log.info("actor %s: model trained on %d frames of %d shots: %s", actor, len(crops_all), len(crops_paths),
             summary)
    return summary


def reenact(shot: str, actor_frames: Path, composite_frames: Path, crops_path: Path, model_path: Path,
            out_swapped: Path, out_frames: Path, paste: PasteConfig, occluders: Path | None = None,
            visibility: Path | None = None) -> None:
    """Composite crops through the actor decoder; paste the whole head back with the head mask.

    Writes the swapped head crops (T x S x S x 3, the super-resolution stage's input) and
    the frames with the heads pasted at crop resolution (the pipeline without SR);
    ``paste.detail`` chooses the paste (:mod:`vdub.reenactment.compositing`: 0 the paper's, 1
    the corrective one on the full-resolution composite frames). occluders, visibility: the rule
    visibility's outputs, the gate of the paste (:func:`vdub.reenactment.compositing.paste_heads`).
    """
    from vdub.core.io import save_frames
    from vdub.reenactment.compositing import paste_heads, visibility_gate
    from vdub.reenactment.swapper.inference import load_swapper, swap

    data = load_npz(crops_path)
    model = load_swapper(model_path)
    head_masks = data["composite_masks"][:, 0]
    swapped = swap(model, data["composite"], head_masks, decoder="actor")
    save_frames(out_swapped, swapped)
    colour = paste_heads(load_frames(actor_frames), swapped, data["composite_masks"], data["actor"], data["boxes"],
                         data["valid"], data["actor_points"], paste, out_frames,
                         composite=load_frames(composite_frames), inputs=data["composite"],
                         **visibility_gate(occluders, visibility))
    log.info("shot %s: head colour vs actor (Lab, CIE76) %.2f before, %.2f after correction", shot,
             colour["head_delta_e_before"], colour["head_delta_e_after"])
