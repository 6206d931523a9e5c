"""The paper's Table 1 per shot: PSNR, SSIM, LPIPS, FID, LMD, mouth-opening correlation, flicker,
identity distance and colour, for every variant (actor, composite, reenact, output)."""
