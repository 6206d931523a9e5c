"""LPIPS / FID loaders: weights only from local files, strict layout checks, and the metrics on small data.

The real weight files cannot be downloaded here, so each test writes a stand-in with the *official layout*, made
from the architecture itself:

* LPIPS AlexNet backbone: torchvision's ``alexnet-owt-7be5be79.pth`` (AlexNet_Weights.IMAGENET1K_V1) is the
  full ``torchvision.models.alexnet()`` state dict: ``features.{0,3,6,8,10}.{weight,bias}`` (``features.0.weight``
  64 x 3 x 11 x 11, ``features.3.weight`` 192 x 64 x 5 x 5, ... ``features.10.weight`` 256 x 256 x 3 x 3) plus
  ``classifier.{1,4,6}.{weight,bias}`` (``classifier.1.weight`` 4096 x 9216), which LPIPS does not use.
* FID: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` is the state dict of
  ``pytorch_fid.inception.fid_inception_v3()``: 566 entries, e.g. ``Conv2d_1a_3x3.conv.weight`` 32 x 3 x 3 x 3,
  ``Conv2d_1a_3x3.bn.{weight,bias,running_mean,running_var,num_batches_tracked}``, ``Mixed_5b.branch1x1.conv.weight``
  64 x 192 x 1 x 1, ... ``Mixed_7c.branch_pool.bn.running_var`` (192,), and ``fc.{weight,bias}`` (1008 x 2048,
  1008), which the 2048-d pool features do not use.
"""

from __future__ import annotations

import inspect
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from vdub.evaluation import perceptual
from vdub.evaluation.perceptual import (
    FID_WEIGHTS_FILE,
    LPIPS_BACKBONE_FILES,
    fid_features,
    frechet_distance,
    load_fid_inception,
    load_lpips,
    lpips_distance,
)

ALEX_FILE = LPIPS_BACKBONE_FILES["alex"][0]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: threads only contend


def _frames(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth random RGB images (bilinearly upsampled 8 x 8 noise): N x size x size x 3 uint8."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 8, 8, generator=g)
    img = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return (img.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def _noisy(frames: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).round().astype(np.uint8)


# --------------------------------------------------------------------------------------------------------------
# Stand-in "official" files
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alex_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).state_dict()


@pytest.fixture(scope="module")
def alex_file(tmp_path_factory, alex_state) -> Path:
    path = tmp_path_factory.mktemp("weights") / ALEX_FILE
    torch.save(alex_state, path)
    return path


@pytest.fixture(scope="module")
def lpips_model(alex_file):
    return load_lpips(alex_file, net="alex")


@pytest.fixture(scope="module")
def fid_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = perceptual._fid_inception_architecture()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                # PyTorch's default init shrinks activations ~3x per layer: the 2048-d features of the untrained
                # net would be ~1e-8.  He init keeps them O(1) so that distances between images are meaningful.
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, torch.nn.BatchNorm2d):
                # Move every BN entry off its default so a load that skipped it would be caught.
                m.weight.add_(0.05 * torch.randn_like(m.weight))
                m.bias.add_(0.05 * torch.randn_like(m.bias))
                m.running_mean.add_(0.05 * torch.randn_like(m.running_mean))
                m.running_var.add_(0.1 * torch.rand_like(m.running_var))
                m.num_batches_tracked.fill_(1000)
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def fid_file(tmp_path_factory, fid_state) -> Path:
    path = tmp_path_factory.mktemp("weights") / FID_WEIGHTS_FILE
    torch.save(fid_state, path)
    return path


@pytest.fixture(scope="module")
def fid_model(fid_file):
    return load_fid_inception(fid_file)


# Submodules of fid_inception_v3 in the order pytorch-fid's InceptionV3 puts them into its blocks (pools skipped).
FID_BLOCKS = (
    ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"),
    ("Conv2d_3b_1x1", "Conv2d_4a_3x3"),
    ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"),
    ("Mixed_7a", "Mixed_7b", "Mixed_7c"),
)


def _fid_file_key(model_key: str) -> str:
    """InceptionV3 key ``blocks.B.I.rest`` -> fid_inception_v3 key ``<module name>.rest``."""
    _, block, index, rest = model_key.split(".", 3)
    return f"{FID_BLOCKS[int(block)][int(index)]}.{rest}"


# --------------------------------------------------------------------------------------------------------------
# LPIPS
# --------------------------------------------------------------------------------------------------------------


def test_lpips_backbone_equals_file_and_heads_equal_wheel(lpips_model, alex_state) -> None:
    used = set()
    for key, value in lpips_model.net.state_dict().items():
        slice_name, rest = key.split(".", 1)  # "slice2.3.weight" holds torchvision's features[3].weight
        assert slice_name.startswith("slice")
        assert torch.equal(value, alex_state[f"features.{rest}"]), key
        used.add(f"features.{rest}")
    assert used == {k for k in alex_state if k.startswith("features.")}

    import lpips

    wheel = torch.load(Path(inspect.getfile(lpips.LPIPS)).parent / "weights/v0.1/alex.pth",
                       map_location="cpu", weights_only=True)
    assert sorted(wheel) == [f"lin{i}.model.1.weight" for i in range(5)]
    for key, value in wheel.items():
        assert torch.equal(lpips_model.state_dict()[key], value), key
    assert not lpips_model.training
    assert not any(p.requires_grad for p in lpips_model.parameters())


def test_lpips_zero_for_identical_and_grows_with_noise(lpips_model) -> None:
    a = _frames(3)
    same = lpips_distance(lpips_model, a, a.copy())
    assert same.shape == (3,) and same.dtype == np.float32
    np.testing.assert_array_equal(same, 0.0)

    d = np.stack([lpips_distance(lpips_model, a, _noisy(a, sigma)) for sigma in (4.0, 16.0, 48.0)])
    assert (d[0] > 0).all()
    assert (np.diff(d, axis=0) > 0).all(), d
    # Batching must not change the numbers.
    np.testing.assert_allclose(lpips_distance(lpips_model, a, _noisy(a, 16.0), batch_size=1), d[1], rtol=1e-5)


def test_lpips_rejects_bad_input(lpips_model) -> None:
    a = _frames(2)
    with pytest.raises(ValueError, match="same shape"):
        lpips_distance(lpips_model, a, a[:1])
    with pytest.raises(ValueError, match="uint8 N x H x W x 3"):
        lpips_distance(lpips_model, a.astype(np.float32), a.astype(np.float32))


@pytest.mark.parametrize(
    "edit, key, label",
    [
        ("reshape", "features.3.weight", "shape mismatch"),
        ("drop", "features.10.bias", "missing"),
        ("add", "features.13.weight", "unexpected"),
    ],
)
def test_lpips_wrong_file_names_the_key(tmp_path, alex_state, edit, key, label) -> None:
    state = dict(alex_state)
    if edit == "reshape":
        state[key] = torch.zeros(192, 64, 3, 3)
    elif edit == "drop":
        del state[key]
    else:
        state[key] = torch.zeros(1)
    path = tmp_path / ALEX_FILE
    torch.save(state, path)
    with pytest.raises(ValueError, match=rf"{label}: .*{key}"):
        load_lpips(path)


def test_lpips_squeezenet_nested_keys(tmp_path) -> None:
    """SqueezeNet's Fire modules nest one level deeper (``features.3.squeeze.weight``); 5 MB, so cheap to test.

    (VGG16's ``vgg16-397923af.pth`` has the AlexNet-style flat layout, ``features.0.weight`` 64 x 3 x 3 x 3 ...
    ``features.28.weight``; not written here because it is 528 MB.)
    """
    torch.manual_seed(0)
    state = torchvision.models.squeezenet1_1(weights=None).state_dict()
    path = tmp_path / LPIPS_BACKBONE_FILES["squeeze"][0]
    torch.save(state, path)
    model = load_lpips(path, net="squeeze")
    assert torch.equal(getattr(model.net.slice2, "3").squeeze.weight, state["features.3.squeeze.weight"])
    a = _frames(2)
    np.testing.assert_array_equal(lpips_distance(model, a, a), 0.0)
    assert (lpips_distance(model, a, _noisy(a, 16.0)) > 0).all()


def test_lpips_missing_file_and_unknown_net(tmp_path, alex_file) -> None:
    missing = tmp_path / "nowhere" / "alexnet.pth"
    with pytest.raises(FileNotFoundError, match=rf"{missing}.*{ALEX_FILE}"):
        load_lpips(missing)
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        load_lpips(missing, net="vgg")
    with pytest.raises(ValueError, match="LPIPS net must be one of"):
        load_lpips(alex_file, net="resnet")


# --------------------------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------------------------


def test_fid_architecture_is_upstreams(monkeypatch, fid_state) -> None:
    """pytorch-fid's own fid_inception_v3 loads the stand-in strictly: same keys and shapes as the real file."""
    from pytorch_fid import inception as pfi

    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda url, progress=True: fid_state)
    upstream = pfi.fid_inception_v3()  # load_state_dict(strict=True) inside
    assert len(fid_state) == 566
    assert tuple(fid_state["Conv2d_1a_3x3.conv.weight"].shape) == (32, 3, 3, 3)
    assert tuple(fid_state["fc.weight"].shape) == (1008, 2048)
    assert torch.equal(upstream.Mixed_7c.branch_pool.bn.running_var, fid_state["Mixed_7c.branch_pool.bn.running_var"])


def test_fid_weights_equal_file(fid_model, fid_state) -> None:
    used = set()
    for key, value in fid_model.state_dict().items():
        assert torch.equal(value, fid_state[_fid_file_key(key)]), key
        used.add(_fid_file_key(key))
    assert used == {k for k in fid_state if not k.startswith("fc.")}
    assert not fid_model.training
    assert not any(p.requires_grad for p in fid_model.parameters())


def test_fid_features_shape_and_batching(fid_model) -> None:
    frames = _frames(5, size=48)
    feats = fid_features(fid_model, frames, batch_size=2)
    assert feats.shape == (5, 2048) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert (feats >= 0).all() and feats.std(axis=0).mean() > 1e-3  # post-ReLU averages, differing per image
    np.testing.assert_allclose(fid_features(fid_model, frames[:2], batch_size=8), feats[:2], rtol=1e-4, atol=1e-6)


def test_fid_self_zero_and_shift_positive(fid_model) -> None:
    frames = _frames(8, size=48, seed=3)
    brighter = np.clip(frames.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    fa, fb = fid_features(fid_model, frames), fid_features(fid_model, brighter)
    # The full 2048-d matrix square root takes ~1 min on 2 cores (see the slow test); 64 dims keep this fast and
    # exercise the same code path.
    d = 64
    self_fid = frechet_distance(fa[:, :d], fa[:, :d])
    shift_fid = frechet_distance(fa[:, :d], fb[:, :d])
    assert shift_fid > 0
    assert abs(self_fid) < 1e-4 * shift_fid, (self_fid, shift_fid)


def test_fid_full_2048_dims(fid_model) -> None:
    frames = _frames(8, size=48, seed=3)
    brighter = np.clip(frames.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    fa, fb = fid_features(fid_model, frames), fid_features(fid_model, brighter)
    shift_fid = frechet_distance(fa, fb)
    assert shift_fid > 0
    assert abs(frechet_distance(fa, fa)) < 1e-4 * shift_fid


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")  # pytorch-fid's sqrtm call
@pytest.mark.filterwarnings("ignore:Matrix is singular")  # fewer samples than dimensions, on purpose
def test_frechet_distance_closed_forms() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))  # full-rank covariance
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    # Same covariance: only the means differ.
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    # Scaled by 2: sqrt(S * 4S) = 2S, so the trace term is tr(S + 4S - 4S) = tr(S).
    expected = float(a.mean(0) @ a.mean(0) + np.trace(np.cov(a, rowvar=False)))
    assert frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-6)
    # Equal to pytorch-fid's own computation (matrix square root), with fewer samples than dimensions too.
    from pytorch_fid.fid_score import calculate_frechet_distance

    for na, nb, d in ((200, 150, 5), (30, 40, 64)):
        x, y = rng.normal(size=(na, d)), rng.normal(0.3, 1.5, size=(nb, d)) @ rng.normal(size=(d, d))
        reference = calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
        assert frechet_distance(x, y) == pytest.approx(float(reference), rel=1e-6)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, a[:, :4])
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a, a[:1])


def test_fid_wrong_file_names_the_key(tmp_path, fid_state) -> None:
    state = dict(fid_state)
    state["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 3, 5, 5)
    del state["Mixed_7c.branch_pool.conv.weight"]
    path = tmp_path / FID_WEIGHTS_FILE
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        load_fid_inception(path)
    assert "missing: Mixed_7c.branch_pool.conv.weight" in str(err.value)
    assert "shape mismatch: Conv2d_1a_3x3.conv.weight (file (32, 3, 5, 5), model (32, 3, 3, 3))" in str(err.value)


def test_fid_file_without_num_batches_tracked_loads(tmp_path, fid_state) -> None:
    state = {k: v for k, v in fid_state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / FID_WEIGHTS_FILE
    torch.save(state, path)
    model = load_fid_inception(path)
    assert torch.equal(model.blocks[0][0].conv.weight, fid_state["Conv2d_1a_3x3.conv.weight"])


def test_fid_missing_file(tmp_path) -> None:
    missing = tmp_path / "fid.pth"
    with pytest.raises(FileNotFoundError, match=rf"{missing}.*{FID_WEIGHTS_FILE}"):
        load_fid_inception(missing)


# --------------------------------------------------------------------------------------------------------------
# No network
# --------------------------------------------------------------------------------------------------------------


def test_loading_makes_no_network_call(monkeypatch, alex_file, fid_file) -> None:
    import torchvision.models._api as tv_api
    from pytorch_fid import inception as pfi

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(pfi, "load_state_dict_from_url", refuse)

    load_lpips(alex_file)
    load_fid_inception(fid_file)
    # The local stand-in for pytorch-fid's downloader is gone again afterwards.
    assert pfi.load_state_dict_from_url is refuse
