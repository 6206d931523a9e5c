"""Compare two shots' metrics.json (e.g. one project run with two versions of the code).

    python scripts/compare_metrics.py OLD/results/<shot>/metrics.json NEW/results/<shot>/metrics.json [--tolerance 1e-9]

Walks both documents and reports every number that differs by more than ``--tolerance`` (absolute), every
value of another kind or another string, and every key or list item only one side has. Keys that are wall
time (``seconds``, ``*_seconds``, ``*_s``) are left out: they measure the machine, not the result. Exit 0
when the two agree, 1 otherwise; the last line says how many values were compared and the largest
difference seen.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def _is_time(key: str) -> bool:
    return key == "seconds" or key.endswith(("_seconds", "_s"))


def differences(old: Any, new: Any, tolerance: float, path: str = "") -> tuple[list[str], int, float]:
    """``(lines naming each difference, numbers compared, largest absolute difference)`` of two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines, count, largest = [], 0, 0.0
        for key in sorted(set(old) | set(new)):
            if _is_time(key):
                continue
            if key not in old or key not in new:
                lines.append(f"{path}/{key}: only in {'new' if key in new else 'old'}")
                continue
            sub = differences(old[key], new[key], tolerance, f"{path}/{key}")
            lines += sub[0]
            count, largest = count + sub[1], max(largest, sub[2])
        return lines, count, largest
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{path}: {len(old)} items against {len(new)}"], 0, 0.0
        lines, count, largest = [], 0, 0.0
        for i, (a, b) in enumerate(zip(old, new)):
            sub = differences(a, b, tolerance, f"{path}[{i}]")
            lines += sub[0]
            count, largest = count + sub[1], max(largest, sub[2])
        return lines, count, largest
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool):
        if math.isnan(old) and math.isnan(new):
            return [], 1, 0.0
        gap = abs(float(old) - float(new))
        return ([f"{path}: {old!r} -> {new!r} ({gap:.3g})"] if not gap <= tolerance else []), 1, gap
    return ([] if old == new else [f"{path}: {old!r} -> {new!r}"]), 0, 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-9, help="largest absolute difference allowed")
    a = parser.parse_args(argv)
    lines, count, largest = differences(json.loads(a.old.read_text()), json.loads(a.new.read_text()), a.tolerance)
    for line in lines:
        print(line)
    print(f"{count} numbers compared, largest difference {largest:.3g}, {len(lines)} beyond {a.tolerance:g}")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
