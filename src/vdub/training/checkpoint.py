"""Resumable training state: model, optimiser, step and RNG, written atomically.

A training stage keeps a *resume checkpoint* beside its final output while it runs. The
training loop (:mod:`vdub.training.loop`) rewrites it every N steps and on SIGTERM/SIGINT (how
Slurm preempts a job), and it carries the run's fingerprint (:mod:`vdub.training.fingerprint`)
so that a checkpoint from another dubber take or another preset is never resumed by mistake.
The loop deletes it once the final model is written: it is the job's own scratch state, not a
cache shared between jobs.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vdub.core.io import atomic_path

log = logging.getLogger(__name__)


def rng_state() -> dict[str, Any]:
    """Capture the Python, NumPy and torch RNG states (CPU and, if present, CUDA)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore RNG states captured by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_torch(path: str | Path, payload: Any) -> None:
    """``torch.save`` atomically, with a full disk raised as ``OSError(ENOSPC)`` naming ``path``.

    torch's own file writer reports a failed write as an errno-less RuntimeError. Through a
    Python file object the OSError happens first, but torch's clean-up may still replace it
    with a RuntimeError; the OSError is dug out of the exception chain again.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(payload, f)
        except RuntimeError as err:
            cause = err.__context__
            while cause is not None and not isinstance(cause, OSError):
                cause = cause.__context__
            if cause is None:
                raise
            raise cause from None


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    fingerprint: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write model + optimiser + step + RNG + fingerprint atomically to ``path``."""
    payload = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "step": step,
        "rng": rng_state(),
        "fingerprint": fingerprint,
        "extra": extra or {},
    }
    save_torch(path, payload)


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    fingerprint: str,
) -> tuple[int, dict[str, Any]] | None:
    """Resume from ``path`` if it exists and was written for the same ``fingerprint``.

    Returns ``(step, extra)`` after loading model, optimiser and RNG, or ``None`` when
    there is nothing (trustworthy) to resume from; a mismatching checkpoint is ignored
    with a warning, never loaded.
    """
    path = Path(path)
    if not path.exists():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if payload.get("fingerprint") != fingerprint:
        log.warning("ignoring resume checkpoint %s: written for other inputs or settings", path)
        return None
    model.load_state_dict(payload["model"])
    if optimizer is not None and payload["optimizer"] is not None:
        optimizer.load_state_dict(payload["optimizer"])
    set_rng_state(payload["rng"])
    log.info("resumed from %s at step %d", path, payload["step"])
    return int(payload["step"]), payload.get("extra", {})
