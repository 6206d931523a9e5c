"""Settings of the identity-specific upscaler (both backends) and of its GPEN generator; torch-free, so that
the workflow builds them when it starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from vdub.core.settings import Settings

BACKENDS = ("residual", "gpen")


# Fields that only shape one backend's network: left out of the other backend's training
# fingerprint, so that changing them keeps the other backend's resume checkpoints.
BACKEND_ONLY_FIELDS = {
    "residual": ("scale", "channels", "blocks"),
    "gpen": ("gpen_narrow", "gpen_channel_multiplier", "gpen_style_dim", "gpen_n_mlp", "gpen_weights"),
}


@dataclass(frozen=True)
class GPENConfig:
    """Hyper-parameters of :class:`~vdub.super_resolution.gpen.FullGenerator` (same meaning and defaults as
    upstream's constructor).

    ``size`` is both the input and output resolution (a power of two, 4..1024).  ``narrow`` scales every channel
    count; ``channel_multiplier`` scales the channel counts from 64 px upwards only.
    """

    size: int = 512
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2
    narrow: float = 1.0
    lr_mlp: float = 0.01
    isconcat: bool = True

    # Released checkpoints; filled in right after the class body (a dataclass cannot refer to itself here).
    BFR_512: ClassVar[GPENConfig]
    BFR_256: ClassVar[GPENConfig]

    def __post_init__(self) -> None:
        if self.size not in _BASE_CHANNELS or self.size < 8:
            raise ValueError(f"size must be a power of two in 8..1024, got {self.size}")
        if self.n_mlp < 1 or self.style_dim < 1:
            raise ValueError(f"n_mlp and style_dim must be positive, got {self.n_mlp}, {self.style_dim}")
        if min(self.channels().values()) < 1:
            raise ValueError(f"narrow={self.narrow} / channel_multiplier={self.channel_multiplier} give 0 channels")

    def channels(self) -> dict[int, int]:
        """Feature channels per resolution, shared by the encoder and the generator (upstream's table)."""
        out = {}
        for res, (base, scaled) in _BASE_CHANNELS.items():
            mult = self.channel_multiplier if scaled else 1
            # int() truncates exactly like upstream, so e.g. narrow=0.5 gives the released 256-px widths.
            out[res] = int(base * mult * self.narrow)
        return out

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))


# resolution -> (base channels, whether channel_multiplier applies)
_BASE_CHANNELS: dict[int, tuple[int, bool]] = {
    4: (512, False),
    8: (512, False),
    16: (512, False),
    32: (512, False),
    64: (256, True),
    128: (128, True),
    256: (64, True),
    512: (32, True),
    1024: (16, True),
}


GPENConfig.BFR_512 = GPENConfig(size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0)
GPENConfig.BFR_256 = GPENConfig(size=256, style_dim=512, n_mlp=8, channel_multiplier=1, narrow=0.5)



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
        # The weights file is checked when training starts (fit_upscaler), not here: a trained model file stores
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
