"""The corrective identity-swapping network (issue 15): input skip, self-reenactment pairs,
a short schedule that converges, area-normalised region losses.

``input_skip = 0`` must stay the paper's network bit for bit; ``input_skip > 0`` must start
as the identity on its input and learn only a repair, inside the head mask.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from vdub.reenactment.config import LossWeights, SwapperConfig, TrainConfig
from vdub.reenactment.swapper import IdentitySwapper, fit_swapper, load_swapper, swap
from vdub.reenactment.swapper.batches import stack_pairs
from vdub.reenactment.swapper.losses import region_loss
from vdub.reenactment.swapper.train import recalibrate_batch_norm

TINY = dict(crop_size=32, width_mult=0.125, middle_blocks=1, latent_dim=32, mapping_layers=1, gblock_channels=32,
            gblock_convs=1, decoder_channels=(32, 16))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield


def _faces(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` smooth "heads" (a bright ellipse with a dark mouth bar that opens by a random amount)
    on a grey background, and their masks (head, eyes, mouth): n x S x S x 3, n x 3 x S x S uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    head = np.exp(-(((yy - 0.5) / 0.38) ** 2 + ((xx - 0.5) / 0.3) ** 2) ** 3)
    eyes = np.exp(-(((yy - 0.4) / 0.06) ** 2 + ((xx - 0.5) / 0.25) ** 2) ** 2)
    crops = np.empty((n, size, size, 3))
    mouths = np.empty((n, size, size))
    for i in range(n):
        opening = rng.uniform(0.02, 0.08)
        mouth = np.exp(-(((yy - 0.7) / opening) ** 2 + ((xx - 0.5) / 0.15) ** 2) ** 2)
        skin = np.array([0.8, 0.6, 0.5]) + rng.normal(0, 0.02, 3)
        crops[i] = 0.35 + head[..., None] * (skin - 0.35) - 0.5 * mouth[..., None] * head[..., None]
        mouths[i] = np.clip(mouth * 2, 0, 1)
    masks = np.stack([np.broadcast_to(head, (n, size, size)), np.broadcast_to(eyes, (n, size, size)), mouths], axis=1)
    return (np.clip(crops, 0, 1) * 255).astype(np.uint8), (np.clip(masks, 0, 1) * 255).astype(np.uint8)


def _with_cast(crops: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The crops with a warm cast on the lower half of the head: what a composite's seam looks like."""
    lower = masks[:, 0].astype(float) / 255 * (np.arange(crops.shape[1])[None, :, None] > crops.shape[1] * 0.55)
    cast = np.array([18.0, -6.0, -14.0])
    return np.clip(crops + lower[..., None] * cast, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the network


def test_input_skip_zero_is_the_paper_network():
    """Same seed: the same weights and keys in both forms, except the corrective last layers start at zero;
    the paper form's output is sigmoid of the last layer, as the paper's decoders are."""
    torch.manual_seed(0)
    paper = IdentitySwapper(SwapperConfig(**TINY)).eval()
    torch.manual_seed(0)
    corrective = IdentitySwapper(SwapperConfig(**TINY, input_skip=0.5)).eval()
    a, b = paper.state_dict(), corrective.state_dict()
    assert list(a) == list(b)
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert sorted(differ) == sorted(f"decoders.{d}.to_rgb.{p}" for d in ("actor", "dubber") for p in ("weight", "bias"))
    x = torch.rand(3, 4, 32, 32)
    with torch.no_grad():
        dec = paper.decoders["actor"]
        expected = torch.sigmoid(dec.to_rgb(dec.stages(paper.shared(x))))
        assert torch.equal(paper(x, "actor"), expected)


def test_untrained_corrective_network_returns_its_input_exactly():
    model = IdentitySwapper(SwapperConfig(**TINY, input_skip=0.5)).eval()
    crops, masks = _faces(5, 32, seed=0)
    for decoder in ("actor", "dubber"):
        np.testing.assert_array_equal(swap(model, crops, masks[:, 0], decoder), crops)


def test_corrective_residual_is_bounded_and_stays_inside_the_head_mask():
    torch.manual_seed(1)
    model = IdentitySwapper(SwapperConfig(**TINY, input_skip=0.25)).eval()
    for dec in model.decoders.values():  # a trained-looking last layer
        torch.nn.init.normal_(dec.to_rgb.weight, std=0.5)
        torch.nn.init.normal_(dec.to_rgb.bias, std=0.5)
    x = torch.rand(4, 4, 32, 32)
    x[:, 3, :, :10] = 0  # no head on the left
    with torch.no_grad():
        y = model(x, "actor")
    change = (y - x[:, :3]).abs()
    assert change[..., :10].max() == 0
    assert change.max() > 0.05 and change.max() <= 0.25 + 1e-6


def test_corrective_network_learns_the_repair_from_self_pairs(tmp_path):
    """Pairs (composite with a lower-face cast -> clean frame) teach the repair; held-out frames improve."""
    clean, masks = _faces(48, 32, seed=2)
    cast = _with_cast(clean, masks)
    train, held = slice(0, 40), slice(40, 48)
    cfg = SwapperConfig(**TINY, input_skip=0.5)
    train_cfg = TrainConfig(batch_size=8, iterations=120, lr=2e-3, warmup=10, lr_final=0.1, bn_recalibration=5,
                            self_pair_share=0.5, max_shift=0.0, device="cpu", checkpoint_every=1000)
    fit_swapper(clean[train], masks[train], cast[train], masks[train], cfg, train_cfg,
                LossWeights(area_normalised=True), tmp_path / "m.pt", tmp_path / "m.resume", tmp_path / "m.csv",
                self_pairs=(cast[train], clean[train], masks[train]))
    model = load_swapper(tmp_path / "m.pt")
    repaired = swap(model, cast[held], masks[held, 0], "actor")
    before = np.abs(cast[held].astype(float) - clean[held]).mean()
    after = np.abs(repaired.astype(float) - clean[held]).mean()
    print(f"held-out mean abs error: composite {before:.2f}, repaired {after:.2f}")
    assert after < 0.6 * before
    # A clean frame stays (nearly) as it is: the network repairs, it does not redraw.
    untouched = swap(model, clean[held], masks[held, 0], "actor")
    assert np.abs(untouched.astype(float) - clean[held]).mean() < 0.5 * before


def test_pairs_are_required_when_their_share_is_set(tmp_path):
    clean, masks = _faces(4, 32, seed=3)
    with pytest.raises(ValueError, match="self-reenactment pairs"):
        cfg = TrainConfig(iterations=1, batch_size=2, self_pair_share=0.5, device="cpu")
        fit_swapper(clean, masks, clean, masks, SwapperConfig(**TINY), cfg, LossWeights(), tmp_path / "m.pt",
                    tmp_path / "r", tmp_path / "c")


# ---------------------------------------------------------------- schedule and batch norm


def test_learning_rate_warms_up_and_decays_to_its_final_share():
    cfg = TrainConfig(lr=1e-3, iterations=101, warmup=10, lr_final=0.1)
    assert cfg.lr_at(1) == pytest.approx(1e-4)
    assert cfg.lr_at(10) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 9 / 100))))
    assert cfg.lr_at(101) == pytest.approx(1e-4)
    rates = [cfg.lr_at(k) for k in range(10, 102)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    paper = TrainConfig(lr=5e-5)
    assert {paper.lr_at(k) for k in (1, 500, 65000)} == {5e-5}


def test_batch_norm_recalibration_estimates_the_final_weights_statistics():
    torch.manual_seed(0)
    model = IdentitySwapper(SwapperConfig(**TINY))
    crops, masks = _faces(16, 32, seed=4)
    data = {name: stack_pairs(crops, crops, masks, torch.device("cpu"))[:, 3:] for name in ("actor", "dubber")}
    cfg = TrainConfig(batch_size=8, bn_recalibration=4, max_shift=0.0, device="cpu")
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = norms[0].running_mean.clone()
    rng_before = torch.get_rng_state()
    recalibrate_batch_norm(model, data, cfg, torch.contiguous_format)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the training's random stream is untouched
    assert not torch.equal(norms[0].running_mean, before)
    assert norms[0].momentum == 0.1  # restored
    # The first layer's statistics are the mean of its input over the recalibration batches.
    again = copy.deepcopy(model)
    recalibrate_batch_norm(again, data, cfg, torch.contiguous_format)
    assert torch.allclose(again.state_dict()[next(k for k in again.state_dict() if "running_mean" in k)],
                          model.state_dict()[next(k for k in model.state_dict() if "running_mean" in k)])


# ---------------------------------------------------------------- area-normalised losses


def test_area_normalised_mouth_loss_does_not_shrink_with_the_mouth():
    """The same error inside a 10 x 5 and a 20 x 10 px mouth: the paper's term shrinks with the area,
    the area-normalised term stays."""
    torch.manual_seed(0)
    target = torch.rand(1, 3, 64, 64)
    losses = {}
    for side in (5, 10):
        mask = torch.zeros(1, 1, 64, 64)
        mask[..., 40:40 + side, 32 - side:32 + side] = 1
        pred = target + 0.3 * mask
        losses[side] = (region_loss(pred, target, mask, 0.01), region_loss(pred, target, mask, 0.01, True))
    paper_ratio = losses[5][0] / losses[10][0]
    normalised_ratio = losses[5][1] / losses[10][1]
    assert paper_ratio < 0.6  # measured 0.45 (a quarter of the area)
    assert 0.7 < normalised_ratio < 1.4
    assert losses[5][1] > 5 * losses[5][0]


def test_dubber_batch_size_sets_the_dubber_decoder_s_share_of_each_step(tmp_path, monkeypatch):
    """The corrective dubber decoder (a zero-loss identity on composites) gets only a few crops per step."""
    crops, masks = _faces(8, 32, seed=5)
    seen: list[int] = []
    original = IdentitySwapper.shared

    def shared(self, x):
        seen.append(x.shape[0])
        return original(self, x)

    monkeypatch.setattr(IdentitySwapper, "shared", shared)
    cfg = TrainConfig(batch_size=6, dubber_batch_size=2, iterations=3, bn_recalibration=2, self_pair_share=0.5,
                      device="cpu", checkpoint_every=100)
    fit_swapper(crops, masks, crops, masks, SwapperConfig(**TINY, input_skip=0.5), cfg, LossWeights(),
                tmp_path / "m.pt", tmp_path / "r", tmp_path / "c.csv", self_pairs=(crops, crops, masks))
    assert seen == [8] * 5  # 3 steps and 2 recalibration batches of 6 actor + 2 dubber crops
    assert TrainConfig(batch_size=6).batch_of("dubber") == 6  # the paper: both decoders alike
