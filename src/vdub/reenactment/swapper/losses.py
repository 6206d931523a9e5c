"""Masked SSIM + MSE reconstruction loss of the paper, eq. (1) and (2).

Per region R in {head, eyes, mouth} with soft mask M_R:

    L_R = 0.5 * (1 - SSIM(I * M_R, I' * M_R)) + lambda_R * MSE(I * M_R, I' * M_R)      (1)

and per decoder ``L = L_head + lambda_1 L_eyes + lambda_2 L_mouth`` (2). The total loss is
``L_actor + L_dubber``. The MSE is the mean over every pixel of the masked images, as the
equation is written, so a small region contributes in proportion to its area.

``area_normalised`` (not in the paper) averages each region's terms over the region
itself instead: SSIM of the images weighted by the mask, MSE divided by the mask's area.
At small crops the paper's form lets a mouth of 10 x 5 pixels vanish into a 64 x 64 mean
(SSIM of two nearly all-black masked images is close to 1 whatever the mouth does); the
area-normalised form weighs the mouth by what happens inside it, whatever its size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vdub.reenactment.config import LossWeights

REGIONS = ("head", "eyes", "mouth")  # order of the mask channels


def gaussian_window(size: int = 11, sigma: float = 1.5, device: torch.device | None = None) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (float32)."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, 'valid' (no padding: zero borders would bias SSIM)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(
    a: torch.Tensor, b: torch.Tensor, window_size: int = 11, sigma: float = 1.5, data_range: float = 1.0
) -> torch.Tensor:
    """SSIM map (Wang et al. 2004) of two B x C x H x W images in [0, data_range]; differentiable.

    Gaussian window ``window_size`` x ``window_size`` with std ``sigma``, constants
    K1 = 0.01, K2 = 0.03. Returns B x C x (H - window_size + 1) x (W - window_size + 1):
    only windows that lie inside the image.
    """
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ssim needs two B x C x H x W tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    if min(a.shape[-2:]) < window_size:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are smaller than the {window_size}-tap SSIM window")
    a, b = a.float(), b.float()
    g = gaussian_window(window_size, sigma, a.device)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _blur(a, g), _blur(b, g)
    var_a = _blur(a * a, g) - mu_a**2
    var_b = _blur(b * b, g) - mu_b**2
    cov = _blur(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return num / den


def ssim(
    a: torch.Tensor, b: torch.Tensor, window_size: int = 11, sigma: float = 1.5, data_range: float = 1.0
) -> torch.Tensor:
    """Mean SSIM of two B x C x H x W images in [0, data_range] (see :func:`ssim_map`); a scalar."""
    return ssim_map(a, b, window_size, sigma, data_range).mean()


def region_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, mse_weight: float,
                area_normalised: bool = False, window_size: int = 11) -> torch.Tensor:
    """Eq. (1) for one region: 0.5 (1 - SSIM(I M, I' M)) + lambda MSE(I M, I' M).

    ``pred``, ``target``: B x 3 x S x S in [0, 1]; ``mask``: B x 1 x S x S in [0, 1].
    ``area_normalised``: SSIM map of the unmasked images averaged with the mask as weights,
    and the squared error averaged over the mask's area (see the module docstring).
    Returns a scalar.
    """
    if not area_normalised:
        p, t = pred * mask, target * mask
        return 0.5 * (1 - ssim(p, t)) + mse_weight * F.mse_loss(p, t)
    r = window_size // 2
    weight = mask[..., r:-r, r:-r]  # the SSIM map covers only windows inside the image
    ssim_term = (ssim_map(pred, target, window_size) * weight).sum() / (3 * weight.sum()).clamp_min(1e-6)
    mse_term = (mask * (pred - target) ** 2).sum() / (3 * mask.sum()).clamp_min(1e-6)
    return 0.5 * (1 - ssim_term) + mse_weight * mse_term


def decoder_loss(
    pred: torch.Tensor, target: torch.Tensor, masks: torch.Tensor, weights: LossWeights
) -> dict[str, torch.Tensor]:
    """Eq. (2) for one decoder: L = L_head + lambda_1 L_eyes + lambda_2 L_mouth.

    ``pred``, ``target``: B x 3 x S x S in [0, 1]; ``masks``: B x 3 x S x S in [0, 1] with
    channels (head, eyes, mouth). Returns scalars ``head``, ``eyes``, ``mouth`` (each L_R
    of eq. 1, before lambda_1 / lambda_2) and ``total``.
    """
    if masks.ndim != 4 or masks.shape[1] != 3 or masks.shape[-2:] != pred.shape[-2:]:
        raise ValueError(f"masks must be B x 3 (head, eyes, mouth) x S x S, got {tuple(masks.shape)}")
    pred, target, masks = pred.float(), target.float(), masks.float()
    mse_weight = {"head": weights.lambda_head, "eyes": weights.lambda_eyes, "mouth": weights.lambda_mouth}
    terms = {r: region_loss(pred, target, masks[:, i : i + 1], mse_weight[r], weights.area_normalised)
             for i, r in enumerate(REGIONS)}
    terms["total"] = terms["head"] + weights.lambda_1 * terms["eyes"] + weights.lambda_2 * terms["mouth"]
    return terms
