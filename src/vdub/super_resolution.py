"""Identity-specific super-resolution (Jeon et al., section 2.3 "Postprocessing").

The swapper's actor decoder produces heads that are smaller and blurrier than the actor
footage. Pretrained face SR smooths away what makes the actor recognisable (wrinkles,
folds), so the paper fine-tunes GPEN on *this actor only*, with a training set of (a) the
actor's own frames and (b) the swapper's reconstructions of those frames through the
actor decoder (the recipe of Patel et al.). Pairs of type (a) teach generic upscaling of
the actor's face; pairs of type (b) teach undoing the swapper's particular blur with the
actor's real details as target.

Two backends share training, resume checkpoints, the loss log, the model file and
:func:`upscale` (``SRConfig.backend``; both built by :func:`build_sr_model`):

* ``"residual"`` (the preview default): a small residual network trained from scratch. Its
  output is a bicubic upsampling of its input plus a learned residual whose last layer
  starts at zero, so an untrained model *is* bicubic upsampling and training can only add
  detail on top of it.
* ``"gpen"`` (the paper's network): :class:`GPENUpscaler` wraps :class:`vdub.gpen.FullGenerator`.
  GPEN restores a degraded face *at its output size*, so the input is first upsampled
  bicubically to ``out_size`` and mapped to GPEN's [-1, 1] range. With ``gpen_weights``
  (e.g. the released ``GPEN-BFR-512.pth``) the generator starts from those weights and is
  fine-tuned on the actor, as in the paper; without, the same architecture is trained from
  scratch (it then starts from a noise-like image, not from bicubic, and needs far more
  steps than the residual network: useful for tests and benchmarks, not for results).

Documented differences from the paper's GPEN fine-tuning (GPEN's ``train_simple.py``):

* Loss: both backends use L1 + ``edge_weight`` * L1 of image gradients. GPEN's own recipe
  adds a non-saturating GAN loss (with a discriminator trained alongside, R1-regularised)
  and an ArcFace identity loss; neither the discriminator's weights nor ArcFace's are
  available here, so those terms are left out. A pixel loss alone favours the average of
  plausible details, so expect somewhat smoother skin texture than the paper's (and no
  adversarial instability).
* Optimiser: plain Adam (default betas) at ``lr`` on every weight, no EMA copy of the
  generator (upstream trains with betas (0, 0.99) and ships the EMA weights).
* Input: bicubic upsampling of the crop (torch, ``align_corners=False``); upstream's demo
  resizes with OpenCV's bilinear filter. Fine-tuning adapts to either.

Sizes: crops go in at ``in_size`` (the swapper's head crop size, 176 px in the paper) and
come out at ``out_size`` (512 px in the paper; a power of two for GPEN). The residual
branch upsamples by an integer PixelShuffle factor ``scale``; when ``in_size * scale !=
out_size`` (176 * 3 = 528 for the paper) the residual is resized, antialiased, to
``out_size``. The bicubic skip goes straight to ``out_size``, so non-integer ratios cost no
extra blur on the skip path.

Files: the final model is ``{"config": dict, "state_dict": ...}`` written atomically (for
GPEN the fine-tuned generator's entries carry a ``generator.`` prefix, so stripping it gives
a state dict in the released files' layout); loading it never needs ``gpen_weights``. The
resume checkpoint (see :mod:`vdub.checkpoint`) lives beside it only while training runs.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import TrainingInterrupted, load_checkpoint, save_checkpoint, save_torch, stop_on_signals
from .gpen import FullGenerator, GPENConfig, load_official
from .io import atomic_path
from .settings import Settings

log = logging.getLogger(__name__)

_CSV_FIELDS = ("step", "loss", "l1", "edge", "seconds")

BACKENDS = ("residual", "gpen")
# Fields that only shape one backend's network: left out of the other backend's training
# fingerprint, so that e.g. adding the GPEN fields did not invalidate residual resume checkpoints.
_BACKEND_ONLY_FIELDS = {
    "residual": ("scale", "channels", "blocks"),
    "gpen": ("gpen_narrow", "gpen_channel_multiplier", "gpen_style_dim", "gpen_n_mlp", "gpen_weights"),
}


@dataclass
class SRConfig(Settings):
    """Settings of the identity-specific SR network and its training (one actor)."""

    backend: str = "residual"  # "residual" (small network, from scratch) or "gpen" (the paper's GPEN-BFR)
    in_size: int = 64  # input crop side in pixels (the swapper's head crop size; paper 176)
    out_size: int = 128  # output crop side in pixels (paper 512, as GPEN produces; a power of two for gpen)
    scale: int = 0  # PixelShuffle factor of the residual branch; 0 = ceil(out_size / in_size)
    channels: int = 16  # feature width of the residual trunk (paper preset: 64)
    blocks: int = 4  # residual blocks (conv-ReLU-conv) in the trunk (paper preset: 16, EDSR-baseline)
    gpen_narrow: float = 1.0  # gpen: scales every channel count (GPEN-BFR-512: 1.0; GPEN-BFR-256: 0.5)
    gpen_channel_multiplier: int = 2  # gpen: widens the 64 px and finer layers (GPEN-BFR-512: 2)
    gpen_style_dim: int = 512  # gpen: latent width (GPEN-BFR-512: 512)
    gpen_n_mlp: int = 8  # gpen: layers of the mapping network (GPEN-BFR-512: 8)
    gpen_weights: str | None = None  # gpen: generator state dict to fine-tune (GPEN-BFR-512.pth); None = scratch
    batch_size: int = 8  # crops per step (paper trains GPEN with 4)
    iterations: int = 300  # optimiser steps (preview: ~45 s on one busy CPU core; paper preset: 20000; 0 = none)
    lr: float = 1e-3  # Adam learning rate (paper preset 2e-4; the paper's 2e-2 is for GPEN's own code)
    edge_weight: float = 0.1  # weight of the L1 loss on image gradients, next to plain L1 (0 = off)
    checkpoint_every: int = 100  # steps between resume checkpoints (0 = only on SIGTERM/SIGINT)
    seed: int = 0  # seeds weight init and batch sampling; CPU training is bit-reproducible
    device: str = "auto"  # "auto" (CUDA if available, else CPU), "cpu", "cuda", "cuda:1", ...

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"SRConfig.backend must be one of {BACKENDS}, got {self.backend!r}")
        for name in ("in_size", "out_size", "channels", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"SRConfig.{name} must be >= 1, got {getattr(self, name)}")
        # iterations = 0 exports the initial weights: with gpen_weights, the pretrained GPEN as is (a baseline)
        for name in ("scale", "blocks", "iterations", "checkpoint_every"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"SRConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.edge_weight < 0:
            raise ValueError(f"SRConfig: lr must be > 0 and edge_weight >= 0, got {self.lr}, {self.edge_weight}")
        if self.backend == "gpen":
            size = self.out_size
            if size < 8 or size > 1024 or size & (size - 1):
                raise ValueError(f"SRConfig.out_size must be a power of two in 8..1024 for the gpen backend, "
                                 f"got {size}")
            try:
                self.gpen_config()
            except ValueError as e:
                raise ValueError(f"SRConfig: invalid GPEN settings: {e}") from None
        # The weights file is checked when training starts (train_sr), not here: a trained model file stores
        # this config, and loading it must not need the file it was fine-tuned from.

    def gpen_config(self) -> GPENConfig:
        """The :class:`GPENConfig` of the gpen backend's generator (size = ``out_size``)."""
        return GPENConfig(size=self.out_size, style_dim=self.gpen_style_dim, n_mlp=self.gpen_n_mlp,
                           channel_multiplier=self.gpen_channel_multiplier, narrow=self.gpen_narrow)

    @property
    def pixel_shuffle_scale(self) -> int:
        """The residual branch's integer upscale factor (``scale``, or the automatic one)."""
        return self.scale if self.scale > 0 else math.ceil(self.out_size / self.in_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (what is stored in the model file)."""
        return dataclasses.asdict(self)


def resolve_device(device: str) -> torch.device:
    """Map ``"auto"`` to CUDA when available, else CPU; other strings pass through."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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
    (a :class:`vdub.gpen.FullGenerator` of ``config.gpen_config()``) and mapped back.
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


def _weights_path(cfg: SRConfig) -> Path | None:
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
        from that file (strictly, see :func:`vdub.gpen.load_official`); False builds the bare
        architecture, for loading a trained model's own state dict (:func:`load_sr`).
        Ignored by the residual backend.

    Raises FileNotFoundError when the weights file is missing, and ValueError naming the file
    and the missing/unexpected keys or shape mismatches when it does not fit the architecture.
    """
    if cfg.backend == "residual":
        return IdentitySRNet(cfg)
    model = GPENUpscaler(cfg)
    path = _weights_path(cfg) if pretrained else None
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


def _check_crops(name: str, arr: np.ndarray, size: int | None = None) -> None:
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"{name} must be N x S x S x 3 uint8 (square crops), got {arr.shape} {arr.dtype}")
    if size is not None and arr.shape[1] != size:
        raise ValueError(f"{name} crops are {arr.shape[1]} px, expected {size} px")


def _degrade(hr: np.ndarray, in_size: int, rng: np.random.Generator, max_blur_sigma: float,
             max_noise: float, jpeg_quality: tuple[int, int]) -> np.ndarray:
    """One HxHx3 uint8 crop -> in_size x in_size x 3 uint8, mildly and randomly degraded.

    Blur before the downscale (optics/defocus at the actor's resolution), then sensor-like
    Gaussian noise and a JPEG round-trip (the footage and the swapper's training crops were
    compressed). Strengths are drawn uniformly from zero, so clean pairs are included too.
    """
    img = hr
    sigma = rng.uniform(0.0, max_blur_sigma)
    if sigma > 0.1:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma * hr.shape[0] / in_size)
    # INTER_AREA: the proper box-filtered shrink, so the LR is not aliased by the resize itself
    img = cv2.resize(img, (in_size, in_size), interpolation=cv2.INTER_AREA).astype(np.float32)
    noise = rng.uniform(0.0, max_noise) * 255.0
    img = np.clip(img + rng.normal(0.0, 1.0, img.shape).astype(np.float32) * noise, 0, 255).round().astype(np.uint8)
    quality = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
    if quality < 100:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV failed to JPEG-encode a training crop")
        img = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return img


def build_training_pairs(
    actor_hr: np.ndarray,
    swapped_lr: np.ndarray | None,
    in_size: int,
    *,
    seed: int = 0,
    max_blur_sigma: float = 0.8,
    max_noise: float = 0.01,
    jpeg_quality: tuple[int, int] = (70, 100),
) -> tuple[np.ndarray, np.ndarray]:
    """Assemble the actor-specific SR training set, as in the paper (after Patel et al.).

    actor_hr: NxHxHx3 uint8, the actor's head crops at the SR output size (H = out_size).
    swapped_lr: NxSxSx3 uint8 or None, the swapper's reconstruction of actor frame i through
        the actor decoder, for the same N frames in the same order; resized (area or
        bicubic) to ``in_size`` when S differs.
    in_size: the SR input side in pixels.
    seed: seeds the random degradations (the result is a pure function of the arguments).
    max_blur_sigma: largest Gaussian blur, in *input* pixels, applied before downscaling.
    max_noise: largest Gaussian noise standard deviation, as a fraction of full scale.
    jpeg_quality: inclusive range of JPEG qualities; 100 means no JPEG round-trip.

    Returns ``(lr, hr)``: lr Mx(in_size)x(in_size)x3 uint8 and hr MxHxHx3 uint8 with M = N
    (actor pairs only) or 2N: first the N actor pairs (lr = the actor crop degraded and
    downscaled), then the N swapper pairs (lr = the swapper's output, hr = the actor crop,
    so the network learns to restore the swapper's blur with the actor's own details).
    """
    actor_hr = np.asarray(actor_hr)
    _check_crops("actor_hr", actor_hr)
    if in_size < 1 or in_size > actor_hr.shape[1]:
        raise ValueError(f"in_size must be in 1..{actor_hr.shape[1]} (the actor crop size), got {in_size}")
    rng = np.random.default_rng(seed)
    lr = [_degrade(frame, in_size, rng, max_blur_sigma, max_noise, jpeg_quality) for frame in actor_hr]
    hr = [actor_hr]
    if swapped_lr is not None:
        swapped_lr = np.asarray(swapped_lr)
        _check_crops("swapped_lr", swapped_lr)
        if len(swapped_lr) != len(actor_hr):
            raise ValueError(
                f"swapped_lr has {len(swapped_lr)} crops but actor_hr has {len(actor_hr)}: "
                "the swapper outputs must be the reconstructions of the same actor frames, in order"
            )
        if swapped_lr.shape[1] != in_size:
            interp = cv2.INTER_AREA if swapped_lr.shape[1] > in_size else cv2.INTER_CUBIC
            swapped_lr = np.stack([cv2.resize(f, (in_size, in_size), interpolation=interp) for f in swapped_lr])
        lr += list(swapped_lr)
        hr.append(actor_hr)
    return np.stack(lr).astype(np.uint8), np.concatenate(hr).astype(np.uint8)


def _edge_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences (rewards sharp, aligned edges)."""
    dx = (pred[..., :, 1:] - pred[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (pred[..., 1:, :] - pred[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def _file_identity(path: Path, chunk: int = 1 << 22) -> str:
    """``"<size bytes>:<sha256>"`` of a file's content (read in chunks: GPEN-BFR-512.pth is ~300 MB)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return f"{path.stat().st_size}:{h.hexdigest()}"


def _fingerprint(cfg: SRConfig, lr: np.ndarray, hr: np.ndarray) -> str:
    """Hash of the training data and of every setting that changes the trained weights.

    The GPEN weights file enters by content, not by path: replacing it restarts training,
    moving it does not. Settings of the backend not in use are left out (see
    ``_BACKEND_ONLY_FIELDS``), and so is ``backend`` itself for "residual", which keeps the
    fingerprints of residual runs what they were before the GPEN backend existed.
    """
    h = hashlib.sha256()
    skip = {"checkpoint_every", "device", "gpen_weights"}
    for backend, names in _BACKEND_ONLY_FIELDS.items():
        if backend != cfg.backend:
            skip.update(names)
    if cfg.backend == "residual":
        skip.add("backend")
    settings = {k: v for k, v in cfg.to_dict().items() if k not in skip}
    weights = _weights_path(cfg)
    if weights is not None:
        settings["gpen_weights_content"] = _file_identity(weights)
    h.update(json.dumps(settings, sort_keys=True).encode())
    for arr in (lr, hr):
        h.update(repr(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def _prepare_loss_csv(loss_csv: Path, resumed_step: int) -> None:
    """Start a fresh log, or keep only the rows up to the resumed step (later rows get redone)."""
    rows: list[dict[str, str]] = []
    if resumed_step > 0 and loss_csv.exists():
        with loss_csv.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= resumed_step]
    with atomic_path(loss_csv) as tmp:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)


def train_sr(
    lr: np.ndarray,
    hr: np.ndarray,
    cfg: SRConfig,
    out_model: str | Path,
    resume_path: str | Path,
    loss_csv: str | Path,
    on_step: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train the identity-specific SR network (``cfg.backend``) on (lr, hr) pairs; write the model atomically.

    lr: NxSxSx3 uint8 with S = cfg.in_size; hr: NxHxHx3 uint8 with H = cfg.out_size (from
        :func:`build_training_pairs`).
    out_model: final model file, ``{"config": cfg.to_dict(), "state_dict": ...}`` (CPU tensors).
    resume_path: resume checkpoint, written every ``cfg.checkpoint_every`` steps and on
        SIGTERM/SIGINT (then :class:`TrainingInterrupted` is raised); resumed from when its
        fingerprint (data + settings) matches, ignored otherwise; deleted once out_model exists.
    loss_csv: per-step log with columns step, loss, l1, edge, seconds (rows past a resumed
        step are dropped, so the log of a resumed run reads like an uninterrupted one).
    on_step: optional ``callback(step, loss)`` after each step (progress reporting).

    Loss: L1 + ``cfg.edge_weight`` * L1 of image gradients, Adam, for both backends. The gpen
    backend starts from ``cfg.gpen_weights`` when set (FileNotFoundError if it is missing,
    ValueError if it does not fit); the file's content is part of the resume fingerprint.
    ``cfg.iterations == 0`` writes the initial weights unchanged. On CPU the result depends
    only on the data, the settings and the torch thread count, and a resumed run ends with
    the same weights as an uninterrupted one.

    Returns a summary: iterations, resumed_from, initial_loss and final_loss (means over the
    first/last 10 logged steps of this process), seconds, seconds_per_iteration, device.
    """
    _weights_path(cfg)  # a missing weights file fails before any work
    lr, hr = np.asarray(lr), np.asarray(hr)
    _check_crops("lr", lr, cfg.in_size)
    _check_crops("hr", hr, cfg.out_size)
    if len(lr) != len(hr) or len(lr) == 0:
        raise ValueError(f"lr and hr must hold the same, non-zero number of crops, got {len(lr)} and {len(hr)}")
    out_model, resume_path, loss_csv = Path(out_model), Path(resume_path), Path(loss_csv)
    device = resolve_device(cfg.device)
    fingerprint = _fingerprint(cfg, lr, hr)

    torch.manual_seed(cfg.seed)
    model = build_sr_model(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # Data stays uint8 (4x smaller than float); each batch is converted on the fly.
    lr_t = torch.from_numpy(np.ascontiguousarray(lr)).permute(0, 3, 1, 2)
    hr_t = torch.from_numpy(np.ascontiguousarray(hr)).permute(0, 3, 1, 2)

    resumed = load_checkpoint(resume_path, model, optimizer, fingerprint)
    step = 0 if resumed is None else resumed[0]
    start_step = step
    _prepare_loss_csv(loss_csv, step)

    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    with stop_on_signals() as stop, loss_csv.open("a", newline="") as log_file:
        writer = csv.writer(log_file)
        while step < cfg.iterations:
            # Sampling uses the global torch RNG, which the checkpoint saves and restores.
            idx = torch.randint(len(lr_t), (cfg.batch_size,))
            x = lr_t[idx].to(device, torch.float32) / 255.0
            y = hr_t[idx].to(device, torch.float32) / 255.0
            pred = model(x)
            l1 = (pred - y).abs().mean()
            edge = _edge_l1(pred, y) if cfg.edge_weight > 0 else torch.zeros((), device=device)
            loss = l1 + cfg.edge_weight * edge
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1

            value = float(loss.detach())
            losses.append(value)
            writer.writerow([step, f"{value:.6f}", f"{float(l1.detach()):.6f}", f"{float(edge.detach()):.6f}",
                             f"{time.perf_counter() - t0:.3f}"])
            log_file.flush()
            if on_step is not None:
                on_step(step, value)
            if stop:
                save_checkpoint(resume_path, model, optimizer, step, fingerprint)
                raise TrainingInterrupted(f"SR training stopped by signal {stop.signum} at step {step}; "
                                          f"resume checkpoint {resume_path}")
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.iterations:
                save_checkpoint(resume_path, model, optimizer, step, fingerprint)
    seconds = time.perf_counter() - t0

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(out_model, {"config": cfg.to_dict(), "state_dict": state})
    resume_path.unlink(missing_ok=True)

    done = cfg.iterations - start_step
    summary = {
        "iterations": cfg.iterations,
        "resumed_from": start_step,
        "initial_loss": float(np.mean(losses[:10])) if losses else None,
        "final_loss": float(np.mean(losses[-10:])) if losses else None,
        "seconds": seconds,
        "seconds_per_iteration": seconds / done if done else None,
        "device": str(device),
    }
    log.info("SR trained: %s", summary)
    return summary


def load_sr(path: str | Path, device: str = "cpu") -> SRModel:
    """Load a model written by :func:`train_sr`, in eval mode on ``device`` ("auto" allowed).

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
    _check_crops("crops", crops, model.config.in_size)
    device = next(model.parameters()).device
    model.eval()
    out = np.empty((len(crops), model.config.out_size, model.config.out_size, 3), np.uint8)
    for i in range(0, len(crops), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(crops[i:i + batch_size])).permute(0, 3, 1, 2)
        out[i:i + batch_size] = _to_uint8(model(x.to(device, torch.float32) / 255.0))
    return out
