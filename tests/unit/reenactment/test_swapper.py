"""Identity-swapping network: shapes, the masked SSIM + MSE loss, training, resume, inference."""

from __future__ import annotations

import csv
import os
import signal
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from support import assert_same_image

from vdub.core.errors import TrainingInterrupted
from vdub.reenactment.config import LossWeights, SwapperConfig, TrainConfig
from vdub.reenactment.swapper import (
    IdentitySwapper,
    decoder_loss,
    fit_swapper,
    load_swapper,
    parameter_counts,
    ssim,
    swap,
)

PREVIEW = SwapperConfig(
    crop_size=64, width_mult=0.25, middle_blocks=2, latent_dim=128, gblock_channels=128, decoder_channels=(64, 32, 16)
)
TINY = SwapperConfig(
    crop_size=32,
    width_mult=0.125,
    middle_blocks=1,
    latent_dim=32,
    mapping_layers=1,
    gblock_channels=32,
    gblock_convs=1,
    decoder_channels=(32, 16),
)



# ---------------------------------------------------------------- network shapes


def test_paper_config_shapes():
    cfg = SwapperConfig()
    assert cfg.uses_legacy_xception and cfg.gblock_size == 11
    model = IdentitySwapper(cfg).eval()
    x = torch.rand(1, 4, 176, 176)
    with torch.no_grad():
        assert model.features(x).shape == (1, 2048, 6, 6)
        assert model.encode(x).shape == (1, 512)
        y = model(x, "actor")
    assert y.shape == (1, 3, 176, 176)
    assert 0 <= y.min() and y.max() <= 1
    counts = parameter_counts(model)
    print("paper parameter counts:", counts)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["decoders.actor"] == counts["decoders.dubber"]


def test_preview_config_shapes():
    model = IdentitySwapper(PREVIEW).eval()
    with torch.no_grad():
        feats = model.features(torch.rand(2, 4, 64, 64))
        y = model(torch.rand(2, 4, 64, 64), "dubber")
    assert feats.shape[-2:] == (2, 2)
    assert y.shape == (2, 3, 64, 64)
    print("preview parameter counts:", parameter_counts(model))


@pytest.mark.parametrize("size", [80, 176])
def test_scaled_xception_feature_map_is_ceil_s_over_32(size):
    cfg = SwapperConfig(crop_size=size, width_mult=0.125, middle_blocks=1, latent_dim=16, gblock_channels=16,
                        decoder_channels=(16, 8, 8, 8))
    assert not cfg.uses_legacy_xception
    with torch.no_grad():
        feats = IdentitySwapper(cfg).eval().features(torch.rand(1, 4, size, size))
    assert feats.shape[-1] == feats.shape[-2] == -(-size // 32)


def test_config_validation():
    with pytest.raises(ValueError, match="unknown"):
        SwapperConfig.from_dict({"crop_size": 64, "widht_mult": 0.5})
    with pytest.raises(ValueError, match="multiple"):
        SwapperConfig(crop_size=100)
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    assert SwapperConfig.from_dict(asdict(PREVIEW)) == PREVIEW
    with pytest.raises(ValueError, match="decoder"):
        IdentitySwapper(TINY)(torch.rand(1, 4, 32, 32), "virtual")


# ---------------------------------------------------------------- loss


def _masks(size: int, head=1.0, eyes=None, mouth=None) -> torch.Tensor:
    """1 x 3 x S x S masks: head constant, eyes / mouth as (y0, y1, x0, x1) boxes or empty."""
    m = torch.zeros(1, 3, size, size)
    m[:, 0] = head
    for ch, box in ((1, eyes), (2, mouth)):
        if box is not None:
            y0, y1, x0, x1 = box
            m[:, ch, y0:y1, x0:x1] = 1
    return m


def test_ssim_matches_scikit_image():
    rng = np.random.default_rng(0)
    a = rng.random((40, 40, 3))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    ours = ssim(*(torch.from_numpy(v).permute(2, 0, 1)[None].float() for v in (a, b))).item()
    ref = structural_similarity(
        a, b, data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ours == pytest.approx(ref, abs=1e-4)


def test_loss_is_zero_for_identical_images():
    x = torch.rand(2, 3, 32, 32)
    masks = torch.rand(2, 3, 32, 32)
    terms = decoder_loss(x, x.clone(), masks, LossWeights())
    assert terms["total"].item() == pytest.approx(0.0, abs=1e-5)


def test_constant_offset_gives_expected_ssim_and_mse():
    target = torch.full((1, 3, 32, 32), 0.5)
    pred = target + 0.1
    masks = _masks(32)  # head everywhere, no eyes, no mouth
    c1 = 0.01**2
    ssim_expected = (2 * 0.5 * 0.6 + c1) / (0.5**2 + 0.6**2 + c1)  # flat images: only the luminance term
    with_mse = decoder_loss(pred, target, masks, LossWeights())
    without_mse = decoder_loss(pred, target, masks, LossWeights(lambda_head=0.0))
    # abs tolerance: float32 local variances of flat images are only zero to ~1e-8 (c2 = 9e-4).
    assert without_mse["head"].item() == pytest.approx(0.5 * (1 - ssim_expected), abs=5e-5)
    assert (with_mse["head"] - without_mse["head"]).item() == pytest.approx(0.1**2, rel=1e-4)
    assert with_mse["total"].item() == pytest.approx(with_mse["head"].item(), rel=1e-6)


def test_zero_masks_give_zero_loss():
    terms = decoder_loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.zeros(2, 3, 32, 32), LossWeights())
    assert terms["total"].item() == pytest.approx(0.0, abs=1e-6)


def test_mouth_term_weighted_by_lambda_2():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 48, 48)
    pred = target.clone()
    mouth = (30, 42, 14, 34)
    pred[:, :, 30:42, 14:34] = torch.rand(1, 3, 12, 20)  # differs only inside the mouth box
    masks = _masks(48, head=1.0, eyes=(10, 18, 8, 40), mouth=mouth)
    paper = decoder_loss(pred, target, masks, LossWeights())
    plain = decoder_loss(pred, target, masks, LossWeights(lambda_2=1.0))
    assert paper["eyes"].item() == pytest.approx(0.0, abs=1e-6)
    assert paper["mouth"].item() > 0.01
    assert ((paper["total"] - paper["head"]) / paper["mouth"]).item() == pytest.approx(4.0, rel=1e-5)
    assert ((paper["total"] - plain["head"]) / (plain["total"] - plain["head"])).item() == pytest.approx(4.0, rel=1e-5)


# ---------------------------------------------------------------- training


def _blobs(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops of one smooth random colour blob each (n x S x S x 3 uint8) and masks (n x 3 x S x S).

    One blob per crop (random place, size, colour): a low-dimensional set, like one head
    moving in its crop, that a tiny network learns within a hundred steps.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    crops = np.empty((n, size, size, 3), np.float64)
    for i in range(n):
        img = np.full((size, size, 3), 0.3)
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.35)
        crops[i] = img + np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)[..., None] * rng.uniform(-0.4, 0.4, 3)
    head = np.exp(-(((yy - 0.5) / 0.4) ** 2 + ((xx - 0.5) / 0.35) ** 2) ** 3)
    eyes = np.exp(-(((yy - 0.4) / 0.08) ** 2 + ((xx - 0.5) / 0.3) ** 2) ** 2)
    mouth = np.exp(-(((yy - 0.72) / 0.1) ** 2 + ((xx - 0.5) / 0.18) ** 2) ** 2)
    masks = np.broadcast_to(np.stack([head, eyes, mouth]), (n, 3, size, size))
    return (np.clip(crops, 0, 1) * 255).astype(np.uint8), (masks * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data():
    actor, actor_masks = _blobs(16, 32, seed=1)
    dubber, dubber_masks = _blobs(16, 32, seed=2)
    return actor, actor_masks, dubber, dubber_masks


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "loss_actor", "loss_dubber", "loss_total", "seconds"]
    return np.array(rows[1:], dtype=float)


def _train(data, tmp: Path, name: str, **overrides):
    cfg = dict(batch_size=4, iterations=10, lr=1e-3, checkpoint_every=4, log_every=5, seed=0, device="cpu")
    on_step = overrides.pop("on_step", None)
    cfg.update(overrides)
    paths = dict(out_model=tmp / f"{name}.pt", resume_path=tmp / f"{name}.resume.pt", loss_csv=tmp / f"{name}.csv")
    summary = fit_swapper(*data, TINY, TrainConfig(**cfg), LossWeights(), **paths, on_step=on_step)
    return summary, paths


def test_training_reduces_loss(data, tmp_path):
    summary, paths = _train(data, tmp_path, "fall", iterations=150, max_shift=0.0)
    losses = _read_csv(paths["loss_csv"])
    assert losses[:, 0].tolist() == list(range(1, 151))
    first, last = losses[:20, 3].mean(), losses[-20:, 3].mean()
    print(f"tiny training: loss {first:.3f} -> {last:.3f}, {summary['it_per_s']:.1f} it/s")
    assert last < 0.8 * first  # measured: about 0.6 x
    assert not paths["resume_path"].exists()
    saved = torch.load(paths["out_model"], weights_only=True)
    assert SwapperConfig.from_dict(saved["config"]) == TINY


@pytest.fixture(scope="module")
def straight_run(data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("straight")
    summary, paths = _train(data, tmp, "straight")
    return torch.load(paths["out_model"], weights_only=True)["state_dict"], _read_csv(paths["loss_csv"])


def _sigterm_at(step_to_stop: int):
    def on_step(step: int, losses: dict) -> None:
        if step == step_to_stop:
            os.kill(os.getpid(), signal.SIGTERM)

    return on_step


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float()), k


def test_resume_after_sigterm_matches_uninterrupted_run(data, tmp_path, straight_run):
    with pytest.raises(TrainingInterrupted):
        _train(data, tmp_path, "run", on_step=_sigterm_at(6))
    paths = dict(out_model=tmp_path / "run.pt", resume=tmp_path / "run.resume.pt", csv=tmp_path / "run.csv")
    assert paths["resume"].exists() and not paths["out_model"].exists()
    assert _read_csv(paths["csv"])[:, 0].tolist() == list(range(1, 7))

    summary, _ = _train(data, tmp_path, "run")
    assert summary["resumed_from"] == 6 and summary["steps"] == 10
    assert not paths["resume"].exists()
    _assert_same_weights(torch.load(paths["out_model"], weights_only=True)["state_dict"], straight_run[0])
    losses = _read_csv(paths["csv"])
    assert losses[:, 0].tolist() == list(range(1, 11))
    np.testing.assert_allclose(losses[:, 1:4], straight_run[1][:, 1:4], rtol=1e-6)


def test_resume_checkpoint_of_other_settings_is_ignored(data, tmp_path, straight_run):
    with pytest.raises(TrainingInterrupted):
        _train(data, tmp_path, "run", seed=1, on_step=_sigterm_at(6))
    summary, paths = _train(data, tmp_path, "run", seed=0)
    assert summary["resumed_from"] is None and summary["steps"] == 10
    _assert_same_weights(torch.load(paths["out_model"], weights_only=True)["state_dict"], straight_run[0])


def test_bad_training_input_is_rejected(data, tmp_path):
    actor, actor_masks, dubber, dubber_masks = data
    with pytest.raises(ValueError, match="dubber masks"):
        fit_swapper(actor, actor_masks, dubber, dubber_masks[:, :1], TINY, TrainConfig(iterations=1), LossWeights(),
                    tmp_path / "m.pt", tmp_path / "r.pt", tmp_path / "l.csv")


# ---------------------------------------------------------------- inference


def test_swap_returns_uint8_crops(data, tmp_path):
    _train(data, tmp_path, "model", iterations=3)
    model = load_swapper(tmp_path / "model.pt")
    assert not model.training
    crops, masks = data[2][:5], data[3][:5, 0]
    out = swap(model, crops, masks, decoder="actor", batch_size=2)
    assert out.shape == crops.shape and out.dtype == np.uint8
    # Batching does not change the result.
    assert_same_image(out, swap(model, crops, masks, decoder="actor", batch_size=5))
    with pytest.raises(ValueError, match="head masks"):
        swap(model, crops, data[3][:5])


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test here on one thread: bit-exact comparisons, no contention on 2 cores."""


# ---------------------------------------------------------------- warm start on real crops


@pytest.fixture(scope="module")
def real_actor_crops(actor_clip, tmp_path_factory):
    """actor_crops.npz of the first 45 frames of actor_woman_bluewall.mp4 at 32 px."""
    from vdub.core.io import save_frames, save_npz
    from vdub.face.config import MaskConfig
    from vdub.reenactment.stages import actor_crops

    frames, track = actor_clip
    tmp = tmp_path_factory.mktemp("real_crops")
    save_frames(tmp / "actor.npy", frames)
    save_npz(tmp / "actor.npz", **track.to_npz())
    actor_crops("bluewall", tmp / "actor.npy", tmp / "actor.npz", tmp / "actor_crops.npz", 32, MaskConfig())
    return tmp / "actor_crops.npz"


def _settings(iterations: int) -> tuple[SwapperConfig, TrainConfig, LossWeights]:
    """The swapper's configs of a training stage: the tiny network, ``iterations`` steps."""
    train = TrainConfig(batch_size=4, iterations=iterations, lr=1e-3, checkpoint_every=50, log_every=10, seed=0,
                        device="cpu")
    return TINY, train, LossWeights()


def test_actor_model_learns_real_crops_and_warm_starts_a_shot(real_actor_crops, tmp_path):
    from vdub.core.io import load_npz, save_npz
    from vdub.reenactment.stages import train_actor, train_swapper

    actor_model = tmp_path / "actor.pt"
    train_actor("woman_bluewall", [real_actor_crops], actor_model, tmp_path / "actor.csv", *_settings(120))
    losses = _read_csv(tmp_path / "actor.csv")
    for column in (1, 2):  # actor and dubber decoders both learn the actor's real crops
        assert losses[-10:, column].mean() < 0.7 * losses[:10, column].mean(), losses[[0, -1]]

    # A shot's crops: the same actor crops, and composites that differ from them in the mouth region.
    own = load_npz(real_actor_crops)
    composite = own["actor"].copy()
    composite[:, 20:26, 12:20] = composite[:, 20:26, 12:20] // 2
    save_npz(tmp_path / "crops.npz", boxes=own["boxes"], valid=own["valid"], actor=own["actor"],
             actor_masks=own["actor_masks"], composite=composite, composite_masks=own["actor_masks"])
    train_swapper("shot", tmp_path / "crops.npz", tmp_path / "scratch.pt", tmp_path / "scratch.csv", *_settings(10))
    train_swapper("shot", tmp_path / "crops.npz", tmp_path / "warm.pt", tmp_path / "warm.csv", *_settings(10),
                  init_model=actor_model)
    scratch, warm = _read_csv(tmp_path / "scratch.csv"), _read_csv(tmp_path / "warm.csv")
    # Fine-tuning from the actor's model starts where training from scratch is far from being.
    assert warm[:5, 3].mean() < 0.6 * scratch[:5, 3].mean(), (warm[:5, 3], scratch[:5, 3])


# ---------------------------------------------------------------- generic pretraining


@pytest.fixture(scope="module")
def faces_folder(real_clips, tmp_path_factory):
    """Face images of four different people (two frames each), a faceless image and a corrupt one."""
    import cv2

    folder = tmp_path_factory.mktemp("faces")
    for name in ("actor_woman_bluewall.mp4", "actor_glasses_man.mp4", "dubber_man_office.mp4",
                 "dubber_woman_plain.mp4"):
        frames, _ = real_clips[name]
        for t in (0, 40):
            cv2.imwrite(str(folder / f"{name[:-4]}_{t:03d}.png"), cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "zz_wall.png"), np.full((120, 160, 3), 128, np.uint8))
    (folder / "zz_broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_pretraining_faces_are_cropped_and_learnt(faces_folder, real_actor_crops, tmp_path):
    from vdub.face.config import MaskConfig
    from vdub.reenactment.pretraining_faces import face_crops, face_images
    from vdub.reenactment.stages import pretrain, train_actor

    paths = face_images(faces_folder)
    assert len(paths) == 10 and all(p.suffix != ".txt" for p in paths)
    crops, masks, skipped = face_crops(paths, 32, MaskConfig())
    assert crops.shape == (8, 32, 32, 3) and masks.shape == (8, 3, 32, 32)
    assert sorted(s.split(": ")[-1] for s in skipped) == ["no face found", "not a readable image"]
    # The head mask sits on the face in the middle of the crop.
    assert (masks[:, 0, 12:20, 12:20] > 200).mean() > 0.9

    model = tmp_path / "pretrained.pt"
    summary = pretrain(faces_folder, model, tmp_path / "pretrain.csv", *_settings(100), MaskConfig())
    assert summary["faces"] == 8 and len(summary["skipped"]) == 2
    losses = _read_csv(tmp_path / "pretrain.csv")
    assert losses[-10:, 3].mean() < 0.7 * losses[:10, 3].mean()
    # An actor model started from it begins below one started from scratch (bluewall is in
    # the pretraining faces, as an actor of a studio's earlier project would be).
    train_actor("woman_bluewall", [real_actor_crops], tmp_path / "a.pt", tmp_path / "warm.csv", *_settings(5),
                init_model=model)
    train_actor("woman_bluewall", [real_actor_crops], tmp_path / "b.pt", tmp_path / "cold.csv", *_settings(5))
    warm, cold = _read_csv(tmp_path / "warm.csv"), _read_csv(tmp_path / "cold.csv")
    assert warm[:, 3].mean() < 0.8 * cold[:, 3].mean(), (warm[:, 3], cold[:, 3])


def test_resume_on_real_crops_ends_at_the_uninterrupted_weights(real_actor_crops, tmp_path):
    """Killed at step 6 of 10 on real actor crops and resumed: the same weights as a straight run."""
    from vdub.core.io import load_npz

    crops = load_npz(real_actor_crops)
    valid = crops["valid"].astype(bool)
    real = (crops["actor"][valid], crops["actor_masks"][valid], crops["actor"][valid][::-1].copy(),
            crops["actor_masks"][valid][::-1].copy())
    _train(real, tmp_path / "a", "straight")
    with pytest.raises(TrainingInterrupted):
        _train(real, tmp_path / "b", "run", on_step=_sigterm_at(6))
    summary, paths = _train(real, tmp_path / "b", "run")
    assert summary["resumed_from"] == 6
    _assert_same_weights(torch.load(paths["out_model"], weights_only=True)["state_dict"],
                         torch.load(tmp_path / "a" / "straight.pt", weights_only=True)["state_dict"])
