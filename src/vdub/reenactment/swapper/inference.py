"""A trained swapper in use: loading its model file (settings + weights, as the training loop writes
it: :func:`vdub.training.loop.model_payload`) and swapping crops through one decoder (the
reenactment: composites through the actor decoder)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vdub.reenactment.config import SwapperConfig
from vdub.reenactment.swapper.network import IdentitySwapper


def load_payload(path: str | Path, expect: SwapperConfig | None = None) -> dict[str, Any]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if expect is not None and SwapperConfig.from_dict(payload["config"]) != expect:
        raise ValueError(f"{path}: saved swapper config {payload['config']} differs from {asdict(expect)}")
    return payload


def load_swapper(path: str | Path, device: str | torch.device = "cpu") -> IdentitySwapper:
    """Build the network from a model written by :func:`~vdub.reenactment.swapper.train.fit_swapper`, load it
    strictly, ``eval()``."""
    payload = load_payload(path)
    model = IdentitySwapper(SwapperConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(device).eval()


@torch.no_grad()
def swap(
    model: IdentitySwapper,
    crops: np.ndarray,
    masks: np.ndarray,
    decoder: str = "actor",
    batch_size: int = 16,
) -> np.ndarray:
    """Run crops through one decoder: T x S x S x 3 uint8 + T x S x S uint8 head masks -> T x S x S x 3 uint8.

    Batched, without gradients, in float32 on the model's device; the model is in eval mode
    for the call and its previous mode is restored.
    """
    s = model.cfg.crop_size
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (s, s, 3):
        raise ValueError(f"crops must be T x {s} x {s} x 3 uint8, got {crops.shape} {crops.dtype}")
    if masks.dtype != np.uint8 or masks.shape != crops.shape[:3]:
        raise ValueError(f"head masks must be {crops.shape[:3]} uint8, got {masks.shape} {masks.dtype}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = np.empty_like(crops)
    try:
        for i in range(0, len(crops), batch_size):
            rgb = torch.from_numpy(np.ascontiguousarray(crops[i : i + batch_size])).to(device).permute(0, 3, 1, 2)
            head = torch.from_numpy(np.ascontiguousarray(masks[i : i + batch_size])).to(device)[:, None]
            x = torch.cat([rgb, head], dim=1).float() / 255
            y = model(x, decoder)
            out[i : i + batch_size] = (y * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    finally:
        model.train(was_training)
    return out
