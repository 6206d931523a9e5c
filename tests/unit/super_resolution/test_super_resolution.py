"""Identity-specific super-resolution: shapes, bicubic start, learning on a real photo, resume; GPEN backend."""

from __future__ import annotations

import csv
import dataclasses
import logging
import shutil
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from support import assert_same_image

import vdub.super_resolution.training as sr_training
from vdub.core.errors import TrainingInterrupted
from vdub.super_resolution.config import GPENConfig, SRConfig
from vdub.super_resolution.data import build_training_pairs
from vdub.super_resolution.gpen import FullGenerator, load_official
from vdub.super_resolution.networks import (
    GPENUpscaler,
    IdentitySRNet,
    bicubic_upscale,
    build_sr_model,
    load_sr,
    upscale,
)
from vdub.super_resolution.training import fit_upscaler
from vdub.training.checkpoint import save_checkpoint


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _astronaut_patches(n: int, cols: tuple[int, int], seed: int, size: int = 64) -> np.ndarray:
    """n random size x size patches of the astronaut photo whose columns lie within ``cols``."""
    img = data.astronaut()
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, img.shape[0] - size + 1, n)
    xs = rng.integers(cols[0], cols[1] - size + 1, n)
    return np.stack([img[y:y + size, x:x + size] for y, x in zip(ys, xs)])


def _tiny_cfg(**overrides) -> SRConfig:
    base = dict(in_size=16, out_size=32, channels=8, blocks=1, batch_size=4, iterations=12,
                lr=1e-3, checkpoint_every=5, seed=3, device="cpu")
    base.update(overrides)
    return SRConfig(**base)


def _tiny_gpen_cfg(**overrides) -> SRConfig:
    """A GPEN of ~190k parameters at 16 -> 32 px (32 channels everywhere): ~50 ms per training step."""
    base = dict(backend="gpen", gpen_narrow=0.0625, gpen_channel_multiplier=1, gpen_style_dim=32, gpen_n_mlp=2)
    base.update(overrides)
    return _tiny_cfg(**base)


def _save_generator(path: Path, cfg: SRConfig, seed: int) -> dict[str, torch.Tensor]:
    """Write a bare FullGenerator state dict, like the released GPEN-BFR-512.pth; returns it."""
    torch.manual_seed(seed)
    gen = FullGenerator(cfg.gpen_config())
    # Zero-initialised weights (noise strengths, ToRGB biases) would match a fresh model even if a load skipped
    # them: perturb everything so that only a real load reproduces the file.
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.1 * torch.randn_like(p))
    state = {k: v.clone() for k, v in gen.state_dict().items()}
    torch.save(state, path)
    return state


def _tiny_data(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    hr = _astronaut_patches(n, (0, 512), seed=11, size=32)
    return build_training_pairs(hr, None, 16, seed=0)


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def _assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _csv_steps(path: Path) -> list[int]:
    with path.open(newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


# --- configuration -------------------------------------------------------------------------

def test_config_from_dict_rejects_unknown_keys():
    cfg = SRConfig.from_dict({"in_size": 176, "out_size": 512, "channels": 64})
    assert cfg.channels == 64
    with pytest.raises(ValueError, match="chanels"):
        SRConfig.from_dict({"chanels": 64})
    with pytest.raises(ValueError):
        SRConfig(in_size=0)


def test_config_validates_the_backend_and_gpen_sizes():
    with pytest.raises(ValueError, match="backend"):
        SRConfig(backend="esrgan")
    SRConfig(in_size=64, out_size=186)  # any size is fine for the residual network ...
    with pytest.raises(ValueError, match="power of two"):
        SRConfig(backend="gpen", in_size=64, out_size=186)  # ... GPEN works at 2^k px only
    with pytest.raises(ValueError, match="invalid GPEN settings"):
        SRConfig(backend="gpen", out_size=32, gpen_narrow=0.001)  # zero channels
    cfg = SRConfig.from_dict({"backend": "gpen", "in_size": 176, "out_size": 512})
    assert cfg.gpen_config().size == 512 and cfg.gpen_weights is None
    # the defaults are the released GPEN-BFR-512 generator
    assert cfg.gpen_config() == GPENConfig.BFR_512


def test_automatic_scale_covers_non_integer_ratios():
    assert SRConfig(in_size=64, out_size=128).pixel_shuffle_scale == 2
    assert SRConfig(in_size=176, out_size=512).pixel_shuffle_scale == 3  # 528 px, resized to 512
    assert SRConfig(in_size=176, out_size=512, scale=4).pixel_shuffle_scale == 4


# --- network ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "in_size,out_size,scale",
    [(64, 128, 0), (32, 128, 0), (176, 512, 0), (24, 40, 0), (16, 32, 1)],
)
def test_output_shapes(in_size, out_size, scale):
    cfg = SRConfig(in_size=in_size, out_size=out_size, scale=scale, channels=4, blocks=1)
    model = IdentitySRNet(cfg)
    x = torch.rand(2, 3, in_size, in_size)
    assert model(x).shape == (2, 3, out_size, out_size)
    crops = (np.random.default_rng(0).random((3, in_size, in_size, 3)) * 255).astype(np.uint8)
    out = upscale(model, crops, batch_size=2)
    assert out.shape == (3, out_size, out_size, 3) and out.dtype == np.uint8


def test_untrained_network_is_bicubic_upsampling():
    crops = _astronaut_patches(4, (0, 512), seed=1, size=64)
    for cfg in (SRConfig(in_size=64, out_size=128), SRConfig(in_size=64, out_size=186, channels=4, blocks=1)):
        torch.manual_seed(0)
        out = upscale(IdentitySRNet(cfg), crops)
        assert_same_image(out, bicubic_upscale(crops, cfg.out_size))
    # ... and "bicubic" means what OpenCV means by it, up to rounding and border handling
    ref = np.stack([cv2.resize(c, (128, 128), interpolation=cv2.INTER_CUBIC) for c in crops])
    assert np.abs(bicubic_upscale(crops, 128).astype(int) - ref).mean() < 1.0


@pytest.mark.parametrize("in_size", [16, 24, 32])
def test_gpen_upscaler_shapes(in_size):
    cfg = _tiny_gpen_cfg(in_size=in_size)
    torch.manual_seed(0)
    model = build_sr_model(cfg)
    assert isinstance(model, GPENUpscaler)
    x = torch.rand(2, 3, in_size, in_size)
    assert model(x).shape == (2, 3, 32, 32)
    crops = (np.random.default_rng(0).random((3, in_size, in_size, 3)) * 255).astype(np.uint8)
    out = upscale(model, crops, batch_size=2)
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.uint8


def test_upscale_rejects_wrong_crop_size():
    model = IdentitySRNet(SRConfig(in_size=32, out_size=64, channels=4, blocks=1))
    with pytest.raises(ValueError, match="expected 32"):
        upscale(model, np.zeros((1, 48, 48, 3), np.uint8))


# --- training pairs --------------------------------------------------------------------------

def test_training_pairs_from_actor_frames_and_swapper_outputs():
    actor = _astronaut_patches(6, (0, 512), seed=2, size=64)
    swapped = np.stack([cv2.resize(cv2.GaussianBlur(a, (0, 0), 2.0), (40, 40)) for a in actor])

    lr, hr = build_training_pairs(actor, None, 32, seed=5)
    assert lr.shape == (6, 32, 32, 3) and hr.shape == (6, 64, 64, 3)
    assert lr.dtype == hr.dtype == np.uint8
    np.testing.assert_array_equal(hr, actor)
    # mild degradation: still close to a clean area downscale of the same crop
    clean = np.stack([cv2.resize(a, (32, 32), interpolation=cv2.INTER_AREA) for a in actor])
    assert _psnr(lr, clean) > 25.0
    lr_again, _ = build_training_pairs(actor, None, 32, seed=5)
    np.testing.assert_array_equal(lr, lr_again)

    lr2, hr2 = build_training_pairs(actor, swapped, 32, seed=5)
    assert lr2.shape == (12, 32, 32, 3) and hr2.shape == (12, 64, 64, 3)
    np.testing.assert_array_equal(lr2[:6], lr)  # actor pairs first, unchanged by the swapper pairs
    np.testing.assert_array_equal(hr2[6:], actor)  # swapper output i is paired with actor frame i
    resized = np.stack([cv2.resize(s, (32, 32), interpolation=cv2.INTER_AREA) for s in swapped])
    np.testing.assert_array_equal(lr2[6:], resized)

    with pytest.raises(ValueError, match="same actor frames"):
        build_training_pairs(actor, swapped[:5], 32)
    with pytest.raises(ValueError, match="uint8"):
        build_training_pairs(actor.astype(np.float32), None, 32)


# --- training --------------------------------------------------------------------------------

def test_training_beats_bicubic_on_held_out_crops(tmp_path):
    # Train on patches from the left 352 columns of the photo, test on the right 160.
    train_hr = _astronaut_patches(96, (0, 352), seed=0)
    test_hr = _astronaut_patches(32, (352, 512), seed=1)
    lr, hr = build_training_pairs(train_hr, None, 32, seed=0)
    test_lr, test_hr = build_training_pairs(test_hr, None, 32, seed=1)
    cfg = SRConfig(in_size=32, out_size=64, channels=16, blocks=2, batch_size=16, iterations=200,
                   lr=1e-3, checkpoint_every=100, seed=0, device="cpu")

    summary = fit_upscaler(lr, hr, cfg, tmp_path / "sr.pt", tmp_path / "sr.resume.pt", tmp_path / "loss.csv")

    assert (tmp_path / "sr.pt").exists() and not (tmp_path / "sr.resume.pt").exists()
    assert summary["final_loss"] < summary["initial_loss"]  # per-batch losses are noisy: PSNR below is the real check
    assert _csv_steps(tmp_path / "loss.csv") == list(range(1, 201))
    model = load_sr(tmp_path / "sr.pt")
    assert model.config == cfg and not model.training
    psnr_bicubic = _psnr(bicubic_upscale(test_lr, 64), test_hr)
    psnr_sr = _psnr(upscale(model, test_lr), test_hr)
    # measured: bicubic 30.3 dB, SR 31.3-31.6 dB over seeds 0-3
    print(f"held-out PSNR: bicubic {psnr_bicubic:.2f} dB, SR {psnr_sr:.2f} dB")
    assert psnr_sr > psnr_bicubic + 0.5, (psnr_bicubic, psnr_sr)


def test_resume_after_sigterm_gives_the_same_weights(tmp_path):
    lr, hr = _tiny_data()
    cfg = _tiny_cfg()
    fit_upscaler(lr, hr, cfg, tmp_path / "ref.pt", tmp_path / "ref.resume.pt", tmp_path / "ref.csv")

    def preempt(step: int, losses: dict) -> None:
        if step == 7:
            signal.raise_signal(signal.SIGTERM)  # what Slurm sends before killing the job

    out, resume, log = tmp_path / "sr.pt", tmp_path / "sr.resume.pt", tmp_path / "sr.csv"
    with pytest.raises(TrainingInterrupted):
        fit_upscaler(lr, hr, cfg, out, resume, log, on_step=preempt)
    assert resume.exists() and not out.exists()
    assert _csv_steps(log) == list(range(1, 8))

    summary = fit_upscaler(lr, hr, cfg, out, resume, log)
    assert summary["resumed_from"] == 7
    assert not resume.exists()
    assert _csv_steps(log) == list(range(1, 13))
    _assert_same_weights(out, tmp_path / "ref.pt")


def test_resume_after_crash_restarts_from_last_periodic_checkpoint(tmp_path):
    lr, hr = _tiny_data()
    cfg = _tiny_cfg()
    fit_upscaler(lr, hr, cfg, tmp_path / "ref.pt", tmp_path / "ref.resume.pt", tmp_path / "ref.csv")

    class Crash(Exception):
        pass

    def crash(step: int, losses: dict) -> None:
        if step == 8:
            raise Crash  # killed hard: no checkpoint at 8, the one from step 5 remains

    out, resume, log = tmp_path / "sr.pt", tmp_path / "sr.resume.pt", tmp_path / "sr.csv"
    with pytest.raises(Crash):
        fit_upscaler(lr, hr, cfg, out, resume, log, on_step=crash)
    assert resume.exists()

    summary = fit_upscaler(lr, hr, cfg, out, resume, log)
    assert summary["resumed_from"] == 5
    assert _csv_steps(log) == list(range(1, 13))  # rows 6-8 of the crashed run were dropped
    _assert_same_weights(out, tmp_path / "ref.pt")


def test_checkpoint_with_other_fingerprint_is_ignored(tmp_path, caplog):
    lr, hr = _tiny_data()
    cfg = _tiny_cfg()
    fit_upscaler(lr, hr, cfg, tmp_path / "ref.pt", tmp_path / "ref.resume.pt", tmp_path / "ref.csv")

    # A checkpoint left by a run with other settings (another preset's learning rate)...
    other = _tiny_cfg(lr=5e-3)
    resume = tmp_path / "sr.resume.pt"

    def preempt(step: int, losses: dict) -> None:
        if step == 6:
            signal.raise_signal(signal.SIGTERM)

    with pytest.raises(TrainingInterrupted):
        fit_upscaler(lr, hr, other, tmp_path / "sr.pt", resume, tmp_path / "sr.csv", on_step=preempt)
    assert resume.exists()
    # ... and one written for other data
    stranger = tmp_path / "stranger.resume.pt"
    torch.manual_seed(0)
    save_checkpoint(stranger, IdentitySRNet(cfg), None, 9, fingerprint="another dubber take")

    for i, path in enumerate((resume, stranger)):
        with caplog.at_level(logging.WARNING, logger="vdub.training.checkpoint"):
            summary = fit_upscaler(lr, hr, cfg, tmp_path / f"sr{i}.pt", path, tmp_path / f"sr{i}.csv")
        assert summary["resumed_from"] == 0
        assert "ignoring resume checkpoint" in caplog.text
        assert not path.exists()
        _assert_same_weights(tmp_path / f"sr{i}.pt", tmp_path / "ref.pt")


def test_train_rejects_crops_of_the_wrong_size(tmp_path):
    lr, hr = _tiny_data()
    with pytest.raises(ValueError, match="hr crops are 32 px, expected 48 px"):
        fit_upscaler(lr, hr, _tiny_cfg(out_size=48), tmp_path / "m.pt", tmp_path / "r.pt", tmp_path / "l.csv")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test here on one thread: bit-exact comparisons, no contention on 2 cores."""


# --- GPEN backend ----------------------------------------------------------------------------

def test_gpen_from_scratch_learns_and_round_trips(tmp_path):
    lr, hr = _tiny_data(16)
    cfg = _tiny_gpen_cfg(iterations=40, checkpoint_every=0)
    summary = fit_upscaler(lr, hr, cfg, tmp_path / "sr.pt", tmp_path / "sr.resume.pt", tmp_path / "loss.csv")
    # measured: 0.26 -> 0.16 (mean of the first / last 10 steps); from scratch GPEN starts far from the target
    assert summary["final_loss"] < 0.8 * summary["initial_loss"], summary
    assert _csv_steps(tmp_path / "loss.csv") == list(range(1, 41))

    model = load_sr(tmp_path / "sr.pt")
    assert isinstance(model, GPENUpscaler) and model.config == cfg and not model.training
    out = upscale(model, lr, batch_size=5)

    # The same result by GPEN's own convention, from a bare generator holding the file's weights in the
    # released layout: bicubic to the output size, [-1, 1] in and out.
    state = _state(tmp_path / "sr.pt")
    assert all(k.startswith("generator.") for k in state)
    gen = load_official(FullGenerator(cfg.gpen_config()), {k.removeprefix("generator."): v for k, v in state.items()})
    with torch.no_grad():
        x = torch.from_numpy(lr).permute(0, 3, 1, 2).float() / 255.0
        x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bicubic", align_corners=False)
        y = (gen.eval()(x * 2 - 1)[0] + 1) / 2
    expected = (y.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert_same_image(out, expected)


def test_gpen_fine_tunes_from_official_weights(tmp_path):
    lr, hr = _tiny_data()
    weights = tmp_path / "GPEN-tiny.pth"
    cfg = _tiny_gpen_cfg(gpen_weights=str(weights))
    official = _save_generator(weights, cfg, seed=5)

    # iterations = 0: the model file holds the official weights unchanged (the un-fine-tuned baseline)
    fit_upscaler(lr, hr, dataclasses.replace(cfg, iterations=0), tmp_path / "base.pt", tmp_path / "base.resume.pt",
                 tmp_path / "base.csv")
    state = _state(tmp_path / "base.pt")
    assert state.keys() == {f"generator.{k}" for k in official}
    for k, v in official.items():
        assert torch.equal(state[f"generator.{k}"], v), k

    # one tiny step moves the weights only slightly away from the file's
    fit_upscaler(lr, hr, dataclasses.replace(cfg, iterations=1, lr=1e-6), tmp_path / "sr.pt", tmp_path / "sr.resume.pt",
                 tmp_path / "sr.csv")
    state = _state(tmp_path / "sr.pt")
    assert any(not torch.equal(state[f"generator.{k}"], v) for k, v in official.items())
    for k, v in official.items():
        torch.testing.assert_close(state[f"generator.{k}"], v, atol=1e-5, rtol=0)

    # the model file is self-contained: loading it does not need the official weights any more
    weights.unlink()
    model = load_sr(tmp_path / "sr.pt")
    assert model.config.gpen_weights == str(weights)
    assert upscale(model, lr[:2]).shape == (2, 32, 32, 3)


def test_gpen_weights_that_do_not_fit_are_rejected(tmp_path):
    lr, hr = _tiny_data()
    cfg = _tiny_gpen_cfg()
    wider = tmp_path / "wider.pth"
    _save_generator(wider, dataclasses.replace(cfg, gpen_narrow=0.125), seed=0)
    with pytest.raises(ValueError, match=r"wider\.pth.*shape mismatch"):
        fit_upscaler(lr, hr, dataclasses.replace(cfg, gpen_weights=str(wider)), tmp_path / "m.pt", tmp_path / "r.pt",
                     tmp_path / "l.csv")
    assert not (tmp_path / "m.pt").exists()


def test_missing_gpen_weights_file_is_named(tmp_path):
    lr, hr = _tiny_data()
    missing = tmp_path / "weights" / "GPEN-BFR-512.pth"
    cfg = _tiny_gpen_cfg(gpen_weights=str(missing))  # the config alone is fine: model files store it
    with pytest.raises(FileNotFoundError, match="GPEN-BFR-512.pth"):
        fit_upscaler(lr, hr, cfg, tmp_path / "m.pt", tmp_path / "r.pt", tmp_path / "l.csv")
    with pytest.raises(FileNotFoundError, match="GPEN-BFR-512.pth"):
        build_sr_model(cfg)
    assert isinstance(build_sr_model(cfg, pretrained=False), GPENUpscaler)


def test_gpen_resume_follows_the_weights_content_not_the_path(tmp_path, caplog):
    lr, hr = _tiny_data()
    weights = tmp_path / "a.pth"
    _save_generator(weights, _tiny_gpen_cfg(), seed=1)
    cfg = _tiny_gpen_cfg(gpen_weights=str(weights), iterations=6, checkpoint_every=0)
    fit_upscaler(lr, hr, cfg, tmp_path / "ref.pt", tmp_path / "ref.resume.pt", tmp_path / "ref.csv")

    def preempt(step: int, losses: dict) -> None:
        if step == 3:
            signal.raise_signal(signal.SIGTERM)

    # Same content at another path: resumed, and the weights end up those of the uninterrupted run.
    resume = tmp_path / "sr.resume.pt"
    with pytest.raises(TrainingInterrupted):
        fit_upscaler(lr, hr, cfg, tmp_path / "sr.pt", resume, tmp_path / "sr.csv", on_step=preempt)
    moved = tmp_path / "moved" / "a.pth"
    moved.parent.mkdir()
    shutil.copy(weights, moved)
    summary = fit_upscaler(lr, hr, dataclasses.replace(cfg, gpen_weights=str(moved)), tmp_path / "sr.pt", resume,
                           tmp_path / "sr.csv")
    assert summary["resumed_from"] == 3
    _assert_same_weights(tmp_path / "sr.pt", tmp_path / "ref.pt")

    # Other content at the same path: the checkpoint is ignored and training starts over from the new weights.
    with pytest.raises(TrainingInterrupted):
        fit_upscaler(lr, hr, cfg, tmp_path / "sr2.pt", resume, tmp_path / "sr2.csv", on_step=preempt)
    _save_generator(weights, _tiny_gpen_cfg(), seed=2)
    with caplog.at_level(logging.WARNING, logger="vdub.training.checkpoint"):
        summary = fit_upscaler(lr, hr, cfg, tmp_path / "sr2.pt", resume, tmp_path / "sr2.csv")
    assert summary["resumed_from"] == 0
    assert "ignoring resume checkpoint" in caplog.text


def test_residual_fingerprint_ignores_gpen_settings():
    lr, hr = _tiny_data(2)
    cfg = _tiny_cfg()
    fp = sr_training._fingerprint(cfg, lr, hr)
    # GPEN settings do not shape a residual network: changing them must not throw away a residual checkpoint
    assert sr_training._fingerprint(dataclasses.replace(cfg, gpen_narrow=0.5, gpen_weights="x.pth"), lr, hr) == fp
    assert sr_training._fingerprint(dataclasses.replace(cfg, channels=4), lr, hr) != fp


def test_residual_model_file_without_backend_still_loads(tmp_path):
    # A model file written before the GPEN backend existed: no "backend" nor gpen_* keys in its config.
    cfg = _tiny_cfg()
    torch.manual_seed(0)
    old = IdentitySRNet(cfg)
    old_config = {k: v for k, v in cfg.to_dict().items() if k != "backend" and not k.startswith("gpen_")}
    torch.save({"config": old_config, "state_dict": old.state_dict()}, tmp_path / "old.pt")

    model = load_sr(tmp_path / "old.pt")
    assert isinstance(model, IdentitySRNet) and model.config.backend == "residual"
    crops = _tiny_data()[0]
    np.testing.assert_array_equal(upscale(model, crops), upscale(old, crops))
