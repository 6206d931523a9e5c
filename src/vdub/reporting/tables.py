"""The metric tables of the report: which variants and metrics, in which order, read from a shot's
metrics.json (also the flat layout of older runs), pooled over the project, and formatted."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Variants of the metric table, in row order: what each stage adds (see :mod:`vdub.evaluation.shot`).
VARIANTS = {
    "actor": "unedited actor footage (reference)",
    "composite": "aligned virtual dubber pasted on the actor, no swapper",
    "reenact": "swapper head pasted at crop resolution, no super-resolution",
    "output": "the full pipeline (results/<shot>/dubbed.mp4)",
}


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown: column title, unit, which direction is better, decimals, tooltip."""

    title: str
    unit: str
    better: str  # "higher" | "lower" | "" (no preferred direction)
    decimals: int
    description: str


#: Metrics of the table, in column order; a metric not listed here is still shown, after these.
METRICS = {
    "psnr": MetricInfo("PSNR", "dB", "higher", 2, "against the actor frame, whole frame (100 dB: identical)"),
    "ssim": MetricInfo("SSIM", "", "higher", 3, "structural similarity to the actor frame (1: identical)"),
    "lpips": MetricInfo("LPIPS", "", "lower", 3, "perceptual distance of the head crop to the actor's (AlexNet)"),
    "fid": MetricInfo("FID", "", "lower", 1, "Frechet Inception distance of the head crops to the actor's"),
    "lmd": MetricInfo("LMD", "inter-ocular", "lower", 3, "mouth-landmark distance to the dubber's mouth"),
    "mouth_corr": MetricInfo("mouth corr.", "", "higher", 2,
                             "correlation of mouth opening with the dubber's over the shot (-1..1)"),
    "flicker": MetricInfo("flicker", "grey levels", "lower", 2,
                          "motion-compensated frame difference of the still part of the head"),
    "identity": MetricInfo("identity dist.", "", "lower", 3, "face-embedding distance to the actor's face"),
    "head_delta_e": MetricInfo("head ΔE", "Lab", "lower", 2,
                               "colour difference of the head's skin against the actor's in the same frame"),
    "mouth_delta_e": MetricInfo("mouth ΔE", "Lab", "lower", 2,
                                "colour of the open inner mouth (teeth, tongue) against the actor's own open mouths"),
}


#: Variants of the held-out self-reenactment score (metrics.json ``self_reenactment``).
SELF_REENACTMENT_VARIANTS = {
    "composite": "the network's input: the actor's reference driven by the actor's own track, composited",
    "network": "the network's own output, upscaled",
    "repaired": "the network's repair pasted as inference pastes it",
}


#: Where the metrics of an older metrics.json (flat keys, no ``table``) sit: (variant, metric) -> key.
FLAT_KEYS = {
    **{(v, "lmd"): f"lmd_{v}_vs_dubber" for v in ("actor", "composite", "output")},
    **{(v, "mouth_corr"): f"mouth_corr_{v}_vs_dubber" for v in ("actor", "composite", "output")},
    **{(v, "flicker"): f"flicker_{v}" for v in ("actor", "output")},
    ("output", "psnr"): "psnr",
    ("output", "ssim"): "ssim",
    ("output", "head_delta_e"): "head_delta_e",
}


#: Flat metrics.json: the metrics the evaluate stage did not compute at all, and why they show n/a.
FLAT_MISSING_REASON = "not computed: metrics.json predates the metric table (re-run the evaluate rule)"


Table = dict[str, dict[str, float | None]]


def finite_number(value: Any) -> float | None:
    """A finite float, or None for null, NaN, infinities and anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def shot_table(metrics: Mapping[str, Any]) -> tuple[Table, dict[str, str]]:
    """The metric table of one shot's metrics.json: ``({variant: {metric: value or None}}, {metric: reason})``.

    Reads the ``table`` block and its ``unavailable`` reasons when present; an older
    metrics.json with flat keys (``lmd_output_vs_dubber``, ``psnr``, ...) is mapped onto
    the same table (:data:`FLAT_KEYS`), every other cell None.
    """
    if isinstance(metrics.get("table"), Mapping):
        table = {str(v): {str(m): finite_number(x) for m, x in row.items()} for v, row in metrics["table"].items()
                 if isinstance(row, Mapping)}
        unavailable = {str(m): str(r) for m, r in (metrics.get("unavailable") or {}).items()}
        return table, unavailable
    table = {v: {m: None for m in METRICS} for v in VARIANTS}
    for (variant, metric), key in FLAT_KEYS.items():
        table[variant][metric] = finite_number(metrics.get(key))
    unavailable = {m: FLAT_MISSING_REASON for m in METRICS if all(table[v][m] is None for v in table)}
    return table, unavailable


def project_table(tables: Sequence[Table]) -> dict[str, dict[str, tuple[float | None, int]]]:
    """Mean over shots of every cell: ``{variant: {metric: (mean or None, number of shots with a value)}}``.

    A shot where a cell is None (not computable) is left out of that cell's mean, not
    counted as zero; the count says how many shots the mean is over.
    """
    variants = ordered_keys([v for t in tables for v in t], VARIANTS)
    metrics = ordered_keys([m for t in tables for row in t.values() for m in row], METRICS)
    out: dict[str, dict[str, tuple[float | None, int]]] = {}
    for v in variants:
        out[v] = {}
        for m in metrics:
            values = [t[v][m] for t in tables if v in t and t[v].get(m) is not None]
            out[v][m] = (float(np.mean(values)) if values else None, len(values))
    return out


def ordered_keys(keys: Sequence[str], preferred: Mapping[str, Any]) -> list[str]:
    """The distinct ``keys``: those of ``preferred`` first in its order, then the rest as first seen."""
    seen = list(dict.fromkeys(keys))
    return [k for k in preferred if k in seen] + [k for k in seen if k not in preferred]


def format_value(metric: str, value: float | None) -> str:
    """A metric value as the report prints it ("n/a" for None)."""
    if value is None:
        return "n/a"
    info = METRICS.get(metric)
    return f"{value:.{info.decimals if info else 3}f}"
