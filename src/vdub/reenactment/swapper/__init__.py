"""Full-head identity swapping (paper section 2.2): network, loss, training and inference.

An autoencoder with a shared Xception encoder, identity / style extractors, a G-Block
(AdaIN) and two decoders (actor, virtual dubber), trained to reconstruct head crops with
a masked SSIM + MSE loss; at inference virtual-dubber crops go through the actor decoder.
"""

from vdub.reenactment.swapper.inference import load_swapper, swap
from vdub.reenactment.swapper.losses import decoder_loss, region_loss, ssim, ssim_map
from vdub.reenactment.swapper.network import DECODERS, IdentitySwapper, parameter_counts
from vdub.reenactment.swapper.train import fit_swapper

__all__ = [
    "DECODERS",
    "IdentitySwapper",
    "decoder_loss",
    "fit_swapper",
    "load_swapper",
    "parameter_counts",
    "region_loss",
    "ssim",
    "ssim_map",
    "swap",
]
