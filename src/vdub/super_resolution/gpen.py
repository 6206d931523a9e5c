"""GPEN face-restoration generator ("GAN Prior Embedded Network", Yang et al., CVPR 2021) in plain PyTorch.

GPEN is a StyleGAN2 generator (rosinality's ``stylegan2-pytorch`` layout) driven by a U-Net-like encoder: the
encoder squeezes the degraded face down to 4x4, a linear layer turns that into the latent code, and every encoder
feature map is handed to the generator as its "noise" input.  With ``isconcat=True`` (the released models) the
noise is *concatenated* to the styled-conv output instead of added, which doubles the channels that every
following layer sees.

The module and parameter names below mirror ``face_model/gpen_model.py`` of https://github.com/yangxy/GPEN so that
the released generator state dicts (``GPEN-BFR-512.pth``, ``GPEN-BFR-256.pth``) load with ``strict=True`` through
:func:`load_official`.  Upstream compiles CUDA kernels (``fused_act``, ``upfirdn2d``) at import time; here both are
replaced by plain-PyTorch equivalents so the model runs anywhere (CPU, CUDA, ``meta``) without a compiler.

Differences from upstream (state-dict compatible, numerically equivalent):

* ``FullGenerator.forward`` always returns ``(image, latent_or_None)``; upstream's return type depends on the
  commit (a bare image or a tuple), and its own inference wrapper unpacks a tuple.
* Style mixing (``inject_index`` with two styles) is not supported: the encoder only ever produces one latent.
* Construction takes a :class:`GPENConfig` instead of positional arguments, and no ``device`` argument (use
  ``.to(device)`` or a ``torch.device`` context manager).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vdub.super_resolution.config import GPENConfig
from vdub.training.state_dicts import layout_mismatch

__all__ = [
    "FullGenerator",
    "Generator",
    "load_official",
    "parameter_count",
    "upfirdn2d",
    "fused_leaky_relu",
]

# StyleGAN2's [1, 3, 3, 1] binomial low-pass filter, used for every resampling step.
BLUR_KERNEL: tuple[int, ...] = (1, 3, 3, 1)


# --------------------------------------------------------------------------------------------------------------
# Plain-PyTorch replacements for upstream's CUDA ops
# --------------------------------------------------------------------------------------------------------------


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, FIR-filter with ``kernel``, then subsample (StyleGAN2's ``upfirdn2d``).

    x: B x C x H x W; kernel: kh x kw.  ``pad = (before, after)`` applies to both axes (negative values crop).
    Returns B x C x ((H*up + before + after - kh) // down + 1) x (same for W).
    """
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    if up > 1:
        # Insert up-1 zeros after every sample along each axis.
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0):x.shape[2] - max(-p1, 0), max(-p0, 0):x.shape[3] - max(-p1, 0)]
    # upfirdn2d is a true convolution, conv2d a correlation: flip the kernel.  Depthwise, one filter per channel.
    weight = torch.flip(kernel, (0, 1)).to(x.dtype).expand(c, 1, kh, kw)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                     scale: float = math.sqrt(2)) -> torch.Tensor:
    """``leaky_relu(x + bias) * scale`` with ``bias`` (C,) broadcast over dim 1 of x (B x C or B x C x H x W).

    The sqrt(2) gain keeps the activation variance of a unit-Gaussian input roughly unchanged (StyleGAN2).
    """
    bias = bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x + bias, negative_slope=negative_slope) * scale


def _make_kernel(taps: Sequence[int]) -> torch.Tensor:
    """Separable 2-D FIR kernel (len(taps) x len(taps)) from 1-D taps, normalised to unit DC gain."""
    k = torch.tensor(list(taps), dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


# --------------------------------------------------------------------------------------------------------------
# Building blocks (names and parameter shapes follow upstream so that state dicts line up)
# --------------------------------------------------------------------------------------------------------------


class PixelNorm(nn.Module):
    """Normalise each latent vector (B x D) to unit RMS over D before the mapping network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class FusedLeakyReLU(nn.Module):
    """Learned per-channel bias + scaled leaky ReLU; parameter ``bias`` (C,)."""

    def __init__(self, channel: int, negative_slope: float = 0.2, scale: float = math.sqrt(2)) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class ScaledLeakyReLU(nn.Module):
    """Bias-free scaled leaky ReLU (used by ConvLayer when ``bias=False``; not present in the released models)."""

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, negative_slope=self.negative_slope) * math.sqrt(2)


class Blur(nn.Module):
    """FIR low-pass with explicit padding; buffer ``kernel`` (4 x 4) is part of the state dict upstream."""

    def __init__(self, taps: Sequence[int], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        kernel = _make_kernel(taps)
        if upsample_factor > 1:
            # Zero insertion lowers the DC gain by factor**2; compensate in the filter.
            kernel = kernel * upsample_factor**2
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling of the RGB skip path: B x C x H x W -> B x C x 2H x 2W; buffer ``kernel`` (4 x 4)."""

    def __init__(self, taps: Sequence[int], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", _make_kernel(taps) * factor**2)
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualConv2d(nn.Module):
    """Conv with equalised learning rate: N(0,1) weights (out x in x k x k) scaled by 1/sqrt(fan_in) at run time."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate and optional fused bias + leaky ReLU.

    Parameters: ``weight`` (out x in), ``bias`` (out,).  ``lr_mul`` < 1 slows the mapping network down (StyleGAN):
    weights are stored divided by lr_mul and multiplied back at run time.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            out = F.linear(x, self.weight * self.scale)
            return fused_leaky_relu(out, bias) if bias is not None else F.leaky_relu(out, 0.2) * math.sqrt(2)
        return F.linear(x, self.weight * self.scale, bias=bias)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated (and optionally demodulated) convolution, one kernel per sample.

    ``weight``: 1 x out x in x k x k; ``modulation``: EqualLinear(style_dim -> in) whose bias starts at 1 so that the
    initial modulation is the identity.  forward(x: B x in x H x W, style: B x style_dim) -> B x out x H' x W' with
    H' = 2H when ``upsample`` else H.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: Sequence[int] = BLUR_KERNEL) -> None:
        super().__init__()
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            # The stride-2 transposed conv yields 2H + k - 2 samples; this padding brings the 4-tap blur back to 2H.
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.kernel_size
        s = self.modulation(style).view(b, 1, c, 1, 1)
        weight = self.scale * self.weight * s  # B x out x in x k x k
        if self.demodulate:
            # Rescale each output channel to unit expected variance (replaces StyleGAN1's AdaIN).
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4)) + 1e-8).view(b, self.out_channel, 1, 1, 1)
        # Fold the batch into conv groups so every sample uses its own kernel in a single call.
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            # conv_transpose2d wants (in, out/groups, k, k) per group.
            weight = weight.transpose(1, 2).reshape(b * c, self.out_channel, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, padding=0, groups=b)
            out = self.blur(out.reshape(b, self.out_channel, out.shape[2], out.shape[3]))
            return out
        out = F.conv2d(x, weight.reshape(b * self.out_channel, c, k, k), padding=self.padding, groups=b)
        return out.reshape(b, self.out_channel, out.shape[2], out.shape[3])


class NoiseInjection(nn.Module):
    """Adds (or, in GPEN, concatenates) a learned-scale noise map; parameter ``weight`` (1,).

    forward(x: B x C x H x W, noise: B x C x H x W or None) -> B x 2C x H x W if ``isconcat`` else B x C x H x W.
    In GPEN the "noise" is an encoder feature map, which is how the degraded face's detail reaches the generator.
    """

    def __init__(self, isconcat: bool = True) -> None:
        super().__init__()
        self.isconcat = isconcat
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn_like(x)
        if self.isconcat:
            return torch.cat((x, self.weight * noise), dim=1)
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """Learned 4x4 starting tensor of the generator; parameter ``input`` (1 x C x 4 x 4)."""

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """ModulatedConv2d -> noise injection -> fused bias/leaky ReLU.

    forward(x: B x in x H x W, style: B x style_dim, noise: B x out x H' x W') -> B x (out * m) x H' x W', m = 2 with
    ``isconcat`` (the activation's bias therefore has out * m entries).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[int] = BLUR_KERNEL, demodulate: bool = True, isconcat: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, demodulate=demodulate,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection(isconcat)
        self.activate = FusedLeakyReLU(out_channel * (2 if isconcat else 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB plus the upsampled running RGB skip.

    forward(x: B x C x H x W, style: B x style_dim, skip: B x 3 x H/2 x W/2 or None) -> B x 3 x H x W.
    """

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[int] = BLUR_KERNEL) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> activation, as an ``nn.Sequential`` (so state-dict keys are ``<i>.weight`` etc.).

    With ``downsample`` the blur + stride-2 conv halves H and W.  With ``activate`` and ``bias`` the bias lives in the
    FusedLeakyReLU, not in the conv.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[int] = BLUR_KERNEL, bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)


# --------------------------------------------------------------------------------------------------------------
# Generator and full encoder-decoder model
# --------------------------------------------------------------------------------------------------------------


class Generator(nn.Module):
    """StyleGAN2 synthesis network with GPEN's concatenated noise (upstream ``Generator``).

    ``style``: PixelNorm + n_mlp EqualLinear mapping network; ``input``: 4x4 constant; ``conv1``/``to_rgb1`` at 4 px;
    then per resolution 8..size two ``convs`` (the first upsamples) and one ``to_rgbs`` entry.
    """

    def __init__(self, config: GPENConfig) -> None:
        super().__init__()
        self.size = config.size
        self.style_dim = config.style_dim
        self.n_mlp = config.n_mlp
        self.log_size = config.log_size
        # Uses 2 latents per resolution from 8 px plus 2 at 4 px (conv1, to_rgb1).
        self.n_latent = self.log_size * 2 - 2
        self.channels = config.channels()
        m = 2 if config.isconcat else 1
        self.feat_multiplier = m

        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(config.style_dim, config.style_dim, lr_mul=config.lr_mlp, activation="fused_lrelu")
              for _ in range(config.n_mlp)],
        )
        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, config.style_dim, isconcat=config.isconcat)
        self.to_rgb1 = ToRGB(c4 * m, config.style_dim, upsample=False)

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channel = c4
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2**i]
            self.convs.append(StyledConv(in_channel * m, out_channel, 3, config.style_dim, upsample=True,
                                         isconcat=config.isconcat))
            self.convs.append(StyledConv(out_channel * m, out_channel, 3, config.style_dim,
                                         isconcat=config.isconcat))
            self.to_rgbs.append(ToRGB(out_channel * m, config.style_dim))
            in_channel = out_channel

    def forward(
        self,
        style: torch.Tensor,
        noise: Sequence[torch.Tensor | None] | None = None,
        input_is_latent: bool = False,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Synthesize an image from one style vector.

        style: B x style_dim (z, or w if ``input_is_latent``).  noise: 2*log2(size) - 3 maps, the i-th B x C_r x r x r
        for r = 4, 8, 8, 16, 16, ..., size, size (None entries draw N(0, 1)).  Returns (image B x 3 x size x size,
        latent B x n_latent x style_dim).
        """
        w = style if input_is_latent else self.style(style)
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent")
            w = truncation_latent + truncation * (w - truncation_latent)
        latent = w.unsqueeze(1).expand(-1, self.n_latent, -1)
        n_noise = 2 * self.log_size - 3
        noise = list(noise) if noise is not None else [None] * n_noise
        if len(noise) != n_noise:
            raise ValueError(f"expected {n_noise} noise maps, got {len(noise)}")

        out = self.conv1(self.input(w.shape[0]), latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for up_conv, conv, to_rgb, n1, n2 in zip(self.convs[::2], self.convs[1::2], self.to_rgbs, noise[1::2],
                                                  noise[2::2]):
            out = up_conv(out, latent[:, i], n1)
            out = conv(out, latent[:, i + 1], n2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip, latent


class FullGenerator(nn.Module):
    """GPEN blind face restoration network (upstream ``FullGenerator``).

    Encoder: ``ecd0`` = 1x1 ConvLayer 3 -> C_size at full resolution, then ``ecd1`` .. ``ecd{log2(size)-2}`` =
    stride-2 3x3 ConvLayers down to 4x4; ``final_linear`` maps the flattened 4x4 features to a style_dim latent
    (a z, passed through the generator's mapping network).  Each encoder feature map is fed (twice, once per styled
    conv of its resolution; once at 4 px) to the generator as its noise input.
    """

    def __init__(self, config: GPENConfig = GPENConfig.BFR_512) -> None:
        super().__init__()
        self.config = config
        self.log_size = config.log_size
        channels = config.channels()
        self.generator = Generator(config)
        # Registered with setattr to get upstream's ecd0, ecd1, ... names; each wraps a single ConvLayer.
        self.names = [f"ecd{i}" for i in range(self.log_size - 1)]
        self.ecd0 = nn.Sequential(ConvLayer(3, channels[config.size], 1))
        in_channel = channels[config.size]
        for i in range(1, self.log_size - 1):
            out_channel = channels[config.size >> i]
            setattr(self, self.names[i], nn.Sequential(ConvLayer(in_channel, out_channel, 3, downsample=True)))
            in_channel = out_channel
        self.final_linear = nn.Sequential(EqualLinear(channels[4] * 4 * 4, config.style_dim, activation="fused_lrelu"))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: B x 3 x S x S -> (z: B x style_dim, features [B x C_S x S x S, ..., B x C_4 x 4 x 4], finest first)."""
        feats = []
        h = x
        for name in self.names:
            h = getattr(self, name)(h)
            feats.append(h)
        return self.final_linear(h.flatten(1)), feats

    def forward(
        self,
        x: torch.Tensor,
        return_latents: bool = False,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
        input_is_latent: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Restore faces.

        x: B x 3 x S x S, RGB in [-1, 1], S = config.size (upstream feeds aligned 512x512 crops, (img/255 - 0.5)/0.5).
        Returns (image B x 3 x S x S, nominally in [-1, 1] but not clamped; latent B x n_latent x style_dim if
        ``return_latents`` else None).
        """
        s = self.config.size
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != s or x.shape[3] != s:
            raise ValueError(f"expected input B x 3 x {s} x {s}, got {tuple(x.shape)}")
        z, feats = self.encode(x)
        # Coarsest first, each resolution twice (one per styled conv), but 4 px only once (conv1 only).
        noise = [f for f in reversed(feats) for _ in range(2)][1:]
        image, latent = self.generator(z, noise, input_is_latent=input_is_latent, truncation=truncation,
                                       truncation_latent=truncation_latent)
        return image, (latent if return_latents else None)


# --------------------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------------------


def parameter_count(model: nn.Module) -> int:
    """Number of learnable scalars (buffers such as blur kernels excluded); works on ``meta`` tensors too."""
    return sum(p.numel() for p in model.parameters())


def _extract_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """Bare state dict, or a training checkpoint {'g_ema': ..., 'g': ...} (EMA weights preferred)."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a state dict or checkpoint dict, got {type(obj).__name__}")
    for key in ("g_ema", "g"):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"state dict entry {k!r} is a {type(v).__name__}, not a tensor")
        # Saved from nn.DataParallel / DistributedDataParallel.
        sd[k.removeprefix("module.")] = v
    return sd


def load_official(model: FullGenerator, path_or_state_dict: str | Path | Mapping[str, Any],
                  max_listed: int = 5) -> FullGenerator:
    """Load upstream GPEN weights (e.g. ``GPEN-BFR-512.pth``) into ``model`` strictly; returns ``model``.

    Accepts a path (loaded on CPU with ``weights_only=True``) or an already-loaded object; either the bare
    generator state dict of the releases or a training checkpoint with ``g_ema`` / ``g``; a ``module.`` prefix is
    stripped.  Raises ValueError listing (the first ``max_listed``) missing keys, unexpected keys and shape
    mismatches before anything is copied, so a failed load leaves ``model`` unchanged.
    """
    obj = path_or_state_dict
    if isinstance(obj, (str, Path)):
        obj = torch.load(obj, map_location="cpu", weights_only=True)
    sd = _extract_state_dict(obj)
    expected = model.state_dict()
    problems = layout_mismatch(sd, {k: v.shape for k, v in expected.items()}, max_listed=max_listed)
    if problems:
        cfg = getattr(model, "config", None)
        raise ValueError(f"GPEN state dict does not match the model{f' ({cfg})' if cfg else ''}; {problems}")
    model.load_state_dict(sd, strict=True)
    return model
