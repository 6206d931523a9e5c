"""The identity-specific upscaler on a real actor at the paper's output size (512 px): it must
beat bicubic upscaling in PSNR on frames it never saw. (Whether it also does in LPIPS needs the
published AlexNet weights, which cannot be downloaded here; stand-in weights would not say.)"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import assert_margin

from vdub.face.config import MaskConfig
from vdub.face.crop import crop, crop_boxes
from vdub.metrics.image import psnr
from vdub.super_resolution.config import SRConfig
from vdub.super_resolution.data import build_training_pairs
from vdub.super_resolution.networks import bicubic_upscale, load_sr, upscale
from vdub.super_resolution.training import fit_upscaler

OUT, IN = 512, 128  # output as GPEN's; input x4 smaller (the paper's swapper crop is 176)
TRAIN, HELD_OUT = slice(0, 60), slice(60, 90)  # held-out frames come after the training frames


@pytest.fixture(scope="module")
def held_out_result(real_clips, tmp_path_factory):
    frames, track = real_clips["actor_woman_bluewall.mp4"]
    boxes = crop_boxes(track.points, track.valid, MaskConfig())
    hr = np.stack([crop(f, b, OUT) for f, b in zip(frames, boxes)])
    lr_train, hr_train = build_training_pairs(hr[TRAIN], None, IN, seed=0)
    cfg = SRConfig(in_size=IN, out_size=OUT, channels=16, blocks=4, batch_size=4, iterations=300, lr=2e-3)
    out = tmp_path_factory.mktemp("sr_real")
    fit_upscaler(lr_train, hr_train, cfg, out / "model.pt", out / "resume.pt", out / "losses.csv")
    lr_held = np.stack([cv2.resize(f, (IN, IN), interpolation=cv2.INTER_AREA) for f in hr[HELD_OUT]])
    return hr[HELD_OUT], upscale(load_sr(out / "model.pt"), lr_held), bicubic_upscale(lr_held, OUT)


@pytest.mark.slow
@pytest.mark.media
def test_upscaler_beats_bicubic_in_psnr_on_held_out_frames(held_out_result):
    target, sr, bicubic = held_out_result
    gain = np.array([psnr(t, s) - psnr(t, b) for t, s, b in zip(target, sr, bicubic)])
    assert_margin("SR 128 -> 512 px: mean PSNR gain over bicubic, held-out frames (dB)", gain.mean(), ">", 0.3)
    assert_margin("SR 128 -> 512 px: share of held-out frames above bicubic", (gain > 0).mean(), ">", 0.9)
