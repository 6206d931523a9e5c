"""Training of the upscaler: L1 + edge loss, resumable, with a loss log (the differences from
GPEN's own recipe are in the package docstring)."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vdub.core.io import atomic_path
from vdub.super_resolution.config import BACKEND_ONLY_FIELDS, SRConfig
from vdub.super_resolution.data import check_crops
from vdub.super_resolution.networks import build_sr_model, weights_path
from vdub.training.checkpoint import TrainingInterrupted, load_checkpoint, save_checkpoint, save_torch, stop_on_signals
from vdub.training.device import resolve_device

log = logging.getLogger(__name__)


_CSV_FIELDS = ("step", "loss", "l1", "edge", "seconds")


def _edge_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences (rewards sharp, aligned edges)."""
    dx = (pred[..., :, 1:] - pred[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (pred[..., 1:, :] - pred[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def _file_identity(path: Path, chunk: int = 1 << 22) -> str:
    """``"<size bytes>:<sha256>"`` of a file's content (read in chunks: GPEN-BFR-512.pth is ~300 MB)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return f"{path.stat().st_size}:{h.hexdigest()}"


def _fingerprint(cfg: SRConfig, lr: np.ndarray, hr: np.ndarray) -> str:
    """Hash of the training data and of every setting that changes the trained weights.

    The GPEN weights file enters by content, not by path: replacing it restarts training,
    moving it does not. Settings of the backend not in use are left out (see
    ``BACKEND_ONLY_FIELDS``), and so is ``backend`` itself for "residual", which keeps the
    fingerprints of residual runs what they were before the GPEN backend existed.
    """
    h = hashlib.sha256()
    skip = {"checkpoint_every", "device", "gpen_weights"}
    for backend, names in BACKEND_ONLY_FIELDS.items():
        if backend != cfg.backend:
            skip.update(names)
    if cfg.backend == "residual":
        skip.add("backend")
    settings = {k: v for k, v in cfg.to_dict().items() if k not in skip}
    weights = weights_path(cfg)
    if weights is not None:
        settings["gpen_weights_content"] = _file_identity(weights)
    h.update(json.dumps(settings, sort_keys=True).encode())
    for arr in (lr, hr):
        h.update(repr(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def _prepare_loss_csv(loss_csv: Path, resumed_step: int) -> None:
    """Start a fresh log, or keep only the rows up to the resumed step (later rows get redone)."""
    rows: list[dict[str, str]] = []
    if resumed_step > 0 and loss_csv.exists():
        with loss_csv.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= resumed_step]
    with atomic_path(loss_csv) as tmp:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)


def save_untrained_sr(cfg: SRConfig, out_model: str | Path, loss_csv: str | Path) -> dict[str, Any]:
    """Save the upscaler of a shot with no frame to learn from (its initial weights) and an empty loss log.

    The residual backend's initial network is bicubic upscaling; with no face in the shot
    nothing is upscaled anyway (every frame passes through).
    """
    weights_path(cfg)
    model = build_sr_model(cfg)
    save_torch(out_model, {"config": cfg.to_dict(), "state_dict": {k: v.detach().cpu()
                                                                   for k, v in model.state_dict().items()}})
    _prepare_loss_csv(Path(loss_csv), 0)
    return {"iterations": 0, "untrained": "no frame with a face"}


def train_sr(
    lr: np.ndarray,
    hr: np.ndarray,
    cfg: SRConfig,
    out_model: str | Path,
    resume_path: str | Path,
    loss_csv: str | Path,
    on_step: Callable[[int, float], None] | None = None,
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
    on_step: optional ``callback(step, loss)`` after each step (progress reporting).

    Loss: L1 + ``cfg.edge_weight`` * L1 of image gradients, Adam, for both backends. The gpen
    backend starts from ``cfg.gpen_weights`` when set (FileNotFoundError if it is missing,
    ValueError if it does not fit); the file's content is part of the resume fingerprint.
    ``cfg.iterations == 0`` writes the initial weights unchanged. On CPU the result depends
    only on the data, the settings and the torch thread count, and a resumed run ends with
    the same weights as an uninterrupted one.

    Returns a summary: iterations, resumed_from, initial_loss and final_loss (means over the
    first/last 10 logged steps of this process), seconds, seconds_per_iteration, device.
    """
    weights_path(cfg)  # a missing weights file fails before any work
    lr, hr = np.asarray(lr), np.asarray(hr)
    check_crops("lr", lr, cfg.in_size)
    check_crops("hr", hr, cfg.out_size)
    if len(lr) != len(hr) or len(lr) == 0:
        raise ValueError(f"lr and hr must hold the same, non-zero number of crops, got {len(lr)} and {len(hr)}")
    out_model, resume_path, loss_csv = Path(out_model), Path(resume_path), Path(loss_csv)
    device = resolve_device(cfg.device)
    fingerprint = _fingerprint(cfg, lr, hr)

    torch.manual_seed(cfg.seed)
    model = build_sr_model(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # Data stays uint8 (4x smaller than float); each batch is converted on the fly.
    lr_t = torch.from_numpy(np.ascontiguousarray(lr)).permute(0, 3, 1, 2)
    hr_t = torch.from_numpy(np.ascontiguousarray(hr)).permute(0, 3, 1, 2)

    resumed = load_checkpoint(resume_path, model, optimizer, fingerprint)
    step = 0 if resumed is None else resumed[0]
    start_step = step
    _prepare_loss_csv(loss_csv, step)

    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    with stop_on_signals() as stop, loss_csv.open("a", newline="") as log_file:
        writer = csv.writer(log_file)
        while step < cfg.iterations:
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
            step += 1

            value = float(loss.detach())
            losses.append(value)
            writer.writerow([step, f"{value:.6f}", f"{float(l1.detach()):.6f}", f"{float(edge.detach()):.6f}",
                             f"{time.perf_counter() - t0:.3f}"])
            log_file.flush()
            if on_step is not None:
                on_step(step, value)
            if stop:
                save_checkpoint(resume_path, model, optimizer, step, fingerprint)
                raise TrainingInterrupted(f"SR training stopped by signal {stop.signum} at step {step}; "
                                          f"resume checkpoint {resume_path}")
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.iterations:
                save_checkpoint(resume_path, model, optimizer, step, fingerprint)
    seconds = time.perf_counter() - t0

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(out_model, {"config": cfg.to_dict(), "state_dict": state})
    resume_path.unlink(missing_ok=True)

    done = cfg.iterations - start_step
    summary = {
        "iterations": cfg.iterations,
        "resumed_from": start_step,
        "initial_loss": float(np.mean(losses[:10])) if losses else None,
        "final_loss": float(np.mean(losses[-10:])) if losses else None,
        "seconds": seconds,
        "seconds_per_iteration": seconds / done if done else None,
        "device": str(device),
    }
    log.info("SR trained: %s", summary)
    return summary
