"""Training of the identity-swapping network (paper section 2.2).

Each step draws ``batch_size`` actor crops and ``batch_size`` virtual-dubber crops
(``dubber_batch_size`` if set), runs
them through the shared part of the network together, the actor crops through the actor
decoder and the dubber crops through the dubber decoder, and minimises
``L_total = L_actor + L_dubber`` (eq. 2) for reconstructing each input. The input is the
crop concatenated with its soft head mask.

Self-reenactment pairs (not in the paper; ``self_pair_share`` > 0): a share of the actor
decoder's batch is the actor's reference driven by the actor's own face track, composited
exactly like the dubbed composites, with the real actor frame as the target
(:mod:`vdub.reenactment.self_reenactment`). They are the only examples whose input differs from their
target in the way a dubbed composite differs from a real frame, so they are what teaches a
corrective network (``input_skip`` > 0) to repair a composite.

Convergence in a short budget: a linear learning-rate warm-up over ``warmup`` steps and a
cosine decay to ``lr_final`` times the rate, and after training the batch-norm statistics
re-estimated over ``bn_recalibration`` batches (their running averages lag the weights,
which move fast under a short schedule). The paper's numbers switch all three off. A
corrective dubber decoder reconstructing composites from themselves is at its optimum from
the first step (a zero residual); its crops only keep the shared batch-norm statistics
close to inference's inputs, so the corrective presets give it a small
``dubber_batch_size`` and spend the compute on the actor decoder.

The steps run in the shared training loop (:mod:`vdub.training.loop`): resumable from a
checkpoint beside the final model, rewritten every ``checkpoint_every`` steps and on
SIGTERM/SIGINT and resumed only when it was written for the same crops, masks, starting
weights and settings.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vdub.reenactment.config import LossWeights, SwapperConfig, TrainConfig
from vdub.reenactment.swapper.batches import check_subject, sample_batch, stack_pairs, stack_subject
from vdub.reenactment.swapper.inference import load_payload
from vdub.reenactment.swapper.losses import decoder_loss
from vdub.reenactment.swapper.network import DECODERS, IdentitySwapper, parameter_counts
from vdub.training.device import resolve_device
from vdub.training.early_stop import EarlyStop, loss_columns, scoring
from vdub.training.fingerprint import run_fingerprint
from vdub.training.loop import LossLog, TrainingLoop, save_untrained

log = logging.getLogger(__name__)

LOSSES = ("loss_actor", "loss_dubber", "loss_total")  # the loss log's columns between step and seconds


# Settings that change what is computed; the rest (length, logging, device) may change on resume.
_FINGERPRINT_TRAIN_FIELDS = ("batch_size", "dubber_batch_size", "lr", "betas", "seed", "max_shift", "colour_jitter",
                             "amp", "warmup", "lr_final", "self_pair_share")


def _fingerprint_settings(net_cfg: SwapperConfig, train_cfg: TrainConfig, loss_weights: LossWeights) -> dict[str, Any]:
    """The settings that change a run's result, for :func:`~vdub.training.fingerprint.run_fingerprint`."""
    train = {k: getattr(train_cfg, k) for k in _FINGERPRINT_TRAIN_FIELDS}
    if train_cfg.lr_final < 1.0:
        train["iterations"] = train_cfg.iterations  # the decay's length shapes every step's rate
    return {"net": asdict(net_cfg), "train": train, "loss": asdict(loss_weights)}


def _train_step(
    model: IdentitySwapper,
    optimizer: torch.optim.Optimizer,
    data: dict[str, torch.Tensor],
    train_cfg: TrainConfig,
    weights: LossWeights,
    autocast: Callable[[], contextlib.AbstractContextManager],
    memory_format: torch.memory_format,
) -> dict[str, float]:
    """One optimiser step on L_total = L_actor + L_dubber; returns the three losses (``LOSSES``).

    ``data``: ``actor`` and ``dubber`` (T x 6 x S x S uint8) and, optionally, ``pairs``
    (N x 9 x S x S: self-reenactment pairs mixed into the actor decoder's batch).
    """
    batches = {name: sample_batch(data[name], train_cfg, data.get("pairs") if name == "actor" else None,
                                   train_cfg.batch_of(name)) for name in DECODERS}
    inputs = [batches[name][0].contiguous(memory_format=memory_format) for name in DECODERS]
    x = torch.cat(inputs).contiguous(memory_format=memory_format)
    with autocast():
        # One pass through the shared part: its batch-norm statistics see both subjects,
        # as the actor decoder will at inference on virtual-dubber crops.
        h = model.shared(x).split([train_cfg.batch_of(name) for name in DECODERS])
        preds = {name: model.decode(part, name, inp) for name, part, inp in zip(DECODERS, h, inputs)}
    losses = {
        name: decoder_loss(preds[name], batches[name][1], batches[name][2], weights)["total"] for name in DECODERS
    }
    total = losses["actor"] + losses["dubber"]
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return {"loss_actor": losses["actor"].item(), "loss_dubber": losses["dubber"].item(), "loss_total": total.item()}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _autocast_factory(device: torch.device, amp: bool) -> Callable[[], contextlib.AbstractContextManager]:
    if device.type == "cuda" and amp:
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def fit_swapper(
    actor: np.ndarray,
    actor_masks: np.ndarray,
    dubber: np.ndarray,
    dubber_masks: np.ndarray,
    net_cfg: SwapperConfig,
    train_cfg: TrainConfig,
    loss_weights: LossWeights,
    out_model: str | Path,
    resume_path: str | Path,
    loss_csv: str | Path,
    *,
    init_from: str | Path | None = None,
    self_pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    on_step: Callable[[int, Mapping[str, float]], None] | None = None,
    score: Callable[[IdentitySwapper], float] | None = None,
    early_stop: EarlyStop | None = None,
) -> dict[str, Any]:
    """Train the identity-swapping network on actor and virtual-dubber head crops.

    Args:
        actor: T x S x S x 3 uint8 actor head crops (RGB).
        actor_masks: T x 3 x S x S uint8 soft masks (head, eyes, mouth), 0..255.
        dubber: N x S x S x 3 uint8 virtual-dubber head crops.
        dubber_masks: N x 3 x S x S uint8 soft masks of the dubber crops.
        net_cfg, train_cfg, loss_weights: network, optimisation and loss settings.
        out_model: final model, written atomically as ``{"config", "state_dict", ...}``.
        resume_path: resume checkpoint, rewritten during training and deleted at the end;
            resumed from automatically when its fingerprint matches this run.
        loss_csv: per-step losses: step, loss_actor, loss_dubber, loss_total, seconds.
        init_from: optional saved model (same config) to start from, e.g. the per-actor
            model when training for a new dubber take.
        self_pairs: optional self-reenactment pairs ``(inputs N x S x S x 3, targets
            N x S x S x 3, masks N x 3 x S x S)``, all uint8; ``train_cfg.self_pair_share``
            of each actor batch is drawn from them (ignored when the share is 0).
        on_step: called after every step with the step number and its losses (``LOSSES``).
        score: ``score(model)``, the held-out score (higher is better, e.g.
            :func:`vdub.reenactment.self_reenactment.repaired_psnr`); with an active
            ``early_stop`` the run scores every ``early_stop.every`` steps (the loss log's
            ``holdout_psnr`` column) and ends at the plateau; ``train_cfg.iterations`` is the ceiling.

    Returns:
        A summary: steps, resumed_from, seconds, it_per_s, final losses (mean of the last
        ``log_every`` steps), parameter counts, device, and with scoring ``early_stop``
        (:meth:`~vdub.training.loop.TrainingLoop.early_stop_summary`, also in the model file).

    Raises:
        TrainingInterrupted: after writing the resume checkpoint on SIGTERM/SIGINT.
    """
    s = net_cfg.crop_size
    check_subject(actor, actor_masks, s, "actor")
    check_subject(dubber, dubber_masks, s, "dubber")
    if train_cfg.self_pair_share > 0 and self_pairs is not None and len(self_pairs[0]) == 0:
        # A very short shot can have no self-reenactment pair: its actor batches are its own crops.
        log.warning("no self-reenactment pairs: the actor decoder trains on the actor's crops alone")
        train_cfg = replace(train_cfg, self_pair_share=0.0)
    if train_cfg.self_pair_share == 0:
        self_pairs = None
    elif self_pairs is None:
        raise ValueError("train.self_pair_share > 0 needs self-reenactment pairs")
    else:
        check_subject(self_pairs[0], self_pairs[2], s, "self-reenactment input")
        check_subject(self_pairs[1], self_pairs[2], s, "self-reenactment target")
    device = resolve_device(train_cfg.device)
    arrays = [actor, actor_masks, dubber, dubber_masks, *(self_pairs or ())]
    fingerprint = run_fingerprint(arrays, _fingerprint_settings(net_cfg, train_cfg, loss_weights), init_from)

    _seed_everything(train_cfg.seed)
    model = IdentitySwapper(net_cfg)
    if init_from is not None:
        model.load_state_dict(load_payload(init_from, net_cfg)["state_dict"], strict=True)
    memory_format = torch.contiguous_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if train_cfg.channels_last:
            memory_format = torch.channels_last
    model.to(device=device, memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr, betas=train_cfg.betas)
    data = {"actor": stack_subject(actor, actor_masks, device), "dubber": stack_subject(dubber, dubber_masks, device)}
    if self_pairs is not None:
        data["pairs"] = stack_pairs(*self_pairs, device)
    autocast = _autocast_factory(device, train_cfg.amp)

    def step(n: int) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = train_cfg.lr_at(n)
        return _train_step(model, optimizer, data, train_cfg, loss_weights, autocast, memory_format)

    scored = scoring(score, early_stop, train_cfg.iterations)
    loop = TrainingLoop("swapper", model, optimizer, fingerprint=fingerprint, resume_path=resume_path,
                        loss_log=LossLog(Path(loss_csv), loss_columns(LOSSES, scored)),
                        iterations=train_cfg.iterations,
                        checkpoint_every=train_cfg.checkpoint_every, log_every=train_cfg.log_every)
    log.info(
        "training swapper on %d actor / %d dubber crops%s of %d px, %d steps on %s (%s parameters)",
        len(actor), len(dubber), f" / {len(self_pairs[0])} self-reenactment pairs" if self_pairs else "", s,
        train_cfg.iterations, device, f"{parameter_counts(model)['total']:,}",
    )
    loop.run(step, on_step, score=(lambda: score(model)) if scored else None, early_stop=early_stop,
             warm=init_from is not None)
    if train_cfg.bn_recalibration and loop.history:
        recalibrate_batch_norm(model, data, train_cfg, memory_format)
    stopped = {"early_stop": loop.early_stop_summary()} if scored else {}
    loop.save(out_model, asdict(net_cfg), {"train_config": asdict(train_cfg), "loss_weights": asdict(loss_weights),
                                           **stopped})
    return {**_summary(loop.history, loop.start, train_cfg, model, device), **stopped}


def save_untrained_swapper(net_cfg: SwapperConfig, out_model: str | Path, loss_csv: str | Path, reason: str,
                           init_from: str | Path | None = None) -> dict[str, Any]:
    """Save the swapper a run with nothing to train on delivers: ``init_from``'s weights, else a fresh network.

    A shot without a face in any frame reenacts nothing (every frame passes through), but its
    rules still need a model file (:func:`~vdub.training.loop.save_untrained`: ``reason`` is
    stored in it) and a loss log (its header only). Returns ``{"steps": 0, "untrained": reason}``.
    """
    model = IdentitySwapper(net_cfg)
    if init_from is not None:
        model.load_state_dict(load_payload(init_from, net_cfg)["state_dict"], strict=True)
    save_untrained(out_model, asdict(net_cfg), model, LossLog(Path(loss_csv), LOSSES), reason)
    return {"steps": 0, "untrained": reason}


@torch.no_grad()
def recalibrate_batch_norm(
    model: IdentitySwapper, data: dict[str, torch.Tensor], cfg: TrainConfig, memory_format: torch.memory_format
) -> None:
    """Re-estimate every batch-norm layer's running statistics with the final weights.

    Runs ``cfg.bn_recalibration`` training-like batches (both subjects together, as in a
    step) through the shared part with cumulative averaging, then restores each layer's
    momentum. Random numbers come from a generator of their own, so the global ones (and a
    resumed run's bit-exactness) are untouched. ``data`` as for :func:`_train_step`.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the recalibration batches
    was_training = model.training
    model.train()
    cpu_state = torch.get_rng_state()
    try:
        torch.manual_seed(cfg.seed + 1)
        for _ in range(cfg.bn_recalibration):
            parts = [sample_batch(data[name], cfg, data.get("pairs") if name == "actor" else None,
                                   cfg.batch_of(name))[0] for name in DECODERS]
            model.shared(torch.cat(parts).contiguous(memory_format=memory_format))
    finally:
        torch.set_rng_state(cpu_state)
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)


def _summary(
    history: list[tuple], start: int, train_cfg: TrainConfig, model: IdentitySwapper, device: torch.device
) -> dict[str, Any]:
    tail = np.array([row[1:4] for row in history[-train_cfg.log_every :]]) if history else np.full((1, 3), np.nan)
    seconds = history[-1][-1] if history else 0.0
    return {
        "steps": len(history),
        "resumed_from": start or None,
        "seconds": seconds,
        "it_per_s": len(history) / seconds if seconds > 0 else float("nan"),
        "loss_actor": float(tail[:, 0].mean()),
        "loss_dubber": float(tail[:, 1].mean()),
        "loss_total": float(tail[:, 2].mean()),
        "parameters": parameter_counts(model),
        "device": str(device),
    }


