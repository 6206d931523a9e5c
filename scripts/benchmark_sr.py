#!/usr/bin/env python3
"""Cost of the identity-specific SR stage per backend: parameters, inference and training speed, peak memory.

    python scripts/benchmark_sr.py [--configs NAME ...] [--steps N] [--batch B] [--repeats R] [--device D]
                                   [--threads T] [--json FILE]

Configurations (``--configs``, default all):

* ``residual-preview``: the preview preset's residual network, 64 -> 128 px, 16 channels, 4 blocks.
* ``gpen-preview``: GPEN at 64 -> 128 px with GPEN-BFR-256's widths (narrow 0.5, channel multiplier 1). No
  GPEN is released at 128 px: this is the size a preview run of the gpen backend would train from scratch.
* ``residual-paper``: the paper preset's residual network, 176 -> 512 px, 64 channels, 16 blocks.
* ``gpen-paper``: GPEN-BFR-512 (narrow 1, channel multiplier 2, style 512, 8 MLP layers), 176 -> 512 px: the
  paper's network (weights random here; fine-tuning costs the same per step).

For each: parameters; forward GFLOP per crop (PyTorch's FLOP counter); inference milliseconds per crop at batch 1
and 4 (``torch.inference_mode``, after a warm-up, median of ``--repeats``); training seconds per step at
``--batch`` (the real :func:`vdub.super_resolution.training.fit_upscaler` loop: one warm-up step, then ``--steps``
timed from its loss log); peak memory. Each configuration runs in its own process, so that the peak RSS is its
own; on CUDA the peak of the allocator is reported too. Prints a Markdown table; ``--json`` also writes the rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vdub.super_resolution.config import SRConfig
from vdub.super_resolution.networks import build_sr_model
from vdub.super_resolution.training import fit_upscaler
from vdub.training.device import resolve_device

CONFIGS: dict[str, dict[str, Any]] = {
    "residual-preview": dict(backend="residual", in_size=64, out_size=128, channels=16, blocks=4),
    "gpen-preview": dict(backend="gpen", in_size=64, out_size=128, gpen_narrow=0.5, gpen_channel_multiplier=1),
    "residual-paper": dict(backend="residual", in_size=176, out_size=512, channels=64, blocks=16),
    "gpen-paper": dict(backend="gpen", in_size=176, out_size=512, gpen_narrow=1.0, gpen_channel_multiplier=2,
                       gpen_style_dim=512, gpen_n_mlp=8),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def inference_ms(model: torch.nn.Module, in_size: int, batch: int, repeats: int, device: torch.device) -> float:
    """Median milliseconds per crop of ``model(x)``, x: batch x 3 x in_size x in_size, after one warm-up call."""
    x = torch.rand(batch, 3, in_size, in_size, device=device)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            model(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times) / batch


def forward_gflop(model: torch.nn.Module, in_size: int, device: torch.device) -> float:
    """GFLOP of one crop's forward pass (convolutions and matrix products, as PyTorch counts them)."""
    x = torch.rand(1, 3, in_size, in_size, device=device)
    # Autograd on: the counter's module tracker asserts on views of parameters (GPEN's constant input) made
    # under no_grad or inference_mode. One crop's graph is small next to training's.
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def train_seconds_per_step(cfg: SRConfig, steps: int) -> float:
    """Seconds per optimiser step of the real training loop at ``cfg.batch_size`` (warm-up step excluded)."""
    rng = np.random.default_rng(0)
    n = max(2 * cfg.batch_size, 8)
    lr = rng.integers(0, 256, (n, cfg.in_size, cfg.in_size, 3), dtype=np.uint8)
    hr = rng.integers(0, 256, (n, cfg.out_size, cfg.out_size, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        fit_upscaler(lr, hr, cfg, Path(tmp) / "m.pt", Path(tmp) / "r.pt", Path(tmp) / "l.csv")
        with (Path(tmp) / "l.csv").open(newline="") as f:
            seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    # "seconds" is the time since training started, logged after each step: step 1 is the warm-up
    return (seconds[-1] - seconds[0]) / steps


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """All numbers of one configuration (run in a fresh process: peak RSS is per configuration)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cfg = SRConfig.from_dict({**CONFIGS[name], "batch_size": args.batch, "iterations": args.steps + 1,
                              "checkpoint_every": 0, "device": str(device)})
    torch.manual_seed(0)
    model = build_sr_model(cfg).to(device).eval()
    row: dict[str, Any] = {
        "config": name,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "in_size": cfg.in_size,
        "out_size": cfg.out_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "gflop_per_crop": forward_gflop(model, cfg.in_size, device),
        "infer_ms_b1": inference_ms(model, cfg.in_size, 1, args.repeats, device),
        "infer_ms_b4": inference_ms(model, cfg.in_size, 4, args.repeats, device),
    }
    del model
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    row["train_batch"] = args.batch
    row["train_steps"] = args.steps
    row["train_s_per_step"] = train_seconds_per_step(cfg, args.steps)
    row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.type == "cuda":
        row["peak_cuda_train_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=2, help="timed training steps (after one warm-up step)")
    parser.add_argument("--batch", type=int, default=4, help="training batch (the paper trains GPEN with 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed inference calls per batch size")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process: measure one config
    args = parser.parse_args()
    if args.steps < 1 or args.batch < 1 or args.repeats < 1:
        parser.error("--steps, --batch and --repeats must be >= 1")

    if args.one:
        print(json.dumps(measure(args.one, args)))
        return 0

    rows = []
    for name in args.configs:
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--batch", str(args.batch),
               "--repeats", str(args.repeats), "--device", args.device, "--threads", str(args.threads)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            # e.g. killed for memory: report it and go on with the other configurations
            print(f"{name}: failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}", file=sys.stderr)
            rows.append({"config": name, "error": f"exit {done.returncode}"})
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{name}: done", file=sys.stderr)

    print("| config | device | threads | in -> out px | parameters | GFLOP/crop | infer ms/crop b1 | "
          "infer ms/crop b4 | train s/step | peak RSS MiB |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['config']} | failed: {r['error']} |")
            continue
        peak = f"{r['peak_rss_mib']:.0f}"
        if "peak_cuda_train_mib" in r:
            peak += f" (CUDA {r['peak_cuda_train_mib']:.0f})"
        print(f"| {r['config']} | {r['device']} | {r['threads']} | {r['in_size']} -> {r['out_size']} | "
              f"{r['parameters']:,} | {r['gflop_per_crop']:.1f} | {r['infer_ms_b1']:.1f} | {r['infer_ms_b4']:.1f} | "
              f"{r['train_s_per_step']:.3f} (batch {r['train_batch']}) | {peak} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
