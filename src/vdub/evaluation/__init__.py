"""The paper's Table 1 per shot: PSNR, SSIM, LPIPS, FID, LMD, mouth-opening correlation, flicker,
identity distance and colour, for every variant (actor, composite, reenact, output); QC frame ranges.

The pure metrics are :mod:`vdub.metrics` (the stages use them too); this package runs them, the
perceptual networks and dlib's identity on whole shots.
"""
