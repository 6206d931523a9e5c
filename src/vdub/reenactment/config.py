"""Settings of the reenactment (config sections ``reenact``, ``self_reenactment`` and ``losses``, the preset's
``swapper``, ``train`` and ``paste``): the identity-swapping network, its training and loss weights, the
self-reenactment pairs and the paste. Torch- and OpenCV-free, so that the workflow builds them when it starts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vdub.core.settings import Settings

# Blocks of Xception's middle flow: with these at width 1 the encoder is timm's legacy_xception itself.
_XCEPTION_MIDDLE_BLOCKS = 8


@dataclass
class SwapperConfig(Settings):
    """Hyperparameters of :class:`~vdub.reenactment.swapper.network.IdentitySwapper`; defaults: the paper's."""

    crop_size: int = 176  # S: side of the square head crop in pixels (paper: 176)
    in_channels: int = 4  # RGB + grey-scale soft head mask M_head (paper: crop concatenated with mask)
    width_mult: float = 1.0  # encoder E widths relative to Xception (1.0 = Xception's 128..2048)
    middle_blocks: int = 8  # blocks in Xception's middle flow (8 in Xception as the paper uses it)
    latent_dim: int = 512  # FC bottleneck latent code, also the size of both embeddings (paper: 512)
    mapping_layers: int = 2  # FC layers in each of F_i and F_s (StyleGAN-style mapping, depth not in paper)
    gblock_channels: int = 512  # channels of the identity map the G-Block normalises with AdaIN
    gblock_convs: int = 2  # (AdaIN, 3x3 conv) pairs in the G-Block
    decoder_channels: tuple[int, ...] = (512, 256, 128, 64)  # output channels of each 2x upsampling stage
    input_skip: float = 0.0  # 0: the paper's decoders; > 0: corrective, input + head-masked residual of at most this


    def __post_init__(self) -> None:
        self.decoder_channels = tuple(int(c) for c in self.decoder_channels)
        if self.crop_size <= 0 or self.in_channels <= 0 or self.latent_dim <= 0:
            raise ValueError(f"crop_size, in_channels and latent_dim must be positive: {self}")
        if self.width_mult <= 0 or self.middle_blocks < 0 or self.mapping_layers < 1 or self.gblock_convs < 1:
            raise ValueError(f"invalid width_mult/middle_blocks/mapping_layers/gblock_convs: {self}")
        if not 0.0 <= self.input_skip <= 1.0:
            raise ValueError(f"input_skip must be in [0, 1] (0: the paper's autoencoder), got {self.input_skip}")
        if not self.decoder_channels:
            raise ValueError("decoder_channels needs at least one upsampling stage")
        scale = 2 ** len(self.decoder_channels)
        if self.crop_size % scale or self.crop_size // scale < 2:
            # AdaIN's instance norm needs more than one spatial element per channel.
            raise ValueError(
                f"crop_size {self.crop_size} must be a multiple of 2**{len(self.decoder_channels)} "
                f"(one per decoder stage) with at least a 2x2 G-Block map"
            )

    @property
    def feature_size(self) -> int:
        """Side of the encoder's feature map: ceil(S / 32) (6 for S = 176)."""
        return math.ceil(self.crop_size / 32)

    @property
    def gblock_size(self) -> int:
        """Side of the G-Block's identity map: S / 2**len(decoder_channels) (11 for the paper)."""
        return self.crop_size // 2 ** len(self.decoder_channels)

    @property
    def uses_legacy_xception(self) -> bool:
        """True when E is Xception itself (timm ``legacy_xception``) rather than a scaled copy."""
        return self.width_mult == 1.0 and self.middle_blocks == _XCEPTION_MIDDLE_BLOCKS


@dataclass
class TrainConfig(Settings):
    """Optimisation settings; defaults are the paper's where it gives them.

    Augmentation: no horizontal flips, because faces are not symmetric (hair parting, a
    one-sided smile or mouth corner) and a mirrored actor would teach the actor decoder a
    mirrored identity. Small random shifts are on by default: they make the network robust
    to the frame-to-frame jitter of the crop boxes and face alignment the paper reports.
    Colour jitter is off by default: each decoder should keep its subject's true colours
    (the reenact stage colour-matches afterwards).
    """

    batch_size: int = 64  # crops per decoder per step (paper: 64)
    dubber_batch_size: int | None = None  # the dubber decoder's crops per step (None: batch_size, the paper)
    iterations: int = 65000  # optimiser steps (paper: 65k)
    lr: float = 5e-5  # Adam learning rate (paper: 5e-5)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas (not given in the paper: PyTorch defaults)
    checkpoint_every: int = 1000  # steps between resume checkpoints
    log_every: int = 100  # steps between progress lines in the log
    seed: int = 0  # seeds init, batch sampling and augmentation (bit-exact on CPU)
    max_shift: float = 0.03  # random translation of crop and masks, up to this fraction of the crop side
    colour_jitter: float = 0.0  # per-channel gain in 1 +- x and offset in +- x/2 (0 = off)
    warmup: int = 0  # steps of linear learning-rate warm-up from 0 (paper: none)
    lr_final: float = 1.0  # learning rate at the last step / lr, cosine decay (1.0: constant, the paper)
    bn_recalibration: int = 0  # batches that re-estimate batch-norm statistics after training (0: keep them)
    self_pair_share: float = 0.0  # share of the actor decoder's batch from self-reenactment pairs (0: none)
    device: str = "auto"  # 'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ...
    amp: bool = True  # bf16 autocast of the network (CUDA only; the loss stays float32)
    channels_last: bool = True  # NHWC memory layout for faster convolutions (CUDA only)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        if self.batch_size < 1 or self.iterations < 0 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError(f"invalid batch_size/iterations/checkpoint_every/log_every: {self}")
        if self.dubber_batch_size is not None and self.dubber_batch_size < 1:
            raise ValueError(f"dubber_batch_size must be >= 1 (or None: batch_size), got {self.dubber_batch_size}")
        if not 0 <= self.max_shift < 0.5 or self.colour_jitter < 0:
            raise ValueError(f"invalid max_shift/colour_jitter: {self}")
        if self.warmup < 0 or not 0 < self.lr_final <= 1 or self.bn_recalibration < 0:
            raise ValueError(f"invalid warmup/lr_final/bn_recalibration: {self}")
        if not 0 <= self.self_pair_share <= 1:
            raise ValueError(f"self_pair_share must be in [0, 1], got {self.self_pair_share}")

    def batch_of(self, decoder: str) -> int:
        """Crops per step for one decoder."""
        if decoder == "dubber" and self.dubber_batch_size is not None:
            return self.dubber_batch_size
        return self.batch_size

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser step ``step`` (1-based): warm-up, then cosine decay to ``lr_final``."""
        warm = min(1.0, step / self.warmup) if self.warmup else 1.0
        if self.lr_final >= 1.0 or self.iterations <= 1:
            return self.lr * warm
        progress = min(max((step - 1) / (self.iterations - 1), 0.0), 1.0)
        decay = self.lr_final + (1.0 - self.lr_final) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.lr * warm * decay


@dataclass
class LossWeights(Settings):
    """Weights of eq. (1)-(2); defaults are the paper's values."""

    lambda_head: float = 1.0  # lambda_head: MSE weight of L_head
    lambda_eyes: float = 1.0  # lambda_eyes: MSE weight of L_eyes
    lambda_mouth: float = 0.01  # lambda_mouth: MSE weight of L_mouth (paper: 0.01)
    lambda_1: float = 1.0  # lambda_1: weight of L_eyes in L_actor / L_dubber
    lambda_2: float = 4.0  # lambda_2: weight of L_mouth in L_actor / L_dubber (paper: 4)
    area_normalised: bool = False  # region terms averaged over the region, not the image (paper: False)


@dataclass
class SelfPairsConfig(Settings):
    """Settings of the self-reenactment pairs (config section ``self_reenactment``)."""

    holdout_every: int = 10  # every Nth frame with a pair is kept out of the swapper's training and scored
    exclude_window: int = 8  # the inner mouth is never taken from within this many frames of the target
    score_size: int = 256  # side (px) of the head crops the held-out frames are scored at
    lower_face_ramp: float = 0.1  # the scored lower face starts this many face heights below the nose tip

    def __post_init__(self) -> None:
        if self.holdout_every < 2 or self.exclude_window < 0 or self.score_size < 16 or self.lower_face_ramp <= 0:
            raise ValueError(f"invalid self_reenactment settings (holdout_every >= 2, exclude_window >= 0, "
                             f"score_size >= 16, lower_face_ramp > 0): {self}")


@dataclass
class PasteConfig(Settings):
    """How the heads are pasted: config section ``reenact`` and the preset's ``paste.detail``."""

    colour_window: int = 9  # frames of the Savitzky-Golay filter on the per-frame Lab shift (1 = per frame)
    stabilise_window: int = 5  # frames averaged (Gaussian weights) in the still part of the head; 1 = off
    stabilise_ramp: float = 0.1  # fade from still (nose tip) to untouched, in face heights below the nose tip
    detail: float = 0.0  # 0: the network's head replaces the actor's (paper); 1: its change added to the composite

    def __post_init__(self) -> None:
        for name in ("colour_window", "stabilise_window"):
            value = int(getattr(self, name))
            if value < 1 or value % 2 == 0:
                raise ValueError(f"reenact.{name} must be an odd number of frames >= 1, got {value}")
        if not self.stabilise_ramp > 0:
            raise ValueError(f"reenact.stabilise_ramp must be > 0, got {self.stabilise_ramp}")
        # A Python float, as JSON may bring an int: the paste's scalars are Python floats or np.float32 of it.
        self.detail = float(self.detail)
        if not 0.0 <= self.detail <= 1.0:
            raise ValueError(f"paste detail must be in [0, 1], got {self.detail}")
