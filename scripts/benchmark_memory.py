#!/usr/bin/env python3
"""Peak memory of every stage on 4K footage, at two shot lengths: is it bounded?

    python scripts/benchmark_memory.py OUT_DIR [--frames 30 90] [--clip actor_woman_bluewall.mp4] [--results dubbed.mp4]

Scales a shared clip (../shared/media) to 3840x2160 and cuts it to each length, runs the
workflow on one shot per length (preview preset, short training) with Snakemake's
`benchmark:` files, and prints per stage the peak RSS of both runs and the raw size of the
shot's frames. Frames travel between stages as memory-mapped files and are streamed, so a
stage's peak should grow far less than the frames do; a stage whose peak grows like the
frames holds the shot in memory.

Snakemake's max_rss counts the pages of memory-mapped frames files a stage has read, which
the kernel drops under pressure (and a cgroup limit reclaims rather than kills for); the
anonymous memory the process holds (RssAnon, sampled every 0.2 s here) is what has to fit.
Both are printed.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import psutil  # a dependency of Snakemake
import yaml

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
WIDTH, HEIGHT = 3840, 2160


def make_clip(src: Path, dst: Path, n_frames: int) -> None:
    """``src`` scaled (and padded) to 3840x2160, its first ``n_frames`` frames, with its audio."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", str(n_frames), "-vf",
                    f"scale={HEIGHT}:{HEIGHT},pad={WIDTH}:{HEIGHT}:(ow-iw)/2:0", "-c:v", "libx264", "-crf", "18",
                    "-preset", "veryfast", "-c:a", "aac", "-shortest", str(dst)], check=True)


def sample_anonymous(root: psutil.Process, peaks: dict[tuple[str, str], float], done: threading.Event) -> None:
    """Peak RssAnon (MiB) of every `python -m vdub <stage> --shot <id>` under ``root``, until ``done``."""
    while not done.wait(0.2):
        try:
            children = root.children(recursive=True)
        except psutil.Error:
            continue
        for proc in children:
            try:
                cmd = " ".join(proc.cmdline())
                match = re.search(r"-m vdub (\S+) --shot (\S+)", cmd)
                if not match:
                    continue
                with open(f"/proc/{proc.pid}/status") as fh:
                    anon = next(int(line.split()[1]) for line in fh if line.startswith("RssAnon:")) / 1024
            except (psutil.Error, OSError, StopIteration):
                continue
            key = (match.group(2), match.group(1))
            peaks[key] = max(peaks.get(key, 0.0), anon)


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
    parser.add_argument("--results", nargs="+", default=["dubbed.mp4", "metrics.json"],
                        help="results/<shot>/ files to build (metrics.json adds evaluate, the slowest at 4K)")
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
    targets = [f"results/{s['id']}/{name}" for s in shots for name in args.results]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.Popen([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(args.out),
                            "--configfile", str(args.out / "config.yaml"), "--cores", "2", *targets], env=env)
    anonymous: dict[tuple[str, str], float] = {}
    done = threading.Event()
    sampler = threading.Thread(target=sample_anonymous, args=(psutil.Process(run.pid), anonymous, done))
    sampler.start()
    code = run.wait()
    done.set()
    sampler.join()
    if code:
        return code

    ids = [s["id"] for s in shots]
    frames_mib = {n: n * WIDTH * HEIGHT * 3 / 2**20 for n in args.frames}
    print(f"| stage | max_rss {ids[0]} | max_rss {ids[1]} | RssAnon peak {ids[0]} | RssAnon peak {ids[1]} | "
          "RssAnon growth |")
    print("|---|---|---|---|---|---|")
    stages = sorted(p.stem for p in (args.out / "benchmarks" / ids[0]).glob("*.tsv"))
    for stage in stages:
        a, b = (peak_rss(args.out / "benchmarks" / i / f"{stage}.tsv") for i in ids)
        command = "face-geometry" if stage.startswith("face_geometry") else stage.replace("_", "-")
        anon = [anonymous.get((i, command)) for i in ids]
        cells = " | ".join("-" if x is None else f"{x:.0f}" for x in anon)
        growth = "-" if None in anon or stage.startswith("face_geometry") else f"{anon[1] - anon[0]:+.0f}"
        print(f"| {stage} | {a:.0f} | {b:.0f} | {cells} | {growth} |")
    print(f"| (raw frames of the shot) | {frames_mib[args.frames[0]]:.0f} | {frames_mib[args.frames[1]]:.0f} | | | "
          f"{frames_mib[args.frames[1]] - frames_mib[args.frames[0]]:+.0f} |")
    print("MiB. RssAnon of face_geometry is the largest of its three runs (actor, dubber, virtual dubber).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
