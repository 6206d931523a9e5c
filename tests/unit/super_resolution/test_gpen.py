"""GPEN generator: shapes and gradients, native upfirdn2d, strict weight loading, and the GPEN-BFR-512 layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from vdub.super_resolution.config import GPENConfig
from vdub.super_resolution.gpen import FullGenerator, load_official, parameter_count, upfirdn2d

TINY = GPENConfig(size=64, style_dim=32, n_mlp=2, channel_multiplier=1, narrow=0.0625)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: threads only contend


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = FullGenerator(TINY)
    # Upstream initialises the noise weights and ToRGB biases at zero; perturb every parameter so that a load
    # which silently skipped any of them would change the output.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return {k: v.clone() for k, v in model.state_dict().items()}


def _fresh(seed: int = 123) -> FullGenerator:
    torch.manual_seed(seed)
    return FullGenerator(TINY).eval()


def _input(batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.rand(batch, 3, 64, 64, generator=g) * 2 - 1


def test_tiny_forward_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    model = FullGenerator(TINY)
    x = _input()
    image, latent = model(x, return_latents=True)
    assert image.shape == (2, 3, 64, 64)
    assert latent is not None and latent.shape == (2, 2 * 6 - 2, TINY.style_dim)
    assert torch.isfinite(image).all()
    assert model(x)[1] is None

    image.square().mean().backward()
    first = model.ecd0[0][0].weight
    assert first.grad is not None and first.grad.abs().sum() > 0
    # The encoder features also reach the generator through the concatenated noise branch.
    assert model.generator.convs[-1].noise.weight.grad is not None

    with pytest.raises(ValueError, match="64"):
        model(torch.zeros(1, 3, 32, 32))


def test_upfirdn2d_matches_reference_convolution() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 6)).astype(np.float32)
    k = rng.standard_normal((4, 4)).astype(np.float32)  # asymmetric: checks the flip (true convolution)
    for up, down, pad in [(1, 1, (2, 1)), (2, 1, (2, 1)), (1, 2, (1, 1)), (2, 2, (-1, 2))]:
        got = upfirdn2d(torch.from_numpy(x), torch.from_numpy(k), up=up, down=down, pad=pad).numpy()
        for c in range(2):
            z = np.zeros((5 * up, 6 * up), np.float32)
            z[::up, ::up] = x[0, c]
            p0, p1 = pad
            z = np.pad(z, ((max(p0, 0), max(p1, 0)),) * 2)
            z = z[max(-p0, 0):z.shape[0] - max(-p1, 0), max(-p0, 0):z.shape[1] - max(-p1, 0)]
            ref = convolve2d(z, k, mode="valid")[::down, ::down]
            np.testing.assert_allclose(got[0, c], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("wrap", ["bare", "module", "g_ema", "g", "file"])
def test_loader_round_trip(tiny_state: dict[str, torch.Tensor], wrap: str, tmp_path: Path) -> None:
    reference = _fresh(seed=1)
    reference.load_state_dict(tiny_state)
    if wrap == "bare":
        obj: object = tiny_state
    elif wrap == "module":
        obj = {f"module.{k}": v for k, v in tiny_state.items()}
    elif wrap == "g_ema":
        # g_ema must win over g (EMA weights are the ones used for inference).
        obj = {"g_ema": tiny_state, "g": _fresh(seed=5).state_dict(), "d": {}}
    elif wrap == "g":
        obj = {"g": tiny_state}
    else:
        obj = tmp_path / "gpen.pth"
        torch.save(tiny_state, obj)

    model = _fresh(seed=2)
    assert load_official(model, obj) is model
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], reference(x)[0], rtol=0, atol=0)


def test_loader_reports_missing_and_mismatched_keys(tiny_state: dict[str, torch.Tensor]) -> None:
    missing = dict(tiny_state)
    del missing["generator.to_rgb1.bias"]
    with pytest.raises(ValueError, match=r"missing: generator\.to_rgb1\.bias"):
        load_official(_fresh(), missing)

    wrong = dict(tiny_state)
    wrong["final_linear.0.weight"] = torch.zeros(32, 7)
    with pytest.raises(ValueError, match=r"shape mismatch: final_linear\.0\.weight"):
        load_official(_fresh(), wrong)

    extra = dict(tiny_state)
    extra["generator.noises.noise_0"] = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"unexpected: generator\.noises\.noise_0"):
        load_official(_fresh(), extra)

    # A failed load must not touch the model.
    model = _fresh(seed=9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError):
        load_official(model, wrong)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_official_bfr512_layout() -> None:
    """Keys/shapes of the released GPEN-BFR-512.pth, as implied by yangxy/GPEN face_model/gpen_model.py.

    FullGenerator(512, 512, 8, channel_multiplier=2, narrow=1): encoder ecd0 (1x1, 3 -> 64 at 512 px), ecd1..ecd7
    (blur + stride-2 3x3: 128@256, 256@128, 512@64, 512@32, 512@16, 512@8, 512@4), final_linear 8192 -> 512; the
    generator's styled convs see twice their nominal input channels because the encoder maps are concatenated.
    The blur/upsample FIR kernels are persistent buffers, so they are in the released file as well.
    """
    with torch.device("meta"):
        model = FullGenerator(GPENConfig.BFR_512)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {
        "ecd0.0.0.weight": (64, 3, 1, 1),
        "ecd0.0.1.bias": (64,),
        "ecd1.0.0.kernel": (4, 4),
        "ecd1.0.1.weight": (128, 64, 3, 3),
        "ecd1.0.2.bias": (128,),
        "ecd3.0.1.weight": (512, 256, 3, 3),
        "ecd7.0.1.weight": (512, 512, 3, 3),
        "final_linear.0.weight": (512, 8192),
        "final_linear.0.bias": (512,),
        "generator.style.1.weight": (512, 512),
        "generator.style.8.bias": (512,),
        "generator.input.input": (1, 512, 4, 4),
        "generator.conv1.conv.weight": (1, 512, 512, 3, 3),
        "generator.conv1.conv.modulation.weight": (512, 512),
        "generator.conv1.noise.weight": (1,),
        "generator.conv1.activate.bias": (1024,),
        "generator.to_rgb1.conv.weight": (1, 3, 1024, 1, 1),
        "generator.to_rgb1.bias": (1, 3, 1, 1),
        "generator.convs.0.conv.weight": (1, 512, 1024, 3, 3),
        "generator.convs.0.conv.blur.kernel": (4, 4),
        "generator.convs.0.conv.modulation.weight": (1024, 512),
        "generator.convs.8.conv.weight": (1, 256, 1024, 3, 3),
        "generator.convs.13.conv.weight": (1, 64, 128, 3, 3),
        "generator.convs.13.activate.bias": (128,),
        "generator.to_rgbs.6.conv.weight": (1, 3, 128, 1, 1),
        "generator.to_rgbs.6.upsample.kernel": (4, 4),
        "generator.to_rgbs.6.bias": (1, 3, 1, 1),
    }
    for key, shape in expected.items():
        assert shapes.get(key) == shape, key
    # No StyleGAN2 noise buffers (GPEN takes its noise from the encoder) and no mapping layer beyond n_mlp.
    assert not any("noises" in k for k in shapes)
    assert "generator.style.9.weight" not in shapes and "ecd8.0.1.weight" not in shapes
    assert len(model.generator.convs) == 14 and len(model.generator.to_rgbs) == 7
    assert len(shapes) == 163
    # 71.0 M parameters = 284 MB in float32, the size of the released GPEN-BFR-512.pth.
    assert parameter_count(model) == 71_005_223

    with torch.device("meta"):
        small = FullGenerator(GPENConfig.BFR_256)
    assert parameter_count(small) == 18_879_010
    assert tuple(small.state_dict()["ecd0.0.0.weight"].shape) == (32, 3, 1, 1)
    assert tuple(small.state_dict()["final_linear.0.weight"].shape) == (512, 256 * 16)
