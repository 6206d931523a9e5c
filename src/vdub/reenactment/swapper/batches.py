"""The swapper's training batches: subjects stacked as tensors (crop + masks), random shifts, colour
jitter, and the draw of actor, dubber and self-reenactment examples per step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # train imports this module
    from vdub.reenactment.config import TrainConfig


def check_subject(crops: np.ndarray, masks: np.ndarray, size: int, name: str) -> None:
    """Raise a ValueError naming ``name`` unless crops are T x S x S x 3 and masks T x 3 x S x S uint8."""
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
        raise ValueError(f"{name} crops must be T x {size} x {size} x 3 uint8, got {crops.shape} {crops.dtype}")
    if masks.dtype != np.uint8 or masks.shape != (crops.shape[0], 3, size, size):
        raise ValueError(
            f"{name} masks must be {crops.shape[0]} x 3 x {size} x {size} uint8 (head, eyes, mouth), "
            f"got {masks.shape} {masks.dtype}"
        )
    if crops.shape[0] == 0:
        raise ValueError(f"{name}: no crops to train on")


def stack_subject(crops: np.ndarray, masks: np.ndarray, device: torch.device) -> torch.Tensor:
    """T x S x S x 3 crops + T x 3 x S x S masks -> one T x 6 x S x S uint8 tensor on ``device``.

    Kept as uint8 (6 bytes per pixel: 186 KB per 176 px frame) so that every step only
    indexes memory; nothing is decoded per step.
    """
    rgb = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)
    return torch.cat([rgb, torch.from_numpy(np.ascontiguousarray(masks))], dim=1).contiguous().to(device)


def _random_shift(batch: torch.Tensor, max_px: int) -> torch.Tensor:
    """Translate each sample by up to ``max_px`` pixels, edges replicated. B x C x S x S -> same."""
    size = batch.shape[-1]
    padded = F.pad(batch, (max_px,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_px + 1, (batch.shape[0], 2)).tolist()
    return torch.stack([padded[i, :, y : y + size, x : x + size] for i, (y, x) in enumerate(offsets)])


def _colour_jitter(amount: float, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-sample, per-channel gain 1 +- amount and offset +- amount/2, the same for every image given.

    images: B x 3 x S x S each (an input and its target move together). Returns them jittered.
    """
    b = images[0].shape[0]
    gain = (1 + amount * (2 * torch.rand(b, 3, 1, 1) - 1)).to(images[0].device)
    offset = (0.5 * amount * (2 * torch.rand(b, 3, 1, 1) - 1)).to(images[0].device)
    return tuple((im * gain + offset).clamp(0, 1) for im in images)


def _draw(data: torch.Tensor, n: int, cfg: TrainConfig) -> torch.Tensor:
    """``n`` samples (with replacement) of a T x C x S x S uint8 tensor, shifted: n x C x S x S float in [0, 1]."""
    idx = torch.randint(0, data.shape[0], (n,))
    batch = data[idx.to(data.device)].float() / 255
    max_px = round(cfg.max_shift * data.shape[-1])
    return _random_shift(batch, max_px) if max_px > 0 and n > 0 else batch


def sample_batch(
    data: torch.Tensor, cfg: TrainConfig, pairs: torch.Tensor | None = None, size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw a batch of ``size`` (default ``cfg.batch_size``, with replacement) from a T x 6 x S x S
    uint8 tensor and augment it.

    With ``pairs`` (N x 9 x S x S uint8: input RGB, target RGB, masks, from
    :func:`stack_pairs`), ``round(cfg.self_pair_share * batch_size)`` samples come from
    them instead: input and target differ, and one shift moves both.

    Returns the network input B x 4 x S x S (RGB + head mask), the target B x 3 x S x S and
    the loss masks B x 3 x S x S, all float in [0, 1]. Random numbers come from the global
    CPU generator, which the resume checkpoint saves and restores.
    """
    size = cfg.batch_size if size is None else size
    n_pairs = round(cfg.self_pair_share * size) if pairs is not None else 0
    batch = _draw(data, size - n_pairs, cfg)
    inputs, targets, masks = batch[:, :3], batch[:, :3], batch[:, 3:]
    if n_pairs:
        drawn = _draw(pairs, n_pairs, cfg)
        inputs = torch.cat([inputs, drawn[:, :3]])
        targets = torch.cat([targets, drawn[:, 3:6]])
        masks = torch.cat([masks, drawn[:, 6:]])
    if cfg.colour_jitter > 0:
        inputs, targets = _colour_jitter(cfg.colour_jitter, inputs, targets)  # a pair stays a pair
    return torch.cat([inputs, masks[:, :1]], dim=1), targets, masks


def stack_pairs(inputs: np.ndarray, targets: np.ndarray, masks: np.ndarray, device: torch.device) -> torch.Tensor:
    """Self-reenactment pairs as one N x 9 x S x S uint8 tensor (input RGB, target RGB, masks) on ``device``.

    inputs, targets: N x S x S x 3 uint8; masks: N x 3 x S x S uint8 (the target's head,
    eyes, mouth; the head channel is also the input's mask).
    """
    rgb = [torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2) for a in (inputs, targets)]
    return torch.cat([*rgb, torch.from_numpy(np.ascontiguousarray(masks))], dim=1).contiguous().to(device)
