#!/usr/bin/env python3
"""Summarise Snakemake benchmark files: wall time and peak memory per shot and stage.

    python scripts/benchmarks.py [BENCHMARKS_DIR]      # default: benchmarks/

Prints a Markdown table (seconds, peak RSS in MiB) with one row per stage and one column
pair per shot, in pipeline order, and the total wall time per shot.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ORDER = ["demo_input", "ingest_actor", "ingest_dubber", "face_geometry_actor", "face_geometry_dubber", "reference",
         "virtual_dubber", "virtual_dubber_sheet", "face_geometry_virtual_dubber", "align", "actor_crops", "masks",
         "self_pairs", "train_swapper", "reenact", "train_sr", "super_resolution", "mux", "evaluate", "output_sheet",
         "side_by_side"]


def read(path: Path) -> tuple[float, float]:
    """(seconds, max_rss MiB) of the last run recorded in a benchmark TSV."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    last = rows[-1]
    rss = last.get("max_rss", "NA")
    return float(last["s"]), float(rss) if rss not in ("NA", "-", "") else float("nan")


def main(root: str = "benchmarks") -> int:
    root_path = Path(root)
    shots = sorted(p for p in root_path.iterdir() if p.is_dir()) if root_path.is_dir() else []
    if not shots:
        print(f"no benchmark files under {root_path}/", file=sys.stderr)
        return 1
    table = {shot.name: {f.stem: read(f) for f in shot.glob("*.tsv")} for shot in shots}
    stages = [s for s in ORDER if any(s in t for t in table.values())]
    stages += sorted({s for t in table.values() for s in t} - set(stages))
    print("| stage | " + " | ".join(f"{s} s | {s} MiB" for s in table) + " |")
    print("|---|" + "---|---|" * len(table))
    for stage in stages:
        cells = [f"{table[s][stage][0]:.1f} | {table[s][stage][1]:.0f}" if stage in table[s] else "- | -"
                 for s in table]
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print("| total | " + " | ".join(f"{sum(v[0] for v in t.values()):.1f} | -" for t in table.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
