"""Training of the upscaler: L1 + edge loss in the shared training loop (resumable, with a loss log;
the differences from GPEN's own recipe are in the package docstring)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vdub.super_resolution.config import BACKEND_ONLY_FIELDS, SRConfig
from vdub.super_resolution.data import check_crops
from vdub.super_resolution.networks import build_sr_model, weights_path
from vdub.training.device import resolve_device
from vdub.training.early_stop import EarlyStop, loss_columns, scoring
from vdub.training.fingerprint import run_fingerprint
from vdub.training.loop import LossLog, TrainingLoop, save_untrained

log = logging.getLogger(__name__)


LOSSES = ("loss", "l1", "edge")  # the loss log's columns between step and seconds: total, L1, edge L1
_LOG_EVERY = 100  # steps between progress lines


def _edge_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences (rewards sharp, aligned edges)."""
    dx = (pred[..., :, 1:] - pred[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (pred[..., 1:, :] - pred[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def _fingerprint(cfg: SRConfig, lr: np.ndarray, hr: np.ndarray) -> str:
    """The run fingerprint (:func:`~vdub.training.fingerprint.run_fingerprint`): the training pairs, every
    setting that changes the trained weights, and the GPEN weights file's content.

    Settings of the backend not in use are left out (see ``BACKEND_ONLY_FIELDS``): they do not
    shape this backend's network, so changing them keeps a resume checkpoint.
    """
    skip = {"checkpoint_every", "device", "gpen_weights"}
    for backend, names in BACKEND_ONLY_FIELDS.items():
        if backend != cfg.backend:
            skip.update(names)
    settings = {k: v for k, v in cfg.to_dict().items() if k not in skip}
    return run_fingerprint([lr, hr], {"sr": settings}, weights_path(cfg))


def save_untrained_upscaler(cfg: SRConfig, out_model: str | Path, loss_csv: str | Path, reason: str
                            ) -> dict[str, Any]:
    """Save the upscaler of a shot with no frame to learn from: its initial weights, and a loss log with a header only.

    The residual backend's initial network is bicubic upscaling; with no face in the shot
    nothing is upscaled anyway (every frame passes through). ``reason`` is stored in the
    model file (:func:`~vdub.training.loop.save_untrained`). Returns ``{"iterations": 0, "untrained": reason}``.
    """
    save_untrained(out_model, cfg.to_dict(), build_sr_model(cfg), LossLog(Path(loss_csv), LOSSES), reason)
    return {"iterations": 0, "untrained": reason}


def fit_upscaler(
    lr: np.ndarray,
    hr: np.ndarray,
    cfg: SRConfig,
    out_model: str | Path,
    resume_path: str | Path,
    loss_csv: str | Path,
    on_step: Callable[[int, Mapping[str, float]], None] | None = None,
    score: Callable[[torch.nn.Module], float] | None = None,
    early_stop: EarlyStop | None = None,
) -> dict[str, Any]:
    """Train the identity-specific SR network (``cfg.backend``) on (lr, hr) pairs; write the model atomically.

    lr: NxSxSx3 uint8 with S = cfg.in_size; hr: NxHxHx3 uint8 with H = cfg.out_size (from
        :func:`build_training_pairs`).
    out_model: final model file, ``{"config": cfg.to_dict(), "state_dict": ...}`` (CPU tensors).
    resume_path: resume checkpoint, written every ``cfg.checkpoint_every`` steps and on
        SIGTERM/SIGINT (then :class:`TrainingInterrupted` is raised); resumed from when its
        fingerprint (data + settings) matches, ignored otherwise; deleted once out_model exists.
    loss_csv: per-step log with columns step, loss, l1, edge, seconds (rows past a resumed
        step are dropped, so the log of a resumed run reads like an uninterrupted one).
    on_step: optional ``callback(step, losses)`` after each step (``losses`` by column name).
    score: ``score(model)``, the held-out score (higher is better); with an active
        ``early_stop`` the run scores every ``early_stop.every`` steps (the loss log's
        ``holdout_psnr`` column) and ends at the plateau; ``cfg.iterations`` is the ceiling.

    The steps run in the shared training loop (:mod:`vdub.training.loop`). Loss: L1 +
    ``cfg.edge_weight`` * L1 of image gradients, Adam, for both backends. The gpen
    backend starts from ``cfg.gpen_weights`` when set (FileNotFoundError if it is missing,
    ValueError if it does not fit); the file's content is part of the resume fingerprint.
    ``cfg.iterations == 0`` writes the initial weights unchanged. On CPU the result depends
    only on the data, the settings and the torch thread count, and a resumed run ends with
    the same weights as an uninterrupted one.

    Returns a summary: iterations (the steps run), resumed_from, initial_loss and final_loss
    (means over the first/last 10 logged steps of this process), seconds,
    seconds_per_iteration, device, and with scoring ``early_stop`` (also in the model file).
    """
    pretrained = weights_path(cfg) is not None  # a missing weights file fails before any work
    lr, hr = np.asarray(lr), np.asarray(hr)
    check_crops("lr", lr, cfg.in_size)
    check_crops("hr", hr, cfg.out_size)
    if len(lr) != len(hr) or len(lr) == 0:
        raise ValueError(f"lr and hr must hold the same, non-zero number of crops, got {len(lr)} and {len(hr)}")
    device = resolve_device(cfg.device)
    fingerprint = _fingerprint(cfg, lr, hr)

    torch.manual_seed(cfg.seed)
    model = build_sr_model(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # Data stays uint8 (4x smaller than float); each batch is converted on the fly.
    lr_t = torch.from_numpy(np.ascontiguousarray(lr)).permute(0, 3, 1, 2)
    hr_t = torch.from_numpy(np.ascontiguousarray(hr)).permute(0, 3, 1, 2)

    def step(n: int) -> dict[str, float]:
        # Sampling uses the global torch RNG, which the checkpoint saves and restores.
        idx = torch.randint(len(lr_t), (cfg.batch_size,))
        x = lr_t[idx].to(device, torch.float32) / 255.0
        y = hr_t[idx].to(device, torch.float32) / 255.0
        pred = model(x)
        l1 = (pred - y).abs().mean()
        edge = _edge_l1(pred, y) if cfg.edge_weight > 0 else torch.zeros((), device=device)
        loss = l1 + cfg.edge_weight * edge
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach()), "l1": float(l1.detach()), "edge": float(edge.detach())}

    scored = scoring(score, early_stop, cfg.iterations)
    loop = TrainingLoop("upscaler", model, optimizer, fingerprint=fingerprint, resume_path=resume_path,
                        loss_log=LossLog(Path(loss_csv), loss_columns(LOSSES, scored), ".6f"),
                        iterations=cfg.iterations, checkpoint_every=cfg.checkpoint_every, log_every=_LOG_EVERY)
    loop.run(step, on_step, score=(lambda: score(model)) if scored else None, early_stop=early_stop,
             warm=pretrained)
    stopped = {"early_stop": loop.early_stop_summary()} if scored else {}
    loop.save(out_model, cfg.to_dict(), stopped)
    losses = [row[1] for row in loop.history if row[0] > loop.start]
    done = len(loop.history) - loop.start
    summary = {
        "iterations": len(loop.history),
        "resumed_from": loop.start,
        "initial_loss": float(np.mean(losses[:10])) if losses else None,
        "final_loss": float(np.mean(losses[-10:])) if losses else None,
        "seconds": loop.seconds,
        "seconds_per_iteration": loop.seconds / done if done else None,
        "device": str(device),
        **stopped,
    }
    log.info("SR trained: %s", summary)
    return summary
