"""Section 2.3 stages, file to file: the identity-specific upscaler's training on the actor's own frames
and the upscaled paste (rules train_sr, super_resolution)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vdub.core.io import FrameWriter, load_frames, load_npz, resume_path_for, save_json
from vdub.face.crop import crop
from vdub.reenactment.config import PasteConfig
from vdub.super_resolution.config import SRConfig
from vdub.training.early_stop import EarlyStop, score_frames

log = logging.getLogger(__name__)


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
    from vdub.metrics.image import psnr
    from vdub.super_resolution.networks import bicubic_upscale, upscale

    scores: dict[str, dict[str, float]] = {}
    for name, lr in lr_sets.items():
        outputs = {"sr": upscale(model, lr), "bicubic": bicubic_upscale(lr, hr.shape[1])}
        scores[name] = {f"psnr_{k}": float(np.mean([psnr(hr[i], out[i], masks[i]) for i in range(len(hr))]))
                        for k, out in outputs.items()}
    return scores


def train_super_resolution(shot: str, actor_frames: Path, crops_path: Path, swapper_path: Path, out_model: Path,
                           out_losses: Path, out_holdout: Path, cfg: SRConfig, holdout_every: int,
                           stop: EarlyStop | None = None) -> dict:
    """Identity-specific SR, training: the upscaler learns the actor's own frames.

    Training pairs (paper 2.3): the actor's head crops at the output size as targets, with
    inputs that are (a) the same crops degraded to the swapper's size (``cfg.in_size``) and (b)
    the swapper's actor-decoder reconstructions of them, so the upscaler learns to restore what
    the swapper blurs, with this actor's own detail. Every ``holdout_every``-th actor frame with
    a face (0: none) is kept out of training; ``out_holdout`` (JSON) scores the upscaler against
    bicubic upscaling on those frames, for both kinds of input. With an active ``stop`` the
    upscaler is scored on the held-out swapper reconstructions as it trains and stops at the
    plateau (the curve: ``early_stop`` in ``out_holdout``). Nothing here depends on the
    dubber take's reenactment or on the paste settings, so changing those does not retrain.
    """
    import cv2

    from vdub.reenactment.swapper.inference import load_swapper, swap
    from vdub.super_resolution.data import build_training_pairs
    from vdub.super_resolution.networks import load_sr
    from vdub.super_resolution.training import fit_upscaler, save_untrained_upscaler

    size = cfg.in_size
    if cfg.backend == "gpen" and cfg.gpen_weights is None:
        log.warning("shot %s: GPEN trained from scratch (no gpen_weights configured): the paper fine-tunes the "
                    "released GPEN-BFR-512; check sr/holdout.json against bicubic", shot)
    actor = load_frames(actor_frames)
    data = load_npz(crops_path)
    boxes = data["boxes"]
    with_face = np.flatnonzero(data["actor_masks"][:, 0].reshape(len(boxes), -1).max(axis=1) > 0)
    held = with_face[holdout_every - 1::holdout_every] if holdout_every > 0 else with_face[:0]
    train_idx = np.setdiff1d(with_face, held)
    if len(train_idx) == 0:
        log.warning("shot %s: %s: no frame with a face: the upscaler is not trained (the shot's frames pass through)",
                    shot, actor_frames)
        save_json(out_holdout, {"frames": []})
        return save_untrained_upscaler(cfg, out_model, out_losses, "no frame with a face")
    swapper = load_swapper(swapper_path)

    def pairs_for(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hr = np.stack([crop(np.asarray(actor[t]), boxes[t], cfg.out_size) for t in idx])
        return hr, swap(swapper, data["actor"][idx], data["actor_masks"][idx, 0], decoder="actor")

    hr, reconstructions = pairs_for(train_idx)
    lr_in, hr_out = build_training_pairs(hr, reconstructions, size, seed=cfg.seed)
    holdout: dict = {"frames": held.tolist()}
    score = None
    if len(held):
        hr_held, swapped_held = pairs_for(held)
        head = np.stack([cv2.resize(data["actor_masks"][t, 0], (cfg.out_size, cfg.out_size)) > 127 for t in held])

        rows = score_frames(len(held))

        def score(model) -> float:
            """The early stop's score: PSNR in the head of the upscaled swapper reconstructions (what it upscales)."""
            scored = _sr_holdout_scores(model, {"swapped": swapped_held[rows]}, hr_held[rows], head[rows])
            return scored["swapped"]["psnr_sr"]

    summary = fit_upscaler(lr_in, hr_out, cfg, out_model, resume_path_for(out_model), out_losses, score=score,
                           early_stop=stop)
    if len(held):
        model = load_sr(out_model)
        # Clean (area) downscales: the scores compare upscalers, not robustness to noise.
        downscaled = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in hr_held])
        holdout.update(_sr_holdout_scores(model, {"downscaled_actor": downscaled,
                                                  "swapper_reconstruction": swapped_held}, hr_held, head))
        log.info("shot %s: SR on %d held-out frames (PSNR in the head, dB): %s", shot, len(held), holdout)
    if summary.get("early_stop"):
        holdout["early_stop"] = summary["early_stop"]
    save_json(out_holdout, holdout)
    return summary


def super_resolution(shot: str, actor_frames: Path, composite_frames: Path, crops_path: Path, model_path: Path,
                     swapped_path: Path, out_frames: Path, paste: PasteConfig, out_matte: Path | None = None,
                     occluders: Path | None = None, visibility: Path | None = None) -> dict:
    """Identity-specific SR, paste: the swapped heads upscaled and pasted at full resolution.

    Colour-matched, stabilised and pasted as the reenactment is, by ``paste``
    (:mod:`vdub.reenactment.compositing`): in the corrective form the upscaler's output for
    the network's input is upscaled too, so that only the network's change, at the
    upscaler's resolution, is added to the full-resolution composite. Returns the head's Lab
    colour difference to the actor before and after the correction. ``out_matte``: where to
    write the pasted head's alpha at full resolution (:func:`vdub.reenactment.compositing.matte`).
    occluders, visibility: the rule visibility's outputs, the gate of the paste.
    """
    from vdub.reenactment.compositing import paste_heads, visibility_gate
    from vdub.super_resolution.networks import load_sr, upscale

    detail = paste.detail
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
                             _LazyCrops(actor, boxes, out_size), boxes, data["valid"], data["actor_points"], paste,
                             out_frames, composite=load_frames(composite_frames) if detail > 0 else None,
                             inputs=load_frames(scratch["inputs"]) if detail > 0 else None, out_matte=out_matte,
                             **visibility_gate(occluders, visibility))
    finally:
        for path in scratch.values():
            path.unlink(missing_ok=True)
    log.info("shot %s: SR head colour vs actor (Lab, CIE76) %.2f before, %.2f after correction", shot,
             colour["head_delta_e_before"], colour["head_delta_e_after"])
    return colour
