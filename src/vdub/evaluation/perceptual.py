"""Perceptual metrics (LPIPS, FID) whose network weights come only from local files.

Both upstream packages fetch their backbones from the internet on first use: ``lpips`` asks torchvision for
ImageNet AlexNet / VGG16 / SqueezeNet weights, and ``pytorch-fid`` downloads the TensorFlow FID Inception port
from GitHub.  Render nodes have no internet, and a metric whose weights silently changed (or were silently left
random) is worse than no metric, so the loaders here:

* build the upstream architectures with every download switched off,
* load the *unmodified upstream files* from paths the operator configures (names in :data:`LPIPS_BACKBONE_FILES`
  and :data:`FID_WEIGHTS_FILE`; the URLs they are published under are in the same tables),
* check the file against the architecture strictly before copying anything: a missing, unexpected or mis-shaped
  key raises ValueError naming it.

The numbers are upstream's: the forward passes are ``lpips.LPIPS`` and ``pytorch_fid.inception.InceptionV3``
themselves, and the Fréchet distance is ``pytorch_fid.fid_score.calculate_frechet_distance``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vdub.training.state_dicts import layout_mismatch

__all__ = [
    "FID_WEIGHTS_FILE",
    "FID_WEIGHTS_URL",
    "LPIPS_BACKBONE_FILES",
    "frechet_distance",
    "fid_features",
    "load_fid_inception",
    "load_lpips",
    "lpips_distance",
]

# The files torchvision would download for lpips' backbones (``torchvision.models.*_Weights.IMAGENET1K_V1``), as
# (file name, URL).  The file is torchvision's full classifier state dict; only its ``features.*`` part is used.
LPIPS_BACKBONE_FILES: dict[str, tuple[str, str]] = {
    "alex": ("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "vgg": ("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"),
    "squeeze": ("squeezenet1_1-b8a52dc0.pth", "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"),
}
_LPIPS_NET_ALIASES = {"vgg16": "vgg"}

# pytorch-fid's Inception weights (TensorFlow's 2015-12-05 Inception graph ported to PyTorch).
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_WEIGHTS_FILE}"

# Error messages list this many keys per category; a wrong file easily differs in hundreds.
_MAX_LISTED = 8


# --------------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------------


def _require_weights(path: str | Path, expected_name: str, url: str, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        state = "is not a regular file" if path.exists() else "not found"
        raise FileNotFoundError(
            f"{what} weights {state}: {path}; expected the upstream file {expected_name} (published at {url}); "
            "it is never downloaded at run time, so copy it there or point the configuration at it")
    return path


def _load_state_dict_file(path: Path, what: str) -> dict[str, torch.Tensor]:
    # weights_only: these files come from the internet via an operator; never unpickle arbitrary objects.
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a {what} state dict, got a {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path}: {what} state dict entries are not tensors: {', '.join(map(str, bad[:_MAX_LISTED]))}")
    return obj  # type: ignore[return-value]  # keep the object itself: its _metadata matters to load_state_dict


def _check_layout(found: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size], path: Path, what: str,
                  optional: Callable[[str], bool] = lambda k: False) -> None:
    """Raise ValueError naming every missing, unexpected and mis-shaped key (``optional`` keys may be absent)."""
    problems = layout_mismatch(found, expected, optional, _MAX_LISTED)
    if problems:
        raise ValueError(f"{path} does not match the {what} architecture; {problems}")


def _frames_to_tensor(frames: np.ndarray, name: str) -> torch.Tensor:
    """uint8 N x H x W x 3 RGB -> float32 N x 3 x H x W in [0, 1] (on CPU)."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        desc = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"{name} must be a uint8 N x H x W x 3 RGB array, got {desc}")
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------------------------------------------
# LPIPS
# --------------------------------------------------------------------------------------------------------------


def _lpips_backbone_layout(backbone: nn.Module) -> dict[str, str]:
    """Map torchvision ``features.N.*`` keys to lpips backbone keys ``sliceK.N.*``.

    lpips' ``pretrained_networks`` moves ``tv.<net>(...).features[N]`` into ``sliceK`` under the child name
    ``str(N)``, so the torchvision index survives as the first component after the slice name.
    """
    mapping: dict[str, str] = {}
    for key in backbone.state_dict():
        slice_name, _, rest = key.partition(".")
        if not slice_name.startswith("slice") or not rest:
            raise RuntimeError(f"unexpected lpips backbone key {key!r}: lpips' slice layout changed")
        mapping[f"features.{rest}"] = key
    return mapping


def load_lpips(backbone_weights: str | Path, net: str = "alex", device: str | torch.device = "cpu") -> nn.Module:
    """LPIPS v0.1 (Zhang et al., CVPR 2018) with its ImageNet backbone read from ``backbone_weights``.

    ``backbone_weights`` is the file torchvision would download for ``net`` (see :data:`LPIPS_BACKBONE_FILES`:
    ``alexnet-owt-7be5be79.pth`` for ``"alex"``, ``vgg16-397923af.pth`` for ``"vgg"``,
    ``squeezenet1_1-b8a52dc0.pth`` for ``"squeeze"``), i.e. torchvision's state dict with keys such as
    ``features.0.weight`` (AlexNet: 64 x 3 x 11 x 11).  Only ``features.*`` is used; the classifier keys are
    ignored.  The learned linear layers are the ones shipped inside the lpips wheel (``lpips/weights/v0.1``).

    Returns the ``lpips.LPIPS`` module in eval mode on ``device`` with every parameter frozen; nothing is
    downloaded.  Raises FileNotFoundError if the file is missing, ValueError if ``net`` is unknown or the file's
    ``features.*`` keys do not cover the backbone exactly with the right shapes (the offending keys are named).
    """
    import lpips

    name = _LPIPS_NET_ALIASES.get(net, net)
    if name not in LPIPS_BACKBONE_FILES:
        raise ValueError(f"LPIPS net must be one of {sorted(LPIPS_BACKBONE_FILES)}, got {net!r}")
    file_name, url = LPIPS_BACKBONE_FILES[name]
    path = _require_weights(backbone_weights, file_name, url, f"LPIPS {name} backbone")
    state = _load_state_dict_file(path, f"torchvision {name}")

    with warnings.catch_warnings():
        # pnet_rand=True makes lpips call tv.<net>(pretrained=False): deprecated spelling, same as weights=None.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")
        model = lpips.LPIPS(pretrained=True, net=name, version="0.1", pnet_rand=True, verbose=False)

    layout = _lpips_backbone_layout(model.net)
    expected = {tv_key: model.net.state_dict()[key].shape for tv_key, key in layout.items()}
    # torchvision's file also holds the classifier (and, for SqueezeNet, its final conv): not part of LPIPS.
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    _check_layout(features, expected, path, f"torchvision {name} features used by LPIPS")
    model.net.load_state_dict({layout[k]: v for k, v in features.items()}, strict=True)

    _check_lpips_linear_layers(model, name)
    model.requires_grad_(False)
    return model.eval().to(device)


def _check_lpips_linear_layers(model: nn.Module, name: str) -> None:
    # lpips loads its linear layers with strict=False: a wheel with a missing or renamed entry would leave an
    # LPIPS with random heads and no error.  Compare against the file it read.
    import inspect

    import lpips

    lin_path = Path(inspect.getfile(lpips.LPIPS)).parent / "weights" / "v0.1" / f"{name}.pth"
    lin_state = torch.load(lin_path, map_location="cpu", weights_only=True)
    params = {k: v for k, v in model.state_dict().items() if k.startswith("lin") and not k.startswith("lins.")}
    wrong = [k for k, v in params.items() if k not in lin_state or not torch.equal(lin_state[k], v)]
    if wrong or not params:
        raise RuntimeError(f"lpips did not load its linear layers from {lin_path}: {', '.join(wrong) or 'none found'}")


def lpips_distance(model: nn.Module, a: np.ndarray, b: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Per-image LPIPS between two equally shaped uint8 RGB stacks.

    ``a``, ``b``: N x H x W x 3 uint8 (H, W >= 32 for AlexNet).  Returns float32 shape (N,), 0 for identical
    images, larger = more different.  ``model`` is from :func:`load_lpips`; inputs are moved to its device and
    scaled to [-1, 1] as lpips expects.
    """
    ta, tb = _frames_to_tensor(a, "a"), _frames_to_tensor(b, "b")
    if ta.shape != tb.shape:
        raise ValueError(f"LPIPS inputs must have the same shape, got {a.shape} and {b.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    device = _model_device(model)
    out = []
    with torch.inference_mode():
        for i in range(0, len(ta), batch_size):
            xa = ta[i:i + batch_size].to(device).mul_(2).sub_(1)
            xb = tb[i:i + batch_size].to(device).mul_(2).sub_(1)
            out.append(model(xa, xb).reshape(-1).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


# --------------------------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------------------------


def _fid_inception_architecture() -> nn.Module:
    """``pytorch_fid.inception.fid_inception_v3`` without its final download + load (same modules, same order).

    Only used to know the expected key layout (built on the ``meta`` device) before anything is loaded; the model
    that runs is built by pytorch-fid itself, whose own strict load then double-checks this copy.
    """
    from pytorch_fid import inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


@contextmanager
def _serve_fid_weights(state: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Make pytorch-fid's module-level ``load_state_dict_from_url`` hand out ``state`` instead of downloading."""
    from pytorch_fid import inception as pfi

    def local(url: str, *args: Any, **kwargs: Any) -> Mapping[str, torch.Tensor]:
        if url != pfi.FID_WEIGHTS_URL:
            raise RuntimeError(f"pytorch-fid asked for {url}; only {pfi.FID_WEIGHTS_URL} is served locally")
        return state

    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = local
    try:
        yield
    finally:
        pfi.load_state_dict_from_url = original


def load_fid_inception(weights: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """pytorch-fid's FID Inception-v3 (2048-d pool features) with weights read from ``weights``.

    ``weights`` is pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (:data:`FID_WEIGHTS_FILE`): the state
    dict of ``pytorch_fid.inception.fid_inception_v3()``, keys such as ``Conv2d_1a_3x3.conv.weight`` (32 x 3 x 3
    x 3), ``Mixed_7c.branch_pool.bn.running_var`` and ``fc.weight`` (1008 x 2048; unused by FID).
    ``*.num_batches_tracked`` may be absent (a training counter that old files lack).

    Returns ``pytorch_fid.inception.InceptionV3(output_blocks=[3], use_fid_inception=True)`` in eval mode on
    ``device``, frozen; it takes N x 3 x H x W in [0, 1], resizes to 299 x 299 itself, and returns
    ``[N x 2048 x 1 x 1]``.  Nothing is downloaded: pytorch-fid's download function is replaced by one that
    serves this file for the duration of the call.  Raises FileNotFoundError if the file is missing and
    ValueError naming the keys if it does not match the architecture.
    """
    from pytorch_fid import inception as pfi

    path = _require_weights(weights, FID_WEIGHTS_FILE, FID_WEIGHTS_URL, "FID Inception")
    state = _load_state_dict_file(path, "FID Inception")
    with torch.device("meta"):
        expected = {k: v.shape for k, v in _fid_inception_architecture().state_dict().items()}
    _check_layout(state, expected, path, "pytorch-fid FID Inception",
                  optional=lambda k: k.endswith(".num_batches_tracked"))
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in state:
            # torch only fills these in for state dicts without version metadata; never used in eval mode.
            state[key] = torch.tensor(0, dtype=torch.long)

    with _serve_fid_weights(state):
        try:
            model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True,
                                    normalize_input=True, requires_grad=False, use_fid_inception=True)
        except RuntimeError as exc:  # pytorch-fid's strict load_state_dict: its architecture changed
            raise ValueError(f"{path} does not load into pytorch-fid's FID Inception: {exc}") from exc
    return model.eval().to(device)


def fid_features(model: nn.Module, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """FID Inception pool features of uint8 RGB frames.

    ``frames``: N x H x W x 3 uint8 (any size: the model resizes to 299 x 299 bilinearly, as pytorch-fid does for
    image files).  Returns float32 N x 2048.  ``model`` is from :func:`load_fid_inception`.
    """
    x = _frames_to_tensor(frames, "frames")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    device = _model_device(model)
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            pool = model(x[i:i + batch_size].to(device))[0]
            out.append(pool.reshape(pool.shape[0], -1).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 2048), np.float32)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID when the features are from
    :func:`fid_features`).

    ``feats_a``: Na x D, ``feats_b``: Nb x D, Na, Nb >= 2; means and unbiased covariances as pytorch-fid
    computes them. The same value as ``pytorch_fid.fid_score.calculate_frechet_distance`` (tested), computed
    without the D x D matrix square root: with centred features A (Na x D) and B (Nb x D),
    ``Tr sqrt(Ca Cb)`` is the nuclear norm of ``A B^T / sqrt((Na - 1)(Nb - 1))`` (the nonzero eigenvalues of
    Ca Cb are the squared singular values of that Na x Nb matrix). For D = 2048 and a shot's frames this takes
    milliseconds instead of about a minute on 2 CPU cores.

    FID is strongly biased upwards for small N: with a few dozen frames the 2048 x 2048 covariances have rank
    < N, so values are only comparable between sets of the same size (e.g. per shot, as the paper reports them),
    never with published dataset-level FIDs computed on 10-50k images.
    """
    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be N x D with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 samples per set for a covariance, got {len(a)} and {len(b)}")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    ca, cb = a - mean_a, b - mean_b
    na, nb = len(a) - 1, len(b) - 1
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(na * nb)
    return float(((mean_a - mean_b) ** 2).sum() + (ca ** 2).sum() / na + (cb ** 2).sum() / nb - 2.0 * cross)
