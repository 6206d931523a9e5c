#!/usr/bin/env python3
"""Peak memory of every stage on 4K footage, at two shot lengths: is it bounded?

    python scripts/benchmark_memory.py OUT_DIR [--frames 30 90] [--clip actor_woman_bluewall.mp4]

Scales a shared clip (../shared/media) to 3840x2160 and cuts it to each length, runs the
workflow on one shot per length (preview preset, short training) with Snakemake's
`benchmark:` files, and prints per stage the peak RSS of both runs and the raw size of the
shot's frames. Frames travel between stages as memory-mapped files and are streamed, so a
stage's peak should grow far less than the frames do; a stage whose peak grows like the
frames holds the shot in memory.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
WIDTH, HEIGHT = 3840, 2160


def make_clip(src: Path, dst: Path, n_frames: int) -> None:
    """``src`` scaled (and padded) to 3840x2160, its first ``n_frames`` frames, with its audio."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", str(n_frames), "-vf",
                    f"scale={HEIGHT}:{HEIGHT},pad={WIDTH}:{HEIGHT}:(ow-iw)/2:0", "-c:v", "libx264", "-crf", "18",
                    "-preset", "veryfast", "-c:a", "aac", "-shortest", str(dst)], check=True)


def peak_rss(path: Path) -> float:
    """max_rss (MiB) of the last run in a Snakemake benchmark TSV."""
    with path.open() as fh:
        return float(list(csv.DictReader(fh, delimiter="\t"))[-1]["max_rss"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="project folder to create")
    parser.add_argument("--frames", type=int, nargs=2, default=[30, 90], metavar=("SHORT", "LONG"))
    parser.add_argument("--clip", default="actor_woman_bluewall.mp4", help="actor clip in ../shared/media")
    parser.add_argument("--dubber", default="dubber_man_office.mp4")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    shots = []
    for n in args.frames:
        clip = args.out / f"uhd_{n}.mp4"
        if not clip.is_file():
            make_clip(MEDIA / args.clip, clip, n)
        shots.append({"id": f"uhd_{n}", "actor": "uhd", "actor_video": str(clip),
                      "dubber_video": str(MEDIA / args.dubber)})
    (args.out / "samples.yaml").write_text(yaml.safe_dump({"shots": shots}))
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = str(args.out / "samples.yaml")
    preview = config["presets"]["preview"]
    preview["train"]["iterations"] = 100
    preview["sr"]["iterations"] = 50
    (args.out / "config.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/{s['id']}/{name}" for s in shots for name in ("dubbed.mp4", "metrics.json")]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(args.out),
                    "--configfile", str(args.out / "config.yaml"), "--cores", "2", *targets], check=True, env=env)

    ids = [s["id"] for s in shots]
    frames_mib = {n: n * WIDTH * HEIGHT * 3 / 2**20 for n in args.frames}
    print(f"| stage | peak RSS {ids[0]} (MiB) | peak RSS {ids[1]} (MiB) | growth (MiB) |")
    print("|---|---|---|---|")
    stages = sorted(p.stem for p in (args.out / "benchmarks" / ids[0]).glob("*.tsv"))
    for stage in stages:
        a, b = (peak_rss(args.out / "benchmarks" / i / f"{stage}.tsv") for i in ids)
        print(f"| {stage} | {a:.0f} | {b:.0f} | {b - a:+.0f} |")
    print(f"| (raw frames of the shot) | {frames_mib[args.frames[0]]:.0f} | {frames_mib[args.frames[1]]:.0f} | "
          f"{frames_mib[args.frames[1]] - frames_mib[args.frames[0]]:+.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
