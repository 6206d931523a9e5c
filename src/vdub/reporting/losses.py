"""Training loss logs (CSV) read and plotted for the report."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vdub.training.early_stop import HOLDOUT_COLUMN


def read_losses(path: str | Path) -> dict[str, np.ndarray]:
    """A training loss CSV as columns: ``{name: N floats}`` (step, the losses, seconds)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {name: np.array([_float(r.get(name)) for r in rows]) for name in rows[0]}


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else float("nan")
    except ValueError:
        return float("nan")


def loss_plot(curves: Sequence[tuple[str, Mapping[str, np.ndarray], int | None]]) -> bytes | None:
    """PNG bytes of one panel per loss CSV (every loss column against the step), or None if none has rows.

    curves: ``(title, columns, ceiling)`` triples, columns as returned by :func:`read_losses`,
    ceiling the run's most steps (None: unknown). The y axis is logarithmic when every loss is
    positive (training losses fall over decades); long noisy curves get a running mean drawn
    over them. A run scored on held-out frames (the ``holdout_psnr`` column) has that curve on
    a right-hand axis, and a run that its score ended before its ceiling a line where it stopped.
    """
    curves = [c for c in curves if c[1] and len(c[1].get("step", ())) > 0]
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5.0 * len(curves), 3.4), squeeze=False)
    for ax, (title, cols, ceiling) in zip(axes[0], curves):
        step = cols["step"]
        losses = {k: v for k, v in cols.items() if k not in ("step", "seconds", HOLDOUT_COLUMN)}
        window = max(1, len(step) // 30)
        for i, (name, values) in enumerate(losses.items()):
            colour = f"C{i}"
            if window > 1:
                ax.plot(step, values, lw=0.6, alpha=0.35, color=colour)
                smooth = np.convolve(np.nan_to_num(values), np.ones(window) / window, mode="valid")
                ax.plot(step[window - 1:], smooth, lw=1.4, color=colour, label=name)
            else:
                ax.plot(step, values, lw=1.2, color=colour, label=name)
        finite = np.concatenate([v[np.isfinite(v)] for v in losses.values()]) if losses else np.array([])
        if len(finite) and (finite > 0).all():
            ax.set_yscale("log")
        seconds = cols.get("seconds")
        minutes = f", {np.nanmax(seconds) / 60:.1f} min" if seconds is not None and np.isfinite(seconds).any() else ""
        steps = int(step[-1])
        of = f" of {ceiling}" if ceiling else ""
        held = cols.get(HOLDOUT_COLUMN)
        stopped = ""
        if held is not None and np.isfinite(held).any():
            scored = np.isfinite(held)
            right = ax.twinx()
            right.plot(step[scored], held[scored], "o-", ms=3, lw=1.0, color="k", label="held-out PSNR (dB)")
            right.tick_params(labelsize=7)
            right.legend(fontsize=7, loc="lower right")
            if ceiling and steps < ceiling:
                ax.axvline(steps, color="k", ls="--", lw=0.8)
                stopped = ", stopped by its held-out score"
        # Two lines: one would run past a 5-inch panel's edge.
        ax.set_title(f"{title}\n{steps}{of} steps{minutes}{stopped}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if losses:
            ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
