"""The two upscalers (residual network from scratch, GPEN fine-tuned), their construction,
loading, and upscaling of crops; see the package docstring for the backends."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vdub.super_resolution.config import SRConfig
from vdub.super_resolution.data import check_crops
from vdub.super_resolution.gpen import FullGenerator, load_official
from vdub.training.device import resolve_device

log = logging.getLogger(__name__)


class _ResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity skip (EDSR style: no normalisation, which hurts SR)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class IdentitySRNet(nn.Module):
    """Small residual SR network: bicubic skip + learned residual (starts as bicubic).

    ``forward(x)``: x Bx3xSxS in [0, 1] -> Bx3x(out_size)x(out_size), roughly in [0, 1]
    (not clamped, so that the loss keeps its gradient near black and white; :func:`upscale`
    clamps). Trained for ``S = config.in_size``; any S works mechanically.
    """

    def __init__(self, config: SRConfig) -> None:
        super().__init__()
        self.config = config
        c, s = config.channels, config.pixel_shuffle_scale
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.trunk = nn.Sequential(*[_ResidualBlock(c) for _ in range(config.blocks)])
        self.trunk_out = nn.Conv2d(c, c, 3, padding=1)
        up: list[nn.Module] = []
        if s > 1 and s & (s - 1) == 0:
            # x2 stages for powers of two: fewer parameters than one x4/x8 shuffle, as in EDSR
            for _ in range(int(math.log2(s))):
                up += [nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
        elif s > 1:
            up += [nn.Conv2d(c, s * s * c, 3, padding=1), nn.PixelShuffle(s), nn.ReLU(inplace=True)]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(c, 3, 3, padding=1)
        # Zero residual at init: the untrained model is exactly bicubic upsampling, so training
        # starts from a sensible image and early checkpoints are never worse than bicubic noise.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: Bx3xSxS in [0, 1] -> Bx3x(out_size)x(out_size)."""
        out = self.config.out_size
        skip = F.interpolate(x, size=(out, out), mode="bicubic", align_corners=False)
        feat = self.head(x - 0.5)
        feat = feat + self.trunk_out(self.trunk(feat))
        residual = self.tail(self.upsample(feat))
        if residual.shape[-1] != out:
            # non-integer ratio (176 -> 528 -> 512): antialias so the shrink does not alias
            residual = F.interpolate(residual, size=(out, out), mode="bicubic", align_corners=False, antialias=True)
        return skip + residual


class GPENUpscaler(nn.Module):
    """GPEN as an upscaler with :class:`IdentitySRNet`'s call contract.

    ``forward(x)``: x Bx3xSxS in [0, 1] -> Bx3x(out_size)x(out_size), roughly in [0, 1] (not
    clamped). GPEN restores a degraded face at its own resolution, in [-1, 1]: the input is
    upsampled bicubically to ``out_size`` (unless already there), mapped to [-1, 1], restored by ``self.generator``
    (a :class:`vdub.super_resolution.gpen.FullGenerator` of ``config.gpen_config()``) and mapped back.
    """

    def __init__(self, config: SRConfig) -> None:
        super().__init__()
        if config.backend != "gpen":
            raise ValueError(f"GPENUpscaler needs SRConfig.backend 'gpen', got {config.backend!r}")
        self.config = config
        self.generator = FullGenerator(config.gpen_config())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: Bx3xSxS in [0, 1] -> Bx3x(out_size)x(out_size)."""
        out = self.config.out_size
        if x.shape[-1] != out or x.shape[-2] != out:
            x = F.interpolate(x, size=(out, out), mode="bicubic", align_corners=False)
        image, _ = self.generator(x * 2.0 - 1.0)
        return (image + 1.0) * 0.5


SRModel = IdentitySRNet | GPENUpscaler


def weights_path(cfg: SRConfig) -> Path | None:
    """``cfg.gpen_weights`` as a Path when it matters (gpen backend), after checking that it exists."""
    if cfg.backend != "gpen" or cfg.gpen_weights is None:
        return None
    path = Path(cfg.gpen_weights)
    if not path.is_file():
        raise FileNotFoundError(f"SRConfig.gpen_weights: GPEN weights file not found: {path}")
    return path


def build_sr_model(cfg: SRConfig, pretrained: bool = True) -> SRModel:
    """The SR network of ``cfg.backend``, on CPU, in training mode.

    pretrained: for the gpen backend with ``cfg.gpen_weights`` set, initialise the generator
        from that file (strictly, see :func:`vdub.super_resolution.gpen.load_official`); False builds the bare
        architecture, for loading a trained model's own state dict (:func:`load_sr`).
        Ignored by the residual backend.

    Raises FileNotFoundError when the weights file is missing, and ValueError naming the file
    and the missing/unexpected keys or shape mismatches when it does not fit the architecture.
    """
    if cfg.backend == "residual":
        return IdentitySRNet(cfg)
    model = GPENUpscaler(cfg)
    path = weights_path(cfg) if pretrained else None
    if path is not None:
        try:
            load_official(model.generator, path)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        log.info("GPEN generator initialised from %s", path)
    return model


def bicubic_upscale(crops: np.ndarray, out_size: int) -> np.ndarray:
    """The baseline the SR network starts from: crops TxSxSx3 uint8 -> TxOxOx3 uint8 bicubic.

    Same interpolation as the network's skip path (torch, ``align_corners=False``).
    """
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0
    y = F.interpolate(x, size=(out_size, out_size), mode="bicubic", align_corners=False)
    return _to_uint8(y)


def _to_uint8(y: torch.Tensor) -> np.ndarray:
    """Bx3xHxW float in [0, 1] -> BxHxWx3 uint8 (rounded, clamped)."""
    return (y.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def load_sr(path: str | Path, device: str = "cpu") -> SRModel:
    """Load a model written by :func:`~vdub.super_resolution.training.fit_upscaler`, in eval mode on ``device``
    ("auto" allowed).

    Either backend; files written before ``backend`` existed are residual models. The
    trained weights come from the file alone (``gpen_weights`` need not exist any more).
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or "config" not in payload or "state_dict" not in payload:
        raise ValueError(f"{path}: not an SR model file (expected keys 'config' and 'state_dict')")
    model = build_sr_model(SRConfig.from_dict(payload["config"]), pretrained=False)
    model.load_state_dict(payload["state_dict"])  # strict: a shape/key mismatch is an error
    return model.to(resolve_device(device)).eval()


@torch.no_grad()
def upscale(model: SRModel, crops: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Super-resolve head crops: TxSxSx3 uint8 (S = model.config.in_size) -> TxOxOx3 uint8.

    O = model.config.out_size. Runs in batches on the model's device, in eval mode.
    """
    crops = np.asarray(crops)
    check_crops("crops", crops, model.config.in_size)
    device = next(model.parameters()).device
    model.eval()
    out = np.empty((len(crops), model.config.out_size, model.config.out_size, 3), np.uint8)
    for i in range(0, len(crops), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(crops[i:i + batch_size])).permute(0, 3, 1, 2)
        out[i:i + batch_size] = _to_uint8(model(x.to(device, torch.float32) / 255.0))
    return out
