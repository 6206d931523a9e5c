#!/usr/bin/env python3
"""Training throughput of the identity-swapping network at a preset's settings.

    python scripts/benchmark_swapper.py [--preset preview|paper] [--steps N] [--batch B] [--device D]

Runs the real training loop (`vdub.reenactment.swapper.train.fit_swapper`: input sampling and
augmentation, bf16 autocast and channels_last on CUDA, checkpoints off) on random crops
of the preset's size and prints a Markdown row: steps/s, images/s (both decoders' crops),
peak memory (CUDA allocator, else the process's peak RSS), the FLOPs of one step (PyTorch's
FLOP counter) and the achieved TFLOP/s. `--batch` overrides the preset's batch (the paper's
64 x 176 px does not fit a 2-core CPU run).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from vdub.reenactment.config import LossWeights, SwapperConfig, TrainConfig
from vdub.reenactment.swapper.batches import stack_subject
from vdub.reenactment.swapper.network import IdentitySwapper, parameter_counts
from vdub.reenactment.swapper.train import _autocast_factory, _train_step, fit_swapper
from vdub.training.device import resolve_device

REPO = Path(__file__).resolve().parents[1]


def _crops(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
            rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def step_flops(net_cfg: SwapperConfig, train_cfg: TrainConfig, device: torch.device) -> int:
    """FLOPs of one optimiser step (forward + backward of both decoders' batches)."""
    model = IdentitySwapper(net_cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    a, am = _crops(4, net_cfg.crop_size, 0)
    data = {"actor": stack_subject(a, am, device), "dubber": stack_subject(a, am, device)}
    with FlopCounterMode(display=False) as counter:
        _train_step(model, optimizer, data, train_cfg, LossWeights(), _autocast_factory(device, False),
                    torch.contiguous_format)
    return counter.get_total_flops()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="preview")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=None, help="override the preset's batch size")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    preset = config["presets"][args.preset]
    net_cfg = SwapperConfig.from_dict({**preset["swapper"], "crop_size": preset["crop_size"]})
    train = {**preset["train"], "iterations": args.steps, "checkpoint_every": 10**9, "log_every": 10**9,
             "device": args.device}
    if args.batch:
        train["batch_size"] = args.batch
    train_cfg = TrainConfig.from_dict(train)
    device = resolve_device(args.device)

    a, am = _crops(256, net_cfg.crop_size, 1)
    d, dm = _crops(256, net_cfg.crop_size, 2)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = fit_swapper(a, am, d, dm, net_cfg, train_cfg, LossWeights(), Path(tmp) / "m.pt",
                              Path(tmp) / "r.pt", Path(tmp) / "l.csv")
        wall = time.perf_counter() - t0
    if device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (CUDA)"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (RSS)"
    per_sample = step_flops(net_cfg, TrainConfig.from_dict({**train, "batch_size": 4}), device) / 4
    flops = per_sample * train_cfg.batch_size
    rate = summary["it_per_s"]
    params = parameter_counts(IdentitySwapper(net_cfg))["total"]
    print(f"{args.preset}: crop {net_cfg.crop_size}, batch {train_cfg.batch_size} per decoder, {params:,} "
          f"parameters, {args.steps} steps in {wall:.1f} s on {device} ({torch.get_num_threads()} threads)")
    print("| preset | device | steps/s | images/s | peak memory | GFLOP/step | TFLOP/s |")
    print("|---|---|---:|---:|---|---:|---:|")
    print(f"| {args.preset} | {device} | {rate:.2f} | {2 * train_cfg.batch_size * rate:.1f} | {peak} | "
          f"{flops / 1e9:.1f} | {flops * rate / 1e12:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
