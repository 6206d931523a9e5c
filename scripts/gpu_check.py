#!/usr/bin/env python3
"""The GPU check: what only a GPU can show, measured in one run, written to one JSON.

    python scripts/gpu_check.py --out gpu_check.json [--actor A.mp4 --dubber D.mp4] [--frames N]
    python scripts/gpu_check.py --smoke --out smoke.json      # the same steps, tiny, on the CPU (CI)

Steps, each timed and recorded (a step that cannot run records why, and the rest go on):

1. ``paper_training``: the paper preset's swapper (Xception, 176 px, batch 64) trained for
   a few dozen steps on random crops with bf16 autocast: steps/s and images/s after warm-up,
   peak GPU memory.
2. ``studio_training``: the same for the studio preset (corrective network, 128 px, self-pairs).
3. ``gpen_inference``: GPEN-BFR-512 (the paper preset's upscaler; random weights, which do
   not change its speed) from 176 px crops: ms per frame in fp32 and under bf16 autocast.
4. ``end_to_end``: the workflow itself (`snakemake` on this checkout's Snakefile) on one pair
   of clips at the studio preset (``--frames`` actor frames; iterations scaled down by
   ``--train-fraction``): wall time per stage from Snakemake's benchmark files, the shot's
   metric table and its held-out self-reenactment score.

``--smoke`` shrinks every size and count so that the whole script runs on 2 CPU cores in
about a minute (the embedded demo's synthetic clips for step 4, preview preset): CI runs it
so that the day a GPU is lent, the script works the first time. The device machine receives
only the checkout: copy the clips into an ignored folder of the checkout and pass them
(docs/operations.md, "GPU check").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # the checkout's package, also where it is not pip-installed

from vdub.training.device import resolve_device  # noqa: E402 - after the path above

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _peak_memory_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def training_throughput(preset: str, steps: int, warmup: int, smoke: bool, tmp: Path) -> dict[str, Any]:
    """Steps/s of the real training loop at a preset's network and batch (random crops)."""
    from vdub.reenactment.config import LossWeights, SwapperConfig, TrainConfig
    from vdub.reenactment.swapper.train import fit_swapper

    numbers = CONFIG["presets"][preset]
    size = 32 if smoke else int(numbers["crop_size"])
    swapper = dict(numbers["swapper"])
    if smoke:  # a network of the preset's kind at toy widths
        swapper.update(width_mult=0.125, middle_blocks=1, latent_dim=32, gblock_channels=32,
                       decoder_channels=[32, 16])
    net = SwapperConfig.from_dict({**swapper, "crop_size": size})
    # Throughput only: no held-out frames to score, so the preset's early stop (``stop``) is left out.
    preset_train = {k: v for k, v in numbers["train"].items() if k != "stop"}
    train = {**preset_train, "iterations": steps, "checkpoint_every": 10**9, "log_every": 10**9,
             "device": str(resolve_device("auto"))}
    if smoke:
        train["batch_size"] = 2
    cfg = TrainConfig.from_dict(train)
    losses = LossWeights.from_dict({**CONFIG["losses"], **numbers.get("losses", {})})
    rng = np.random.default_rng(0)
    n = max(2 * cfg.batch_size, 8)
    crops = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    masks = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    pairs = (crops[::-1].copy(), crops, masks) if cfg.self_pair_share > 0 else None
    times: list[float] = []

    def on_step(step: int, _losses: dict) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter())

    device = resolve_device("auto")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    summary = fit_swapper(crops, masks, crops, masks, net, cfg, losses, tmp / f"{preset}.pt",
                          tmp / f"{preset}.resume", tmp / f"{preset}.csv", self_pairs=pairs, on_step=on_step)
    timed = np.diff(times[warmup:])
    per_s = float(1.0 / timed.mean()) if len(timed) else None
    return {"crop_size": size, "batch_size": cfg.batch_size, "amp_bf16": cfg.amp and device.type == "cuda",
            "steps": steps, "timed_steps": len(timed), "steps_per_s": per_s,
            "images_per_s": None if per_s is None else per_s * 2 * cfg.batch_size,
            "parameters": int(summary["parameters"]["total"]), "peak_memory_mb": _peak_memory_mb(device),
            "hours_for_preset_iterations": None if not per_s else numbers["train"]["iterations"] / per_s / 3600}


def gpen_inference(frames: int, smoke: bool) -> dict[str, Any]:
    """ms per frame of the paper preset's upscaler (GPEN-BFR-512 architecture) in fp32 and bf16."""
    from vdub.super_resolution.config import SRConfig
    from vdub.super_resolution.networks import build_sr_model

    paper = CONFIG["presets"]["paper"]
    cfg = SRConfig.from_dict({"backend": "gpen", "in_size": 32 if smoke else int(paper["crop_size"]),
                              "out_size": 64 if smoke else int(paper["sr"]["out_size"]),
                              **({"gpen_narrow": 0.125, "gpen_style_dim": 32, "gpen_n_mlp": 2} if smoke else {})})
    device = resolve_device("auto")
    model = build_sr_model(cfg, pretrained=False).to(device).eval()
    x = torch.rand(frames, 3, cfg.in_size, cfg.in_size, device=device)
    out: dict[str, Any] = {"in_size": cfg.in_size, "out_size": cfg.out_size, "frames": frames,
                           "weights": "random (the released GPEN-BFR-512.pth is not available here; speed is the same)"}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        if dtype is not None and device.type != "cuda":
            out[f"ms_per_frame_{name}"] = None
            continue
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            model(x[:1])  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for i in range(frames):
                model(x[i:i + 1])
            if device.type == "cuda":
                torch.cuda.synchronize()
        out[f"ms_per_frame_{name}"] = 1000 * (time.perf_counter() - start) / frames
    return out


def end_to_end(actor: Path | None, dubber: Path | None, frames: int, train_fraction: float, smoke: bool,
               project: Path) -> dict[str, Any]:
    """The workflow on one pair: Snakemake on this checkout, per-stage wall time, the shot's metrics."""
    preset = "preview" if smoke else "studio"
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["preset"] = preset
    config["ingest"]["max_frames"] = frames
    numbers = config["presets"][preset]
    scale = lambda n: max(2, int(round(n * train_fraction)))  # noqa: E731
    numbers["train"]["iterations"] = scale(numbers["train"]["iterations"])
    numbers["sr"]["iterations"] = scale(numbers["sr"]["iterations"])
    project.mkdir(parents=True, exist_ok=True)
    if actor is None:  # the embedded demo's synthetic clips, made by the workflow itself
        shot = {"id": "check", "actor": "astronaut", "actor_video": "resources/demo/actor.mp4",
                "dubber_video": "resources/demo/dubber.mp4"}
    else:
        shot = {"id": "check", "actor": "actor", "actor_video": str(actor.resolve()),
                "dubber_video": str(dubber.resolve())}
    (project / "samples.yaml").write_text(yaml.safe_dump({"shots": [shot]}))
    config["samples"] = str(project / "samples.yaml")
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(project), "--configfile",
           str(project / "config.yaml"), "--cores", str(os.cpu_count() or 2), "results/check/dubbed.mp4",
           "results/check/metrics.json"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    result: dict[str, Any] = {"preset": preset, "frames": frames, "train_fraction": train_fraction,
                              "wall_s": time.perf_counter() - start, "returncode": proc.returncode}
    if proc.returncode != 0:
        result["error"] = (proc.stdout[-2000:] + proc.stderr[-4000:]).strip()
        return result
    result["stage_seconds"] = {
        p.stem: float(p.read_text().splitlines()[-1].split("\t")[0]) for p in sorted((project / "benchmarks" /
                                                                                      "check").glob("*.tsv"))}
    metrics = json.loads((project / "results" / "check" / "metrics.json").read_text())
    result["table"] = metrics["table"]
    result["self_reenactment"] = metrics.get("self_reenactment")
    return result


def _step(name: str, results: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> None:
    start = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as err:  # one failed measurement must not lose the others
        results[name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-3000:]}
    results[name]["seconds"] = time.perf_counter() - start
    print(f"gpu_check: {name}: {json.dumps(results[name], default=str)[:400]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON to write")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (CI)")
    parser.add_argument("--actor", type=Path, default=None, help="actor clip for the end-to-end render")
    parser.add_argument("--dubber", type=Path, default=None, help="dubber clip for the end-to-end render")
    parser.add_argument("--frames", type=int, default=None, help="actor frames rendered (default 150; smoke 6)")
    parser.add_argument("--train-fraction", type=float, default=None,
                        help="share of the preset's training iterations in the render (default 0.1; smoke 0.01)")
    parser.add_argument("--steps", type=int, default=None, help="training steps timed per preset (default 40)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["paper_training", "studio_training",
                                                                   "gpen_inference", "end_to_end"])
    a = parser.parse_args(argv)
    if (a.actor is None) != (a.dubber is None):
        parser.error("--actor and --dubber go together")
    smoke = a.smoke
    steps = a.steps or (4 if smoke else 40)
    results: dict[str, Any] = {
        "smoke": smoke, "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor()
        or "cpu", "torch": torch.__version__, "cuda": torch.version.cuda, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp_name:
        tmp = Path(tmp_name)
        todo = {
            "paper_training": lambda: training_throughput("paper", steps, 2 if smoke else 10, smoke, tmp),
            "studio_training": lambda: training_throughput("studio", steps, 2 if smoke else 10, smoke, tmp),
            "gpen_inference": lambda: gpen_inference(3 if smoke else 32, smoke),
            "end_to_end": lambda: end_to_end(a.actor, a.dubber, a.frames or (6 if smoke else 150),
                                             a.train_fraction or (0.01 if smoke else 0.1), smoke, tmp / "project"),
        }
        for name, fn in todo.items():
            if name not in a.skip:
                _step(name, results, fn)
        shutil.rmtree(tmp / "project", ignore_errors=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"gpu_check: wrote {a.out}")
    return 0 if all("error" not in results[k] for k in results if isinstance(results[k], dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
