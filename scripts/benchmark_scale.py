"""Start-up at a film's scale (issue 26): `snakemake -n` and `vdub status` on sample sheets of many shots.

    .venv/bin/python scripts/benchmark_scale.py --shots 100 500 1500 --out /tmp/scale.json

For each size, a project of that many shots is written: four actors, each shot its own camera file and its
own dubber take, as a film has (hard links to the shared clips: each a file of its own to probe, no copy).
Timed: `snakemake -n` twice (the first start probes every file, the next ones may not), `snakemake -n` under
the Slurm profile (what an operator starts; it also counts the cluster jobs the DAG becomes) and
`vdub status`. A benchmark, not a test: its figures go into the issue notes and docs/operations.md.

The code before a change is measured from a checkout of it, its own src first on the path:
    git worktree add /tmp/before <rev>; PYTHONPATH=/tmp/before/src .venv/bin/python scripts/benchmark_scale.py \
        --repo /tmp/before --out /tmp/before.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]  # the checkout whose Snakefile is measured (--repo)
MEDIA = REPO.parent / "shared" / "media"

#: (actor id, actor clip): each shot is one of them, whole.
ACTORS = [("glasses", "actor_glasses_man.mp4"), ("studio", "actor_woman_studio.mp4"),
          ("bluewall", "actor_woman_bluewall.mp4"), ("girl", "actor_girl_turns.mp4")]
DUBBERS = ["dubber_man_office.mp4", "dubber_woman_plain.mp4"]


def write_project(folder: Path, n_shots: int, repo: Path = REPO, media: Path = MEDIA) -> Path:
    """A project folder with ``n_shots`` shots (samples.yaml, config.yaml, footage/ of hard links): returns its
    config file."""
    footage = folder / "footage"
    footage.mkdir(parents=True, exist_ok=True)
    shots = []
    for k in range(n_shots):
        shot_id = f"sc{k // 10:03d}_sh{k % 10:02d}"
        actor, clip = ACTORS[k % len(ACTORS)]
        camera, take = footage / f"{shot_id}_camera.mp4", footage / f"{shot_id}_take.mp4"
        camera.hardlink_to(media / clip)
        take.hardlink_to(media / DUBBERS[k % len(DUBBERS)])
        shots.append({"id": shot_id, "actor": actor, "actor_video": str(camera), "dubber_video": str(take)})
    (folder / "samples.yaml").write_text(yaml.safe_dump({"shots": shots}, sort_keys=False))
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config["samples"] = str(folder / "samples.yaml")
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder / "config.yaml"


def _timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return seconds, done.stdout + done.stderr


def job_count(text: str) -> int:
    """The ``total`` row of Snakemake's job stats table."""
    found = re.findall(r"^total\s+(\d+)", text, re.MULTILINE)
    if not found:
        raise ValueError("no job stats in Snakemake's output")
    return int(found[-1])


def cluster_jobs(text: str) -> int:
    """How many Slurm jobs a dry run under the profile would submit: one per group job (``Group job <id>``,
    its rules listed indented under it) and one per job of an ungrouped rule (a ``rule`` line at the left
    margin), less the local ones (``localrule``) and ``all``, which runs nothing."""
    groups = len(re.findall(r"Group job \S+ \(jobs", text))
    ungrouped = len(re.findall(r"^rule (?!all:)\S+:$", text, re.MULTILINE))
    return groups + ungrouped


def measure(n_shots: int, scratch: Path, repo: Path = REPO) -> dict:
    """Seconds of each start and the jobs they plan, for a project of ``n_shots`` shots: the first start
    (every file probed) and the next ones."""
    folder = scratch / f"shots_{n_shots}"
    if folder.exists():
        shutil.rmtree(folder)
    config = write_project(folder, n_shots, repo)
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--configfile", str(config)]
    first_s, _ = _timed([*snakemake, "-n", "--quiet", "rules"], folder)
    dry_s, out = _timed([*snakemake, "-n", "--quiet", "rules"], folder)
    slurm_s, slurm_out = _timed([*snakemake, "-n", "--profile", str(repo / "profiles" / "slurm")], folder)
    status_s, _ = _timed([sys.executable, "-m", "vdub", "status", "--", "-s", str(repo / "Snakefile"),
                          "--configfile", str(config)], folder)
    return {"shots": n_shots, "jobs": job_count(out), "cluster_jobs": cluster_jobs(slurm_out),
            "first_dry_run_s": round(first_s, 1), "dry_run_s": round(dry_s, 1), "dry_run_slurm_s": round(slurm_s, 1),
            "status_s": round(status_s, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[100, 500, 1500], help="sheet sizes to measure")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/vdub_scale"), help="where the projects go")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose Snakefile and config are run")
    args = parser.parse_args(argv)
    if not MEDIA.is_dir():
        parser.error(f"{MEDIA}: the shared clips are needed")
    rows = []
    for n in args.shots:
        rows.append(measure(n, args.scratch, args.repo.resolve()))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
