"""Full-head identity swapping (paper section 2.2): network, loss, training and inference.

An autoencoder with a shared Xception encoder, identity / style extractors, a G-Block
(AdaIN) and two decoders (actor, virtual dubber), trained to reconstruct head crops with
a masked SSIM + MSE loss; at inference virtual-dubber crops go through the actor decoder.
"""

from .losses import LossWeights, decoder_loss, region_loss, ssim, ssim_map
from .network import DECODERS, IdentitySwapper, SwapperConfig, parameter_counts
from .train import TrainConfig, load_swapper, save_model, swap, train_swapper

__all__ = [
    "DECODERS",
    "IdentitySwapper",
    "LossWeights",
    "SwapperConfig",
    "TrainConfig",
    "decoder_loss",
    "load_swapper",
    "parameter_counts",
    "region_loss",
    "save_model",
    "ssim",
    "ssim_map",
    "swap",
    "train_swapper",
]
