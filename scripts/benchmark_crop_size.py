#!/usr/bin/env python3
"""Where the preview's CPU budget pays: swapper crop sizes compared at equal training wall time.

    python scripts/benchmark_crop_size.py WORKDIR --actor A.mp4 --dubber D.mp4 [--sizes 64 96 128]
        [--seconds 300] [--frames 300]

For each crop size S the preview preset is run end to end by Snakemake with S x S crops, the
upscaler at 2S, and as many swapper steps as fit in ``--seconds`` of training at that size
(its steps/s measured first on the real training loop). The stages before the crops are run
once and shared (their outputs copied with their times, so Snakemake does not redo them).
Prints a Markdown table: crop size, steps, measured training seconds -> the output's mouth
correlation with the dubber, LMD, identity distance, PSNR, and the held-out self-reenactment
score of the repair (lower-face PSNR) against the composite's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SHOT = "pair"
SHARED = ["ingest", "mesh", "reference.json", "virtual_dubber.npy", "align"]  # crop-size independent


def snakemake(project: Path, *targets: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(project), "--configfile",
           str(project / "config.yaml"), "--cores", "2", *targets]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"snakemake failed in {project}:\n{proc.stderr[-4000:]}")


def write_project(project: Path, actor: Path, dubber: Path, frames: int, size: int, iterations: int) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    project.mkdir(parents=True, exist_ok=True)
    (project / "samples.yaml").write_text(yaml.safe_dump({"shots": [{
        "id": SHOT, "actor": "actor", "actor_video": str(actor.resolve()), "dubber_video": str(dubber.resolve())}]}))
    config["samples"] = str(project / "samples.yaml")
    config["ingest"]["max_frames"] = frames
    preview = config["presets"]["preview"]
    preview["crop_size"] = size
    preview["sr"]["out_size"] = 2 * size
    preview["train"]["iterations"] = iterations
    (project / "config.yaml").write_text(yaml.safe_dump(config))


def steps_per_second(size: int, steps: int = 12) -> float:
    """The preview training loop's steps/s at crop size ``size`` (random crops, 2 threads)."""
    import torch

    from vdub.reenactment.config import LossWeights, SwapperConfig, TrainConfig
    from vdub.reenactment.swapper.train import fit_swapper

    torch.set_num_threads(2)
    preview = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["presets"]["preview"]
    net = SwapperConfig.from_dict({**preview["swapper"], "crop_size": size})
    cfg = TrainConfig.from_dict({**preview["train"], "iterations": steps, "checkpoint_every": 10**6, "device": "cpu"})
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (32, size, size, 3), dtype=np.uint8)
    masks = rng.integers(0, 256, (32, 3, size, size), dtype=np.uint8)
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        fit_swapper(crops, masks, crops, masks, net, cfg, LossWeights(area_normalised=True), t / "m.pt",
                    t / "r", t / "c.csv", self_pairs=(crops, crops, masks),
                    on_step=lambda step, losses: times.append(time.perf_counter()))
    return float(1.0 / np.diff(times[2:]).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--actor", type=Path, required=True)
    parser.add_argument("--dubber", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--seconds", type=float, default=300.0, help="training wall time per size")
    parser.add_argument("--frames", type=int, default=300)
    a = parser.parse_args()
    base = a.workdir / "base"
    write_project(base, a.actor, a.dubber, a.frames, a.sizes[0], 1)
    snakemake(base, *[f"work/{SHOT}/{p}" for p in ("align/composite.npy", "align/mesh.npz")])
    rows = []
    for size in a.sizes:
        rate = steps_per_second(size)
        iterations = max(10, int(rate * a.seconds))
        project = a.workdir / f"s{size}"
        write_project(project, a.actor, a.dubber, a.frames, size, iterations)
        for part in SHARED:
            src, dst = base / "work" / SHOT / part, project / "work" / SHOT / part
            if src.exists() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
        shutil.copytree(base / ".snakemake" / "metadata", project / ".snakemake" / "metadata", dirs_exist_ok=True)
        snakemake(project, f"results/{SHOT}/metrics.json")
        metrics = json.loads((project / "results" / SHOT / "metrics.json").read_text())
        trained = float((project / "benchmarks" / SHOT / "train_swapper.tsv").read_text().splitlines()[-1].split()[0])
        out, held = metrics["table"]["output"], metrics.get("self_reenactment") or {}
        rows.append((size, iterations, trained, out["mouth_corr"], out["lmd"], out["identity"], out["psnr"],
                     (held.get("repaired") or {}).get("psnr"), (held.get("composite") or {}).get("psnr")))
        print(f"crop {size}: {rate:.2f} steps/s -> {iterations} steps", flush=True)
    print("| crop px | steps | train s | mouth corr | LMD | identity | PSNR dB | held-out repaired dB | composite dB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join("n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
                               for v in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
