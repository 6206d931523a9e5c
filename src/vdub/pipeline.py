"""The per-shot stages as file-to-file functions: what each Snakemake rule runs.

Each function reads its inputs, calls the component modules, and writes its outputs
atomically; none of them knows about Snakemake. Frames travel between stages as
memory-mapped ``.npy`` arrays (see :mod:`vdub.io`), meshes and crops as ``.npz``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import geometry_qa
from . import landmarks as lm
from .alignment import AlignConfig, render_aligned, rigid_transforms, smooth_track, stable_residual
from .errors import ShotError
from .evaluation import EvaluationConfig
from .face_mesh import FaceMeshConfig, FaceTrack, person_segmentation, track_faces
from .io import FrameWriter, load_frames, load_json, load_npz, save_json, save_npz
from .masks import MaskConfig, crop, crop_boxes, crop_masks, crop_mouth_mask, crop_units
from .reference import ReferenceConfig, score_frames, select_reference
from .smoothing import SmoothingConfig, savgol_track
from .stabilise import StabiliseConfig
from .virtual_dubber import VirtualDubberConfig, render_virtual_dubber
from .warp import triangulate

if TYPE_CHECKING:  # torch is imported by the stages that train, not by every stage
    from .super_resolution import SRConfig

log = logging.getLogger(__name__)


def load_track(path: str | Path) -> FaceTrack:
    """Read a face track written by :func:`face_geometry`."""
    return FaceTrack.from_npz(load_npz(path))


def face_geometry(shot: str, frames_path: Path, out_mesh: Path, cfg: FaceMeshConfig) -> dict:
    """Track the face mesh through a frames file; frames without a face are marked invalid."""
    frames = load_frames(frames_path)
    track = track_faces(iter(frames), len(frames), cfg)
    save_npz(out_mesh, **track.to_npz())
    summary = {"frames": len(frames), "frames_with_face": int(track.valid.sum())}
    log.info("shot %s: %s: face in %d/%d frames", shot, frames_path, summary["frames_with_face"], len(frames))
    return summary


def reference(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
              override: int | None, out_json: Path, cfg: ReferenceConfig) -> dict:
    """Pick the actor's reference frame and the dubber's neutral frame; save their scores."""
    result = {}
    for role, frames_path, mesh_path, forced in (("actor", actor_frames, actor_mesh, override),
                                                  ("dubber", dubber_frames, dubber_mesh, None)):
        track = load_track(mesh_path)
        if not track.valid.any():
            raise ShotError(shot, frames_path, f"no face found in any {role} frame")
        scores = score_frames(load_frames(frames_path), track.points, track.valid, cfg)
        try:
            index = select_reference(scores, forced)
        except ValueError as err:
            raise ShotError(shot, frames_path, f"{role} reference: {err}") from None
        result[role] = {"frame": index, "overridden": forced is not None,
                        "scores": {k: np.where(np.isfinite(v), v, np.nan) for k, v in scores.items()}}
        log.info("shot %s: %s reference frame %d%s", shot, role, index, " (override)" if forced is not None else "")
    save_json(out_json, result)
    return {role: result[role]["frame"] for role in result}


def virtual_dubber(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
                   reference_json: Path, out_frames: Path, cfg: VirtualDubberConfig,
                   smoothing: SmoothingConfig) -> None:
    """Builtin virtual dubber: the actor's reference frame driven by the dubber's mouth and jaw.

    Both tracks are smoothed first (head pose and expression separately), so the dubber's
    tracking jitter does not reach the rendered mouth.
    """
    refs = load_json(reference_json)
    actor = load_frames(actor_frames)
    actor_track = smooth_track(load_track(actor_mesh), smoothing)
    dubber = load_frames(dubber_frames)
    dubber_track = smooth_track(load_track(dubber_mesh), smoothing)
    ref = refs["actor"]["frame"]
    reference_image = np.array(actor[ref])
    h, w = reference_image.shape[:2]
    with FrameWriter(out_frames, len(dubber), h, w) as writer:
        for frame, _ in render_virtual_dubber(reference_image, actor_track.points[ref].astype(np.float64), dubber,
                                              dubber_track.points, dubber_track.valid, refs["dubber"]["frame"], cfg):
            writer.write(frame)


def virtual_dubber_sheet(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
                         vd_frames: Path, reference_json: Path, out_png: Path, count: int = 6) -> list[int]:
    """Contact sheet of the virtual dubber (dubber | virtual dubber | actor reference).

    Shows ``count`` frames spread over the shot, one of them where the dubber's mouth is
    widest open. Returns the frame indices shown.
    """
    from .contact_sheet import contact_sheet, pick_frames

    track = load_track(dubber_mesh)
    opening = np.where(track.valid, lm.mouth_opening(np.nan_to_num(track.points)), np.nan)
    indices = pick_frames(opening, count)
    ref = load_json(reference_json)["actor"]["frame"]
    reference_image = np.array(load_frames(actor_frames)[ref])
    actor_track = load_track(actor_mesh)
    contact_sheet(load_frames(dubber_frames), load_frames(vd_frames), reference_image, indices, out_png,
                  dubber_points=np.where(track.valid[:, None, None], track.points, np.nan),
                  reference_points=actor_track.points[ref] if actor_track.valid[ref] else None)
    log.info("shot %s: virtual-dubber contact sheet of frames %s: %s", shot, indices.tolist(), out_png)
    return indices.tolist()


def align(shot: str, actor_frames: Path, actor_mesh: Path, vd_frames: Path, vd_mesh: Path, dubber_mesh: Path,
          out_aligned: Path, out_composite: Path, out_mesh: Path, out_qa: Path, out_plot: Path,
          cfg: AlignConfig, smoothing: SmoothingConfig) -> dict:
    """Smooth the meshes, rigidly align the virtual dubber to the actor, render and composite.

    Writes the aligned frames (whole virtual-dubber face on the actor frame), the composite
    frames (its lower part only: the network's input), the aligned mesh with the frames
    where alignment happened, and the geometry QA (JSON + PNG): jitter of the actor,
    dubber and virtual-dubber tracks before and after smoothing, the alignment scale and
    stable-point residual per frame, and the frames without a face.
    """
    actor = load_frames(actor_frames)
    vd = load_frames(vd_frames)
    raw = {"actor": load_track(actor_mesh), "dubber": load_track(dubber_mesh), "virtual_dubber": load_track(vd_mesh)}
    if not raw["virtual_dubber"].valid.any():
        raise ShotError(shot, vd_frames, "no face found in the virtual dubber's frames")
    smooth = {role: smooth_track(track, smoothing) for role, track in raw.items()}
    actor_track, vd_track = smooth["actor"], smooth["virtual_dubber"]
    transforms = rigid_transforms(vd_track, actor_track, cfg.scale_mode, cfg.scale_window)
    triangles = triangulate(vd_track.points[np.flatnonzero(vd_track.valid)[0], :, :2])
    t_count, h, w = actor.shape[:3]
    aligned_points = np.full((t_count, lm.N_POINTS, 3), np.nan, np.float32)
    valid = np.array([tr is not None for tr in transforms])
    residuals = np.full(t_count, np.nan)
    with FrameWriter(out_aligned, t_count, h, w) as aligned_out, FrameWriter(out_composite, t_count, h, w) as comp_out:
        for t in range(t_count):
            frame = np.array(actor[t])
            if transforms[t] is None:
                # No face in the actor or the virtual dubber: the frame passes through.
                aligned_out.write(frame)
                comp_out.write(frame)
                continue
            aligned, composite, points, _ = render_aligned(frame, actor_track.points[t], np.array(vd[t]),
                                                           vd_track.points[t], transforms[t], cfg, triangles)
            aligned_out.write(aligned)
            comp_out.write(composite)
            aligned_points[t] = points
            residuals[t] = stable_residual(points, actor_track.points[t])
    save_npz(out_mesh, points=aligned_points, valid=valid, actor_points=actor_track.points)
    residual_iod = residuals / np.maximum(lm.inter_ocular(np.nan_to_num(actor_track.points)), 1e-6)
    qa = {"frames": t_count, "aligned_frames": int(valid.sum()),
          "frames_without_face": {role: np.flatnonzero(~track.valid).tolist() for role, track in raw.items()},
          "jitter": {role: geometry_qa.jitter(raw[role].points, smooth[role].points, raw[role].valid)
                     for role in raw},
          "scale": [tr.scale if tr is not None else None for tr in transforms],
          "residual_px_median": float(np.nanmedian(residuals)) if valid.any() else None,
          "residual_iod_median": float(np.nanmedian(residual_iod)) if valid.any() else None,
          "residual_px": residuals, "residual_iod": residual_iod}
    save_json(out_qa, qa)
    geometry_qa.plot(qa, out_plot, f"shot {shot}: geometry QA")
    log.info("shot %s: alignment residual median %.2f px (%.2f%% inter-ocular); actor jitter %.2f -> %.2f px",
             shot, qa["residual_px_median"] or np.nan, 100 * (qa["residual_iod_median"] or np.nan),
             qa["jitter"]["actor"]["raw_px"] or np.nan, qa["jitter"]["actor"]["smoothed_px"] or np.nan)
    return qa


def actor_crops(shot: str, actor_frames: Path, actor_mesh: Path, out_crops: Path, crop_size: int,
                cfg: MaskConfig) -> dict:
    """Head crops and soft masks of the actor frames alone (no dubber in them).

    Writes ``boxes`` (T x 3: cx, cy, side in frame pixels), ``valid`` (T: actor face found),
    ``actor`` (T x S x S x 3 uint8), ``actor_masks`` (T x 3 x S x S uint8; head, eyes,
    mouth) and ``actor_points`` (T x 478 x 2 float32: the actor's mesh in crop units, 0..1
    across the box; NaN without a face). Kept apart from the composite crops so that the per-actor model, trained on
    these, does not depend on any dubber take.
    """
    actor = load_frames(actor_frames)
    track = load_track(actor_mesh)
    if not track.valid.any():
        raise ShotError(shot, actor_frames, "no face found in any actor frame")
    boxes = crop_boxes(track.points, track.valid, cfg)
    t_count, s = len(actor), crop_size
    out = {"boxes": boxes, "valid": track.valid.copy(), "actor": np.zeros((t_count, s, s, 3), np.uint8),
           "actor_masks": np.zeros((t_count, 3, s, s), np.uint8),
           "actor_points": np.full((t_count, lm.N_POINTS, 2), np.nan, np.float32)}
    for t, person in enumerate(person_segmentation(iter(actor), t_count)):
        out["actor"][t] = crop(np.asarray(actor[t]), boxes[t], s)
        if track.valid[t]:
            own = crop_masks(person, track.points[t], boxes[t], s, cfg)
            out["actor_masks"][t] = np.round(own * 255).astype(np.uint8)
            out["actor_points"][t] = crop_units(track.points[t], boxes[t])
    save_npz(out_crops, **out)
    return {"frames": t_count, "valid": int(track.valid.sum())}


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
    out = {"boxes": boxes, "valid": valid, "actor": own["actor"], "actor_masks": own["actor_masks"],
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


def _swapper_configs(settings: dict):
    from .swapper.losses import LossWeights
    from .swapper.network import SwapperConfig
    from .swapper.train import TrainConfig

    net = SwapperConfig.from_dict({**settings["swapper"], "crop_size": settings["crop_size"]})
    return net, TrainConfig.from_dict(settings["train"]), LossWeights.from_dict(settings["losses"])


def resume_path_for(out_model: Path) -> Path:
    """Where a training stage keeps its resume checkpoint: beside its final model."""
    out_model = Path(out_model)
    return out_model.with_name(out_model.name + ".resume")


def train_swapper(shot: str, crops_path: Path, out_model: Path, out_losses: Path, settings: dict,
                  init_model: Path | None = None) -> dict:
    """Train the identity-swapping network on the shot's actor and composite crops.

    The actor decoder learns to reconstruct actor crops, the dubber decoder the composite
    crops (actor frame + lower part of the aligned virtual dubber): the very input it
    reenacts later. Frames without a face in both are left out. With ``init_model`` (the
    actor's model, see :func:`train_actor`, or the generic pretrained one) the run
    fine-tunes from it.
    """
    from .swapper.train import train_swapper as train

    net_cfg, train_cfg, weights = _swapper_configs(settings)
    data = load_npz(crops_path)
    valid = data["valid"]
    if valid.sum() < 2:
        raise ShotError(shot, crops_path, f"only {int(valid.sum())} frames with a face: nothing to train on")
    summary = train(data["actor"][valid], data["actor_masks"][valid], data["composite"][valid],
                    data["composite_masks"][valid], net_cfg, train_cfg, weights, out_model,
                    resume_path_for(out_model), out_losses, init_from=init_model)
    log.info("shot %s: swapper trained%s: %s", shot, f" from {init_model}" if init_model else "", summary)
    return summary


def _train_on_one_subject(crops: np.ndarray, crop_masks_: np.ndarray, settings: dict, out_model: Path,
                          out_losses: Path, init_model: Path | None) -> dict:
    """Train both decoders to reconstruct the same crops (N x S x S x 3, masks N x 3 x S x S)."""
    from .swapper.train import train_swapper as train

    net_cfg, train_cfg, weights = _swapper_configs(settings)
    return train(crops, crop_masks_, crops, crop_masks_, net_cfg, train_cfg, weights, out_model,
                 resume_path_for(out_model), out_losses, init_from=init_model)


def pretrain(faces_dir: Path, out_model: Path, out_losses: Path, settings: dict, mask_cfg: MaskConfig) -> dict:
    """Generic pretraining (the paper's CelebA-HQ stage): both decoders on a folder of faces."""
    from .pretrain import face_crops, face_images

    paths = face_images(faces_dir)
    crops, masks_, skipped = face_crops(paths, int(settings["crop_size"]), mask_cfg)
    if len(crops) < 2:
        raise ShotError(None, faces_dir, f"pretraining needs face images: {len(crops)} of {len(paths)} files "
                                         f"have a face")
    summary = _train_on_one_subject(crops, masks_, settings, out_model, out_losses, None)
    log.info("pretraining on %d faces (%d files skipped): %s", len(crops), len(skipped), summary)
    return {**summary, "faces": len(crops), "skipped": skipped}


def train_actor(actor: str, crops_paths: list[Path], out_model: Path, out_losses: Path, settings: dict,
                init_model: Path | None = None) -> dict:
    """The per-actor model: both decoders learn the actor's own crops from all of the actor's shots.

    No dubber take enters it, so a new take re-trains only the shot's short fine-tune. The
    dubber decoder starts from the actor's face, which is what the composites mostly are.
    ``init_model``: the generic pretrained model, when there is one.
    """
    crops, crop_masks_ = [], []
    for path in crops_paths:
        data = load_npz(path)
        valid = data["valid"].astype(bool)
        crops.append(data["actor"][valid])
        crop_masks_.append(data["actor_masks"][valid])
    crops_all, masks_all = np.concatenate(crops), np.concatenate(crop_masks_)
    if len(crops_all) < 2:
        raise ShotError(None, crops_paths[0] if crops_paths else None,
                        f"actor '{actor}': only {len(crops_all)} frames with a face over {len(crops_paths)} shots")
    summary = _train_on_one_subject(crops_all, masks_all, settings, out_model, out_losses, init_model)
    log.info("actor %s: model trained on %d frames of %d shots: %s", actor, len(crops_all), len(crops_paths),
             summary)
    return summary


def _paste_heads(actor: np.ndarray, heads: np.ndarray, masks: np.ndarray, reference_crops: np.ndarray,
                 boxes: np.ndarray, valid: np.ndarray, points: np.ndarray, cfg: StabiliseConfig,
                 out_frames: Path) -> dict:
    """Colour-match and stabilise each head crop against the actor's, paste it (invalid frames pass).

    actor: T x H x W x 3 frames; heads: T x S x S x 3 head crops; masks: T x 3 x M x M uint8
    (head, eyes, mouth); reference_crops: T x R x R x 3 actor crops; boxes: T x 3; valid: T;
    points: T x 478 x 2 actor mesh in crop units. The Lab shift is measured per frame inside
    the head mask and smoothed over ``cfg.colour_window`` frames, so the pasted head neither
    differs in colour from the actor's nor flickers with the per-frame estimate; then the
    still part of the head is stabilised (:mod:`vdub.stabilise`). Returns the mean
    head-colour difference (CIE76 of the Lab means inside the mask, crop resolution) before
    and after the correction.
    """
    import functools

    import cv2

    from .metrics import mean_lab_difference
    from .reenact import apply_colour_shift, colour_shift, paste_head
    from .stabilise import align_to, gaussian_taps, stabilised, still_weight

    t_count, h, w = actor.shape[:3]
    size = heads.shape[1]

    def at_size(mask: np.ndarray) -> np.ndarray:
        mask = mask.astype(np.float32) / 255.0
        return mask if mask.shape[0] == size else cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)

    def reference(t: int) -> np.ndarray:
        ref = reference_crops[t]
        return ref if ref.shape[0] == size else cv2.resize(ref, (size, size), interpolation=cv2.INTER_AREA)

    # Two passes (the shifts are smoothed over the whole shot before any frame is pasted);
    # per-frame resizes are redone rather than kept, so memory does not grow with T.
    shifts = np.zeros((t_count, 3))
    measured = np.zeros(t_count, bool)
    for t in np.flatnonzero(valid):
        shift = colour_shift(heads[t], reference(t), at_size(masks[t, 0]))
        if shift is not None:
            shifts[t], measured[t] = shift, True
    shifts = savgol_track(shifts, measured, cfg.colour_window, order=1)

    @functools.lru_cache(maxsize=cfg.stabilise_window + 1)
    def corrected(t: int) -> np.ndarray:
        return apply_colour_shift(heads[t], shifts[t] if measured[t] else None)

    def aligned(source: int, target: int) -> np.ndarray | None:
        if not 0 <= source < t_count or not valid[source]:
            return None
        return align_to(corrected(source), points[source], points[target])

    taps, half = gaussian_taps(cfg.stabilise_window), cfg.stabilise_window // 2
    before, after = [], []
    with FrameWriter(out_frames, t_count, h, w) as writer:
        for t in range(t_count):
            frame = np.array(actor[t])
            if valid[t]:
                head_mask, ref = at_size(masks[t, 0]), reference(t)
                head = corrected(t)
                if cfg.stabilise_window > 1:
                    weight = still_weight(points[t], size, at_size(masks[t, 1]), cfg.stabilise_ramp)
                    head = stabilised(head, [aligned(t + k, t) for k in range(-half, half + 1)], taps, weight)
                before.append(mean_lab_difference(heads[t], ref, head_mask > 0.5))
                after.append(mean_lab_difference(head, ref, head_mask > 0.5))
                # The paste uses the mask at its own resolution, so the blended region is the
                # same whatever the head's resolution (the evaluation's "outside the head").
                frame = paste_head(frame, head, masks[t, 0].astype(np.float32) / 255.0, boxes[t])
            writer.write(frame)
    return {"head_delta_e_before": float(np.nanmean(before)) if before else float("nan"),
            "head_delta_e_after": float(np.nanmean(after)) if after else float("nan")}


def reenact(shot: str, actor_frames: Path, crops_path: Path, model_path: Path, out_swapped: Path,
            out_frames: Path, cfg: StabiliseConfig) -> None:
    """Composite crops through the actor decoder; paste the whole head back with the head mask.

    Writes the swapped head crops (T x S x S x 3, the super-resolution stage's input) and
    the frames with the heads pasted at crop resolution (the pipeline without SR).
    """
    from .io import save_frames
    from .swapper.train import load_swapper, swap

    data = load_npz(crops_path)
    model = load_swapper(model_path)
    head_masks = data["composite_masks"][:, 0]
    swapped = swap(model, data["composite"], head_masks, decoder="actor")
    save_frames(out_swapped, swapped)
    colour = _paste_heads(load_frames(actor_frames), swapped, data["composite_masks"], data["actor"], data["boxes"],
                          data["valid"], data["actor_points"], cfg, out_frames)
    log.info("shot %s: head colour vs actor (Lab, CIE76) %.2f before, %.2f after correction", shot,
             colour["head_delta_e_before"], colour["head_delta_e_after"])


class _LazyCrops:
    """``crops[t]``: the actor's head crop of frame t at ``size`` px, cut when asked for (T x S x S x 3 view)."""

    def __init__(self, frames: np.ndarray, boxes: np.ndarray, size: int) -> None:
        self.frames, self.boxes, self.size = frames, boxes, size

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, t: int) -> np.ndarray:
        return crop(np.asarray(self.frames[t]), self.boxes[t], self.size)


def _sr_holdout_scores(model, lr_sets: dict[str, np.ndarray], hr: np.ndarray, masks: np.ndarray) -> dict:
    """PSNR of the upscaler against bicubic upscaling on held-out frames, inside the head mask.

    lr_sets: name -> N x S x S x 3 uint8 inputs; hr: N x O x O x 3 uint8 targets; masks:
    N x O x O bool (the head: the only part of the crop that is pasted).
    """
    from .metrics import psnr
    from .super_resolution import bicubic_upscale, upscale

    scores: dict[str, dict[str, float]] = {}
    for name, lr in lr_sets.items():
        outputs = {"sr": upscale(model, lr), "bicubic": bicubic_upscale(lr, hr.shape[1])}
        scores[name] = {f"psnr_{k}": float(np.mean([psnr(hr[i], out[i], masks[i]) for i in range(len(hr))]))
                        for k, out in outputs.items()}
    return scores


def _sr_config(settings: dict) -> tuple[int, int, SRConfig]:
    """(swapper crop size, holdout_every, SRConfig) from the SR stages' settings."""
    from .super_resolution import SRConfig

    size = int(settings["crop_size"])
    sr_settings = dict(settings["sr"])
    holdout_every = int(sr_settings.pop("holdout_every", 0))
    return size, holdout_every, SRConfig.from_dict({**sr_settings, "in_size": size})


def train_super_resolution(shot: str, actor_frames: Path, crops_path: Path, swapper_path: Path, out_model: Path,
                           out_losses: Path, out_holdout: Path, settings: dict) -> dict:
    """Identity-specific SR, training: the upscaler learns the actor's own frames.

    Training pairs (paper 2.3): the actor's head crops at the output size as targets, with
    inputs that are (a) the same crops degraded to the swapper's size and (b) the swapper's
    actor-decoder reconstructions of them, so the upscaler learns to restore what the
    swapper blurs, with this actor's own detail. Every ``holdout_every``-th actor frame is
    kept out of training; ``out_holdout`` (JSON) scores the upscaler against bicubic
    upscaling on those frames, for both kinds of input. Nothing here depends on the dubber
    take's reenactment or on the paste settings, so changing those does not retrain.
    """
    import cv2

    from .super_resolution import build_training_pairs, load_sr, train_sr
    from .swapper.train import load_swapper, swap

    size, holdout_every, cfg = _sr_config(settings)
    if cfg.backend == "gpen" and cfg.gpen_weights is None:
        log.warning("shot %s: GPEN trained from scratch (no gpen_weights configured): the paper fine-tunes the "
                    "released GPEN-BFR-512; check sr/holdout.json against bicubic", shot)
    actor = load_frames(actor_frames)
    data = load_npz(crops_path)
    boxes = data["boxes"]
    with_face = np.flatnonzero(data["actor_masks"][:, 0].reshape(len(boxes), -1).max(axis=1) > 0)
    held = with_face[holdout_every - 1::holdout_every] if holdout_every > 0 else with_face[:0]
    train_idx = np.setdiff1d(with_face, held)
    if len(train_idx) < 2:
        raise ShotError(shot, actor_frames, "fewer than 2 frames with a face: cannot train the upscaler")
    swapper = load_swapper(swapper_path)

    def pairs_for(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hr = np.stack([crop(np.asarray(actor[t]), boxes[t], cfg.out_size) for t in idx])
        return hr, swap(swapper, data["actor"][idx], data["actor_masks"][idx, 0], decoder="actor")

    hr, reconstructions = pairs_for(train_idx)
    lr_in, hr_out = build_training_pairs(hr, reconstructions, size, seed=cfg.seed)
    summary = train_sr(lr_in, hr_out, cfg, out_model, resume_path_for(out_model), out_losses)
    holdout: dict = {"frames": held.tolist()}
    if len(held):
        model = load_sr(out_model)
        hr_held, swapped_held = pairs_for(held)
        head = np.stack([cv2.resize(data["actor_masks"][t, 0], (cfg.out_size, cfg.out_size)) > 127 for t in held])
        # Clean (area) downscales: the scores compare upscalers, not robustness to noise.
        downscaled = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in hr_held])
        holdout.update(_sr_holdout_scores(model, {"downscaled_actor": downscaled,
                                                  "swapper_reconstruction": swapped_held}, hr_held, head))
        log.info("shot %s: SR on %d held-out frames (PSNR in the head, dB): %s", shot, len(held), holdout)
    save_json(out_holdout, holdout)
    return summary


def super_resolution(shot: str, actor_frames: Path, crops_path: Path, model_path: Path, swapped_path: Path,
                     out_frames: Path, settings: dict) -> dict:
    """Identity-specific SR, paste: the swapped heads upscaled and pasted at full resolution.

    Colour-matched and stabilised like the reenactment (``settings["reenact"]``); returns
    the head's Lab colour difference to the actor before and after the correction.
    """
    from .super_resolution import load_sr, upscale

    model = load_sr(model_path, device="auto")
    out_size = int(model.config.out_size)
    actor = load_frames(actor_frames)
    data = load_npz(crops_path)
    boxes = data["boxes"]
    swapped = load_frames(swapped_path)
    # The upscaled heads go through a scratch file beside the output and the actor's crops
    # are cut when used, so memory does not grow with the shot (0.8 MB a frame at 512 px).
    scratch = Path(out_frames).with_name("upscaled.tmp.npy")
    try:
        with FrameWriter(scratch, len(swapped), out_size, out_size) as writer:
            for start in range(0, len(swapped), 32):
                for head in upscale(model, np.asarray(swapped[start:start + 32])):
                    writer.write(head)
        colour = _paste_heads(actor, load_frames(scratch), data["composite_masks"],
                              _LazyCrops(actor, boxes, out_size), boxes, data["valid"], data["actor_points"],
                              StabiliseConfig.from_dict(settings["reenact"]), out_frames)
    finally:
        scratch.unlink(missing_ok=True)
    log.info("shot %s: SR head colour vs actor (Lab, CIE76) %.2f before, %.2f after correction", shot,
             colour["head_delta_e_before"], colour["head_delta_e_after"])
    return colour


def mux(shot: str, frames_path: Path, audio_path: Path, info_path: Path, out_video: Path, crf: int = 18,
        odd_size: str = "exact") -> None:
    """Encode the final frames at the actor's frame rate with the dubbed audio.

    ``odd_size``: ``exact`` keeps an odd-sized shot's size (4:4:4), ``pad`` adds a pixel
    (see :func:`vdub.video.write_video`).
    """
    from .video import write_video

    info = load_json(info_path)
    frames = load_frames(frames_path)
    write_video(iter(frames), out_video, info["fps_str"], audio_path=audio_path, crf=crf, odd_size=odd_size)


def evaluate(shot: str, frames_paths: dict[str, Path], actor_mesh: Path, dubber_mesh: Path, crops_path: Path,
             out_json: Path, cfg: FaceMeshConfig, eval_cfg: EvaluationConfig) -> dict:
    """The shot's metric table: every variant (actor, composite, reenact, output) against the actor and dubber.

    frames_paths: variant -> frames file (:data:`vdub.evaluation.VARIANTS`); the variants
    other than the actor are face-tracked here for LMD, flicker and identity.
    """
    from .evaluation import VARIANTS, evaluate_shot

    frames = {v: load_frames(frames_paths[v]) for v in VARIANTS}
    for v, arr in frames.items():
        if arr.shape != frames["actor"].shape:
            raise ShotError(shot, frames_paths[v], f"{v} frames {arr.shape} do not match the actor's "
                                                   f"{frames['actor'].shape}")
    t_count = len(frames["actor"])
    tracks = {v: load_track(actor_mesh) if v == "actor" else track_faces(iter(frames[v]), t_count, cfg)
              for v in VARIANTS}
    scores = evaluate_shot(frames, tracks, load_track(dubber_mesh), load_npz(crops_path), eval_cfg)
    result = {"shot": shot, "frames": t_count, "frames_with_face_output": int(tracks["output"].valid.sum()),
              **scores}
    save_json(out_json, result)
    for v, row in result["table"].items():
        log.info("shot %s: %-9s %s", shot, v, ", ".join(f"{k} {'n/a' if x is None else f'{x:.3f}'}"
                                                       for k, x in row.items()))
    for metric, reason in result["unavailable"].items():
        log.warning("shot %s: %s unavailable: %s", shot, metric, reason)
    return result
