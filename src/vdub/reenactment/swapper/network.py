"""The identity-swapping network of the paper (section 2.2, supplementary Figure 3).

A shared encoder E (Xception) maps a head crop concatenated with its soft head mask to a
feature map; a fully-connected bottleneck turns it into a latent code, which two parallel
fully-connected extractors split into an identity embedding (F_i) and a style embedding
(F_s). The G-Block reshapes the identity embedding into a small spatial map, normalises it
with AdaIN driven by the style embedding and refines it with convolutions. Two decoders,
``actor`` and ``dubber``, share everything before them and learn one subject each.

Corrective form (``input_skip`` > 0, not in the paper): each decoder's last layer starts
at zero and its output is added, inside the input's soft head mask and bounded by
``input_skip``, to the input image itself: ``y = clip(x_rgb + input_skip * M_head *
tanh(D(h)), 0, 1)``. An untrained network then returns its input exactly, and training
only moves it where the loss says so: the network repairs the composite instead of
redrawing it from a 512-number bottleneck (which takes GPU-days to sharpen). With
``input_skip`` = 0 the decoders are the paper's (sigmoid of the last layer), bit for bit;
the state-dict layout is the same in both forms.

Geometry (paper config, crop S = 176):

    x  B x 4 x 176 x 176  ->  E  ->  B x 2048 x 6 x 6  ->  FC  ->  B x 512 latent
       -> F_i, F_s (B x 512 each) -> G-Block B x 512 x 11 x 11 -> decoder -> B x 3 x 176 x 176

The G-Block map is S / 2**n for n decoder stages (11 x 11 for 176 and 4 stages) rather than
the encoder's ceil(S / 32) = 6, because 176 is not a power-of-two multiple of 6; the paper
does not give this size.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import timm
import torch
from timm.models.xception_aligned import XceptionAligned
from torch import nn

from vdub.reenactment.config import SwapperConfig

DECODERS = ("actor", "dubber")

# Xception (Chollet 2017) channel widths, scaled by ``width_mult`` for smaller presets.
_ENTRY_WIDTHS = (128, 256, 728)
_MIDDLE_WIDTH = 728
_EXIT_WIDTHS = ((728, 1024, 1024), (1536, 1536, 2048))


def _scaled(channels: int, width_mult: float) -> int:
    """Scale a channel count, rounded to a multiple of 8 (fast kernels), at least 8."""
    return max(8, int(round(channels * width_mult / 8)) * 8)


def _aligned_block_cfg(width_mult: float, middle_blocks: int) -> list[dict[str, Any]]:
    """Xception's entry/middle/exit flow as timm ``XceptionAligned`` blocks, scaled in width.

    The stem (32 and 64 channels) is fixed inside timm; block widths follow Xception.
    """
    w = partial(_scaled, width_mult=width_mult)
    entry = [w(c) for c in _ENTRY_WIDTHS]
    cfg = [
        dict(in_chs=64, out_chs=entry[0], stride=2),
        dict(in_chs=entry[0], out_chs=entry[1], stride=2),
        dict(in_chs=entry[1], out_chs=entry[2], stride=2),
    ]
    # Separate dicts: XceptionAligned writes drop_path/dilation into each one.
    cfg += [dict(in_chs=w(_MIDDLE_WIDTH), out_chs=w(_MIDDLE_WIDTH), stride=1) for _ in range(middle_blocks)]
    exit1 = tuple(w(c) for c in _EXIT_WIDTHS[0])
    exit2 = tuple(w(c) for c in _EXIT_WIDTHS[1])
    cfg += [
        dict(in_chs=w(_MIDDLE_WIDTH), out_chs=exit1, stride=2),
        dict(in_chs=exit1[-1], out_chs=exit2, stride=1, no_skip=True, start_with_relu=False),
    ]
    return cfg


class XceptionEncoder(nn.Module):
    """Encoder E: Xception without its classifier.

    ``x``: B x in_channels x S x S in [-1, 1] -> B x C x ceil(S/32) x ceil(S/32)
    (C = 2048 for the paper's Xception, scaled by ``width_mult`` otherwise).
    """

    def __init__(self, cfg: SwapperConfig) -> None:
        super().__init__()
        if cfg.uses_legacy_xception:
            self.net = timm.create_model(
                "legacy_xception", pretrained=False, in_chans=cfg.in_channels, num_classes=0, global_pool=""
            )
        else:
            self.net = XceptionAligned(
                block_cfg=_aligned_block_cfg(cfg.width_mult, cfg.middle_blocks),
                num_classes=0,
                in_chans=cfg.in_channels,
                global_pool="",
                # timm's xception41 settings (TF-compatible BN epsilon).
                norm_layer=partial(nn.BatchNorm2d, eps=1e-3, momentum=0.1),
            )
        self.out_channels: int = self.net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)


class MappingMLP(nn.Module):
    """A fully-connected extractor (F_i or F_s): B x D -> B x D."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(dim, dim), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class AdaIN(nn.Module):
    """Adaptive instance normalisation: per-channel scale and bias predicted from a style vector.

    ``x``: B x C x H x W, ``style``: B x D -> B x C x H x W.
    """

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.affine = nn.Linear(style_dim, 2 * channels)
        # Start as plain instance norm (scale 1, bias 0): the style then only has to learn a change.
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale, bias = self.affine(style)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1 + scale) + bias


class GBlock(nn.Module):
    """G-Block: identity embedding -> spatial map, AdaIN(style) + conv, repeated.

    ``identity``: B x D, ``style``: B x D -> B x gblock_channels x g x g (g = ``cfg.gblock_size``).
    """

    def __init__(self, cfg: SwapperConfig) -> None:
        super().__init__()
        c, g = cfg.gblock_channels, cfg.gblock_size
        self.shape = (c, g, g)
        self.to_map = nn.Linear(cfg.latent_dim, c * g * g)
        self.adain = nn.ModuleList([AdaIN(c, cfg.latent_dim) for _ in range(cfg.gblock_convs)])
        self.convs = nn.ModuleList([nn.Conv2d(c, c, 3, padding=1) for _ in range(cfg.gblock_convs)])
        self.act = nn.LeakyReLU(0.2)

    def forward(self, identity: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = self.to_map(identity).view(identity.shape[0], *self.shape)
        for adain, conv in zip(self.adain, self.convs):
            x = self.act(conv(adain(x, style)))
        return x


class Upscale(nn.Module):
    """One decoder stage: B x Cin x H x W -> B x Cout x 2H x 2W (conv + pixel shuffle, then a 3x3 conv)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # Pixel shuffle rather than transposed conv: no checkerboard artefacts on skin.
        self.up = nn.Sequential(
            nn.Conv2d(in_channels, 4 * out_channels, 3, padding=1), nn.LeakyReLU(0.1), nn.PixelShuffle(2)
        )
        self.refine = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.refine(self.up(x))


class Decoder(nn.Module):
    """Decoder D for one subject: B x gblock_channels x g x g -> B x 3 x S x S in [0, 1].

    With ``cfg.input_skip`` > 0 it is corrective: ``forward`` also takes the network's
    input ``x`` (B x 4 x S x S, RGB + head mask) and returns ``x_rgb`` plus a residual
    bounded by ``input_skip`` inside the head mask; the last layer starts at zero so that
    the untrained decoder returns ``x_rgb`` exactly.
    """

    def __init__(self, cfg: SwapperConfig) -> None:
        super().__init__()
        widths = (cfg.gblock_channels, *cfg.decoder_channels)
        self.stages = nn.Sequential(*[Upscale(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.to_rgb = nn.Conv2d(widths[-1], 3, 3, padding=1)
        self.input_skip = float(cfg.input_skip)
        if self.input_skip > 0:
            # Zeroing after construction draws no random numbers: every other weight is
            # initialised exactly as in the paper's form.
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)

    def forward(self, h: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        out = self.to_rgb(self.stages(h))
        if self.input_skip == 0:
            return torch.sigmoid(out)
        if x is None:
            raise ValueError("a corrective decoder (input_skip > 0) needs the network's input x")
        rgb, head = x[:, :3].to(out.dtype), x[:, 3:4].to(out.dtype)
        return (rgb + self.input_skip * head * torch.tanh(out)).clamp(0.0, 1.0)


class IdentitySwapper(nn.Module):
    """Shared encoder, FC bottleneck, F_i / F_s, G-Block, and the ``actor`` / ``dubber`` decoders.

    Trained to reconstruct actor crops through ``decoders['actor']`` and virtual-dubber crops
    through ``decoders['dubber']``; at inference a virtual-dubber crop through the actor
    decoder gives the actor's identity with the dubber's expression.
    """

    def __init__(self, cfg: SwapperConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = XceptionEncoder(cfg)
        flat = self.encoder.out_channels * cfg.feature_size**2
        self.bottleneck = nn.Sequential(nn.Flatten(), nn.Linear(flat, cfg.latent_dim))
        self.identity_extractor = MappingMLP(cfg.latent_dim, cfg.mapping_layers)
        self.style_extractor = MappingMLP(cfg.latent_dim, cfg.mapping_layers)
        self.g_block = GBlock(cfg)
        self.decoders = nn.ModuleDict({name: Decoder(cfg) for name in DECODERS})

    def _check_input(self, x: torch.Tensor) -> None:
        s, c = self.cfg.crop_size, self.cfg.in_channels
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ValueError(f"expected B x {c} x {s} x {s} input, got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder feature map. ``x``: B x 4 x S x S in [0, 1] -> B x C x ceil(S/32) x ceil(S/32)."""
        self._check_input(x)
        # Zero-centred input suits the encoder's ReLU/BN stack better than [0, 1].
        return self.encoder(x * 2 - 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent code. ``x``: B x 4 x S x S in [0, 1] -> B x latent_dim."""
        return self.bottleneck(self.features(x))

    def shared(self, x: torch.Tensor) -> torch.Tensor:
        """Everything both decoders share. ``x``: B x 4 x S x S in [0, 1] -> B x C_g x g x g."""
        z = self.encode(x)
        return self.g_block(self.identity_extractor(z), self.style_extractor(z))

    def _decoder(self, name: str) -> nn.Module:
        if name not in self.decoders:
            raise ValueError(f"decoder must be one of {DECODERS}, got {name!r}")
        return self.decoders[name]

    def decode(self, h: torch.Tensor, decoder: str, x: torch.Tensor | None = None) -> torch.Tensor:
        """Run one decoder. ``h``: B x C_g x g x g (from :meth:`shared`) -> B x 3 x S x S in [0, 1].

        ``x``: the network's input (B x 4 x S x S), which a corrective decoder adds its
        residual to; ignored by the paper's decoders.
        """
        return self._decoder(decoder)(h, x)

    def forward(self, x: torch.Tensor, decoder: str) -> torch.Tensor:
        """``x``: B x 4 x S x S in [0, 1] (RGB + head mask) -> B x 3 x S x S in [0, 1]."""
        net = self._decoder(decoder)  # fail on a bad name before any computation
        return net(self.shared(x), x)


def parameter_counts(model: IdentitySwapper) -> dict[str, int]:
    """Parameters per component (encoder, bottleneck, extractors, G-Block, each decoder) and total."""
    counts: dict[str, int] = {}
    for name, module in model.named_children():
        if isinstance(module, nn.ModuleDict):
            for sub, child in module.items():
                counts[f"{name}.{sub}"] = sum(p.numel() for p in child.parameters())
        else:
            counts[name] = sum(p.numel() for p in module.parameters())
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
