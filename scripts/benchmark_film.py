"""A film's worth of one actor (issue 26): wall time, per-stage seconds and metric tables of one sheet.

    .venv/bin/python scripts/benchmark_film.py run --project /tmp/film/after --out /tmp/film/after.json
    .venv/bin/python scripts/benchmark_film.py compare /tmp/film/before.json /tmp/film/after.json

`run` writes a project of ``--shots`` shots of one actor, each ``--frames`` frames of one long camera file
(the shared glasses clip played forward then backward, as one take of a long scene), the dubber takes
alternating between the two shared dubbers, runs it to the end with ``--cores`` and records the wall time,
each stage's seconds summed over the shots (Snakemake's benchmark files), each training's steps run
(the loss logs' last step) and every shot's metric table. ``--shots 1 --frames 1008`` is the long shot whose
evaluation share docs/quality.md gives. `compare` prints both runs' stage tables and each metric's largest
difference over the shots, against the tolerance the issue set (0.01 in mouth correlation and identity
distance, 0.3 dB in PSNR).

The code before a change is run from a checkout of it, its own src first on the path:
    git worktree add /tmp/before <rev>; PYTHONPATH=/tmp/before/src .venv/bin/python scripts/benchmark_film.py \
        run --repo /tmp/before --project /tmp/film/before --out /tmp/film/before.json
A benchmark, not a test: its figures go into the issue notes and docs/presets.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
ACTOR_CLIP = "actor_glasses_man.mp4"
DUBBERS = ["dubber_woman_plain.mp4", "dubber_man_office.mp4"]
#: Stages counted as learned (the issue's "learned stages"): the self-pairs and everything a network does.
LEARNED = ("self_pairs", "train_actor", "train_swapper", "reenact", "train_sr", "super_resolution")
#: Metric -> the largest difference between two runs that counts as equal (issue 26).
TOLERANCE = {"mouth_corr": 0.01, "identity": 0.01, "psnr": 0.3}


def _probe(src: Path) -> tuple[float, float, bool]:
    """(frame rate, seconds, has audio) of a clip."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,r_frame_rate:format=duration",
                          "-of", "json", str(src)], check=True, capture_output=True, text=True).stdout
    info = json.loads(out)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    num, den = video["r_frame_rate"].split("/")
    audio = any(s["codec_type"] == "audio" for s in info["streams"])
    return float(num) / float(den), float(info["format"]["duration"]), audio


def long_take(src: Path, dst: Path, seconds: float) -> None:
    """``seconds`` of ``src`` played forward, backward, forward... (its audio likewise), re-encoded
    near-losslessly: one long take from a short clip, its pixel aspect ratio and frame rate kept."""
    fps, _, audio = _probe(src)
    pingpong = dst.with_name(dst.stem + "_pingpong.mp4")
    chain = "[0:v]split[f][b];[b]reverse[r];[f][r]concat=n=2:v=1:a=0[v]"
    if audio:
        chain += ";[0:a]asplit[fa][ba];[ba]areverse[ra];[fa][ra]concat=n=2:v=0:a=1[a]"
    codecs = ["-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    ffmpeg = ["ffmpeg", "-v", "error", "-y"]
    subprocess.run([*ffmpeg, "-i", str(src), "-filter_complex", chain, "-map", "[v]", *(["-map", "[a]"] * audio),
                    *codecs, str(pingpong)], check=True)
    subprocess.run([*ffmpeg, "-stream_loop", "-1", "-i", str(pingpong), "-map", "0", "-frames:v",
                    str(round(seconds * fps)), "-t", f"{seconds:.3f}", *codecs, str(dst)], check=True)
    pingpong.unlink()


def write_project(folder: Path, n_shots: int, frames: int, repo: Path, media: Path = MEDIA) -> Path:
    """The project folder (footage/, samples.yaml, config.yaml: the checkout's own config): its config file."""
    footage = folder / "footage"
    footage.mkdir(parents=True, exist_ok=True)
    fps, _, _ = _probe(media / ACTOR_CLIP)
    camera = footage / "actor_long.mp4"
    long_take(media / ACTOR_CLIP, camera, n_shots * frames / fps)
    takes = []
    for name in DUBBERS[:n_shots]:  # a take as long as a shot at least: the clip itself, or ping-ponged to that length
        take = media / name
        if _probe(take)[1] < frames / fps:
            take = footage / name
            long_take(media / name, take, frames / fps + 0.5)
        takes.append(take)
    shots = [{"id": f"sh{k:02d}", "actor": "glasses", "actor_video": str(camera), "actor_in": k * frames,
              "actor_out": (k + 1) * frames, "dubber_video": str(takes[k % len(takes)])}
             for k in range(n_shots)]
    (folder / "samples.yaml").write_text(yaml.safe_dump({"shots": shots}, sort_keys=False))
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config["samples"] = str(folder / "samples.yaml")
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder / "config.yaml"


def steps_run(losses: Path) -> dict:
    """The last step a loss log records (where training ended) and, where the early stop scored, the step
    of the highest held-out score."""
    with losses.open() as fh:
        rows = list(csv.DictReader(fh))
    scored = [(float(r["holdout_psnr"]), int(float(r["step"]))) for r in rows
              if r.get("holdout_psnr") not in (None, "", "nan")]
    return {"last": int(float(rows[-1]["step"])) if rows else None,
            "peak": max(scored)[1] if scored else None}


def collect(folder: Path) -> dict:
    """Per-stage seconds (summed over shots and actors), steps run and metric tables of a finished project."""
    stages: dict[str, float] = {}
    for tsv in sorted((folder / "benchmarks").rglob("*.tsv")):
        with tsv.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        stage = "conform" if tsv.parent.name == "conform" else tsv.stem  # benchmarks/conform/<reel>.tsv
        stages[stage] = round(stages.get(stage, 0.0) + float(rows[-1]["s"]), 1)
    steps = {str(p.relative_to(folder / "work").parent): steps_run(p)
             for p in sorted((folder / "work").rglob("losses.csv"))}
    metrics = {p.parent.name: json.loads(p.read_text()).get("table", {})
               for p in sorted((folder / "results").glob("*/metrics.json"))}
    return {"stages_s": stages, "steps": steps, "metrics": metrics}


def shares(stages: dict[str, float]) -> dict[str, float]:
    """Seconds of the learned stages, of all dubbing stages (ingest to mux and the matte: not the evaluation,
    the previews made for a person to look at, nor the reel's conform) and of the evaluation."""
    not_dubbing = ("evaluate", "output_sheet", "side_by_side", "virtual_dubber_sheet", "report", "stack", "conform")
    return {"learned_s": round(sum(v for k, v in stages.items() if k in LEARNED), 1),
            "dubbing_s": round(sum(v for k, v in stages.items() if k not in not_dubbing), 1),
            "evaluate_s": stages.get("evaluate", 0.0)}


def run(args: argparse.Namespace) -> int:
    repo = args.repo.resolve()
    if args.project.exists():
        shutil.rmtree(args.project)
    config = write_project(args.project, args.shots, args.frames, repo)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--configfile", str(config),
           "--cores", str(args.cores), *args.snakemake]
    began = time.perf_counter()
    with (args.project / "run.log").open("w") as log:
        done = subprocess.run(cmd, cwd=args.project, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - began
    if done.returncode:
        print(f"snakemake failed ({done.returncode}): see {args.project / 'run.log'}", file=sys.stderr)
        return done.returncode
    result = {"repo": str(repo), "shots": args.shots, "frames": args.frames, "cores": args.cores,
              "wall_s": round(wall, 1), **collect(args.project)}
    stages = result["stages_s"]
    result.update(shares(stages))
    text = json.dumps(result, indent=1)
    (args.out or args.project / "film.json").write_text(text)
    print(json.dumps({k: result[k] for k in ("wall_s", "learned_s", "dubbing_s", "evaluate_s")}))
    return 0


def compare(args: argparse.Namespace) -> int:
    before, after = (json.loads(Path(p).read_text()) for p in (args.before, args.after))
    print(f"wall: {before['wall_s']} s -> {after['wall_s']} s")
    print(f"learned stages: {before['learned_s']} of {before['dubbing_s']} s dubbing -> "
          f"{after['learned_s']} of {after['dubbing_s']} s")
    print("\n| stage | before s | after s |\n|---|---|---|")
    for stage in sorted(set(before["stages_s"]) | set(after["stages_s"]),
                        key=lambda s: -max(before["stages_s"].get(s, 0), after["stages_s"].get(s, 0))):
        print(f"| {stage} | {before['stages_s'].get(stage, '-')} | {after['stages_s'].get(stage, '-')} |")
    print("\n| steps run (peak held-out at) | before | after |\n|---|---|---|")
    for name in sorted(set(before["steps"]) | set(after["steps"])):
        runs = (before["steps"].get(name), after["steps"].get(name))
        cells = [f"{r['last']} ({r['peak']})" if r else "-" for r in runs]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    worst: dict[str, tuple[float, str]] = {}
    for shot, table in after["metrics"].items():
        for variant, row in table.items():
            old_row = before["metrics"].get(shot, {}).get(variant, {})
            for metric, value in row.items():
                old = old_row.get(metric)
                if isinstance(value, (int, float)) and isinstance(old, (int, float)):
                    diff = abs(value - old)
                    if diff > worst.get(metric, (-1.0, ""))[0]:
                        worst[metric] = (diff, f"{shot} {variant}: {old:.4f} -> {value:.4f}")
    print("\n| metric | largest difference | where | tolerance |\n|---|---|---|---|")
    failed = False
    for metric, (diff, where) in sorted(worst.items()):
        limit = TOLERANCE.get(metric)
        failed |= limit is not None and diff > limit
        print(f"| {metric} | {diff:.4f} | {where} | {limit if limit is not None else '-'} |")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="write the project, run it, record its figures")
    go.add_argument("--project", type=Path, required=True, help="the project folder (emptied first)")
    go.add_argument("--out", type=Path, help="the figures as JSON (default: PROJECT/film.json)")
    go.add_argument("--repo", type=Path, default=REPO, help="the checkout whose Snakefile and config are run")
    go.add_argument("--shots", type=int, default=10)
    go.add_argument("--frames", type=int, default=100, help="frames of each shot")
    go.add_argument("--cores", type=int, default=2)
    go.add_argument("snakemake", nargs="*", help="more Snakemake arguments, after --")
    cmp = sub.add_parser("compare", help="stage tables and metric differences of two runs")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run" and not MEDIA.is_dir():
        parser.error(f"{MEDIA}: the shared clips are needed")
    return run(args) if args.command == "run" else compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
