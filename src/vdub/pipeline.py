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
from .smoothing import SmoothingConfig
from .stabilise import StabiliseConfig
from .virtual_dubber import MouthLibrary, VirtualDubberConfig, log_mouth_sources, render_virtual_dubber
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


def pick_reference(shot: str, role: str, frames_path: Path, track: FaceTrack, forced: int | None,
                   cfg: ReferenceConfig) -> dict:
    """Score one role's frames and pick its reference (``{"frame", "overridden", "scores"}``).

    The actor's reference is the frame the virtual dubber (and the self-reenactment pairs)
    are built from; the dubber's is the neutral the dubber's expression is measured from.
    """
    if not track.valid.any():
        raise ShotError(shot, frames_path, f"no face found in any {role} frame")
    scores = score_frames(load_frames(frames_path), track.points, track.valid, cfg)
    try:
        index = select_reference(scores, forced)
    except ValueError as err:
        raise ShotError(shot, frames_path, f"{role} reference: {err}") from None
    log.info("shot %s: %s reference frame %d%s", shot, role, index, " (override)" if forced is not None else "")
    return {"frame": index, "overridden": forced is not None,
            "scores": {k: np.where(np.isfinite(v), v, np.nan) for k, v in scores.items()}}


def reference(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
              override: int | None, out_json: Path, cfg: ReferenceConfig) -> dict:
    """Pick the actor's reference frame and the dubber's neutral frame; save their scores."""
    result = {role: pick_reference(shot, role, frames_path, load_track(mesh_path), forced, cfg)
              for role, frames_path, mesh_path, forced in (("actor", actor_frames, actor_mesh, override),
                                                           ("dubber", dubber_frames, dubber_mesh, None))}
    save_json(out_json, result)
    return {role: result[role]["frame"] for role in result}


def virtual_dubber(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
                   reference_json: Path, out_frames: Path, cfg: VirtualDubberConfig,
                   smoothing: SmoothingConfig) -> dict[str, int]:
    """Builtin virtual dubber: the actor's reference frame driven by the dubber's mouth and jaw.

    Both tracks are smoothed first (head pose and expression separately), so the dubber's
    tracking jitter does not reach the rendered mouth. Returns how many inner mouths came
    from the actor's own frames, the dubber's, or none (closed).
    """
    refs = load_json(reference_json)
    actor = load_frames(actor_frames)
    actor_track = smooth_track(load_track(actor_mesh), smoothing)
    dubber = load_frames(dubber_frames)
    dubber_track = smooth_track(load_track(dubber_mesh), smoothing)
    ref = refs["actor"]["frame"]
    reference_image = np.array(actor[ref])
    reference_points = actor_track.points[ref].astype(np.float64)
    h, w = reference_image.shape[:2]
    mouths = MouthLibrary(actor_track.points, actor_track.valid, reference_points)
    sources: list[int] = []
    with FrameWriter(out_frames, len(dubber), h, w) as writer:
        for frame, _ in render_virtual_dubber(reference_image, reference_points, dubber, dubber_track.points,
                                              dubber_track.valid, refs["dubber"]["frame"], cfg, actor, mouths,
                                              sources=sources):
            writer.write(frame)
    return log_mouth_sources(shot, "virtual dubber", sources)


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


def self_pairs(shot: str, actor_frames: Path, actor_mesh: Path, actor_crops_path: Path, override: int | None,
               out_pairs: Path, settings: dict) -> dict:
    """The self-reenactment pairs of a shot (:mod:`vdub.self_reenactment`): actor side only.

    settings: the config sections ``self_reenactment``, ``builtin_dubber``, ``align``,
    ``smoothing``, ``face_mesh``, ``masks`` and ``reference``. The actor's reference frame is
    picked here exactly as the ``reference`` stage picks it (same scores, same override), so
    that these pairs never wait for, nor re-run with, a dubber take.
    """
    from .self_reenactment import SelfPairsConfig, build_self_pairs

    ref = pick_reference(shot, "actor", actor_frames, load_track(actor_mesh), override,
                         ReferenceConfig.from_dict(settings["reference"]))["frame"]
    return build_self_pairs(shot, actor_frames, actor_mesh, actor_crops_path, ref, out_pairs,
                            SelfPairsConfig.from_dict(settings["self_reenactment"]),
                            VirtualDubberConfig.from_dict(settings["builtin_dubber"]),
                            AlignConfig.from_dict(settings["align"]), SmoothingConfig.from_dict(settings["smoothing"]),
                            FaceMeshConfig.from_dict(settings["face_mesh"]), MaskConfig.from_dict(settings["masks"]))


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
    from .self_reenactment import training_pairs

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


def train_swapper(shot: str, crops_path: Path, out_model: Path, out_losses: Path, settings: dict,
                  init_model: Path | None = None, self_pairs: Path | None = None) -> dict:
    """Train the identity-swapping network on the shot's actor and composite crops.

    The actor decoder learns to reconstruct actor crops, the dubber decoder the composite
    crops (actor frame + lower part of the aligned virtual dubber): the very input it
    reenacts later. Frames without a face in both are left out. With ``init_model`` (the
    actor's model, see :func:`train_actor`, or the generic pretrained one) the run
    fine-tunes from it. With ``self_pairs`` (:mod:`vdub.self_reenactment`) the held-out
    frames are kept out of every actor-side example, and ``train.self_pair_share`` of the
    actor decoder's batches are self-reenactment pairs.
    """
    from .swapper.train import train_swapper as train

    net_cfg, train_cfg, weights = _swapper_configs(settings)
    data = load_npz(crops_path)
    valid = data["valid"]
    if valid.sum() < 2:
        raise ShotError(shot, crops_path, f"only {int(valid.sum())} frames with a face: nothing to train on")
    pairs, (held,) = _self_pair_data([self_pairs] if self_pairs else [], [crops_path],
                                     use=train_cfg.self_pair_share > 0)
    rows = np.flatnonzero(valid)
    actor, actor_masks = _without((data["actor"], data["actor_masks"]), rows, held)
    summary = train(actor, actor_masks, data["composite"][valid], data["composite_masks"][valid], net_cfg, train_cfg,
                    weights, out_model, resume_path_for(out_model), out_losses, init_from=init_model,
                    self_pairs=pairs)
    log.info("shot %s: swapper trained%s (%d frames held out): %s", shot,
             f" from {init_model}" if init_model else "", len(held), summary)
    return summary


def _train_on_one_subject(crops: np.ndarray, crop_masks_: np.ndarray, settings: dict, out_model: Path,
                          out_losses: Path, init_model: Path | None,
                          self_pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict:
    """Train both decoders to reconstruct the same crops (N x S x S x 3, masks N x 3 x S x S).

    Without ``self_pairs`` (generic pretraining has no video to build them from) the
    preset's self-pair share is ignored.
    """
    import dataclasses

    from .swapper.train import train_swapper as train

    net_cfg, train_cfg, weights = _swapper_configs(settings)
    if self_pairs is None:
        train_cfg = dataclasses.replace(train_cfg, self_pair_share=0.0)
    return train(crops, crop_masks_, crops, crop_masks_, net_cfg, train_cfg, weights, out_model,
                 resume_path_for(out_model), out_losses, init_from=init_model, self_pairs=self_pairs)


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
                init_model: Path | None = None, self_pairs: list[Path] | None = None) -> dict:
    """The per-actor model: both decoders learn the actor's own crops from all of the actor's shots.

    No dubber take enters it, so a new take re-trains only the shot's short fine-tune. The
    dubber decoder starts from the actor's face, which is what the composites mostly are.
    ``init_model``: the generic pretrained model, when there is one. ``self_pairs``: each
    shot's self-reenactment pairs (in the order of ``crops_paths``), mixed into the actor
    decoder's batches; their held-out frames are left out.
    """
    _, train_cfg, _ = _swapper_configs(settings)
    pairs, held = _self_pair_data(list(self_pairs or []), crops_paths, use=train_cfg.self_pair_share > 0)
    crops, crop_masks_ = [], []
    for path, shot_held in zip(crops_paths, held):
        data = load_npz(path)
        own, own_masks = _without((data["actor"], data["actor_masks"]), np.flatnonzero(data["valid"]), shot_held)
        crops.append(own)
        crop_masks_.append(own_masks)
    crops_all, masks_all = np.concatenate(crops), np.concatenate(crop_masks_)
    if len(crops_all) < 2:
        raise ShotError(None, crops_paths[0] if crops_paths else None,
                        f"actor '{actor}': only {len(crops_all)} frames with a face over {len(crops_paths)} shots")
    summary = _train_on_one_subject(crops_all, masks_all, settings, out_model, out_losses, init_model, pairs)
    log.info("actor %s: model trained on %d frames of %d shots: %s", actor, len(crops_all), len(crops_paths),
             summary)
    return summary


def reenact(shot: str, actor_frames: Path, composite_frames: Path, crops_path: Path, model_path: Path,
            out_swapped: Path, out_frames: Path, cfg: StabiliseConfig, detail: float = 0.0) -> None:
    """Composite crops through the actor decoder; paste the whole head back with the head mask.

    Writes the swapped head crops (T x S x S x 3, the super-resolution stage's input) and
    the frames with the heads pasted at crop resolution (the pipeline without SR);
    ``detail`` chooses the paste (:mod:`vdub.paste`: 0 the paper's, 1 the corrective one on
    the full-resolution composite frames).
    """
    from .io import save_frames
    from .paste import paste_heads
    from .swapper.train import load_swapper, swap

    data = load_npz(crops_path)
    model = load_swapper(model_path)
    head_masks = data["composite_masks"][:, 0]
    swapped = swap(model, data["composite"], head_masks, decoder="actor")
    save_frames(out_swapped, swapped)
    colour = paste_heads(load_frames(actor_frames), swapped, data["composite_masks"], data["actor"], data["boxes"],
                         data["valid"], data["actor_points"], cfg, out_frames, detail=detail,
                         composite=load_frames(composite_frames), inputs=data["composite"])
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


def super_resolution(shot: str, actor_frames: Path, composite_frames: Path, crops_path: Path, model_path: Path,
                     swapped_path: Path, out_frames: Path, settings: dict) -> dict:
    """Identity-specific SR, paste: the swapped heads upscaled and pasted at full resolution.

    Colour-matched and stabilised like the reenactment (``settings["reenact"]``) and pasted
    by ``settings["detail"]`` (:mod:`vdub.paste`): in the corrective form the upscaler's
    output for the network's input is upscaled too, so that only the network's change,
    at the upscaler's resolution, is added to the full-resolution composite. Returns the
    head's Lab colour difference to the actor before and after the correction.
    """
    from .paste import paste_heads
    from .super_resolution import load_sr, upscale

    detail = float(settings.get("detail", 0.0))
    model = load_sr(model_path, device="auto")
    out_size = int(model.config.out_size)
    actor = load_frames(actor_frames)
    data = load_npz(crops_path)
    boxes = data["boxes"]
    swapped = load_frames(swapped_path)
    # The upscaled heads go through scratch files beside the output and the actor's crops
    # are cut when used, so memory does not grow with the shot (0.8 MB a frame at 512 px).
    scratch = {"heads": Path(out_frames).with_name("upscaled.tmp.npy"),
               "inputs": Path(out_frames).with_name("upscaled_inputs.tmp.npy")}
    sources = {"heads": swapped, "inputs": data["composite"] if detail > 0 else None}
    try:
        for name, crops in sources.items():
            if crops is None:
                continue
            with FrameWriter(scratch[name], len(crops), out_size, out_size) as writer:
                for start in range(0, len(crops), 32):
                    for head in upscale(model, np.asarray(crops[start:start + 32])):
                        writer.write(head)
        colour = paste_heads(actor, load_frames(scratch["heads"]), data["composite_masks"],
                             _LazyCrops(actor, boxes, out_size), boxes, data["valid"], data["actor_points"],
                             StabiliseConfig.from_dict(settings["reenact"]), out_frames, detail=detail,
                             composite=load_frames(composite_frames) if detail > 0 else None,
                             inputs=load_frames(scratch["inputs"]) if detail > 0 else None)
    finally:
        for path in scratch.values():
            path.unlink(missing_ok=True)
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
             out_json: Path, cfg: FaceMeshConfig, eval_cfg: EvaluationConfig, model_path: Path | None = None,
             pairs_path: Path | None = None, detail: float = 0.0) -> dict:
    """The shot's metric table: every variant (actor, composite, reenact, output) against the actor and dubber.

    frames_paths: variant -> frames file (:data:`vdub.evaluation.VARIANTS`); the variants
    other than the actor are face-tracked here for LMD, flicker and identity. With the
    swapper (``model_path``) and the self-reenactment pairs (``pairs_path``), the held-out
    pairs are repaired by the network, pasted with ``detail`` and scored against the real
    frames (``self_reenactment`` in the result).
    """
    from .evaluation import VARIANTS, evaluate_shot, self_reenactment_scores

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
    if model_path is not None and pairs_path is not None:
        result["self_reenactment"] = self_reenactment_scores(model_path, load_npz(pairs_path), load_npz(crops_path),
                                                             detail, eval_cfg)
        held = result["self_reenactment"]
        log.info("shot %s: held-out self-reenactment (%d frames), lower-face PSNR/SSIM: composite %s, repaired %s",
                 shot, len(held["frames"]), held["composite"], held["repaired"])
    save_json(out_json, result)
    for v, row in result["table"].items():
        log.info("shot %s: %-9s %s", shot, v, ", ".join(f"{k} {'n/a' if x is None else f'{x:.3f}'}"
                                                       for k, x in row.items()))
    for metric, reason in result["unavailable"].items():
        log.warning("shot %s: %s unavailable: %s", shot, metric, reason)
    return result
