"""Contact sheet of the virtual dubber: dubber | virtual dubber | actor reference, a few frames.

A report artifact for a person to look at: whether the virtual dubber's mouth does what
the dubber's does, and whether the face around it is still the actor's.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .io import atomic_path


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    """Resize to ``height`` rows, keeping the aspect ratio. H x W x 3 -> height x W' x 3."""
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 16), (0, 0, 0), thickness=-1)
    cv2.putText(out, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def pick_frames(mouth_opening: np.ndarray, count: int) -> np.ndarray:
    """Frame indices worth showing: spread over the shot, plus the widest-open mouth.

    mouth_opening: T (NaN where the dubber has no face). Returns up to ``count`` sorted indices.
    """
    t_count = len(mouth_opening)
    picks = set(np.linspace(0, t_count - 1, max(count - 1, 1)).round().astype(int).tolist())
    if np.isfinite(mouth_opening).any():
        picks.add(int(np.nanargmax(mouth_opening)))
    return np.array(sorted(picks))[:count]


def contact_sheet(dubber: np.ndarray, virtual: np.ndarray, reference: np.ndarray, indices: np.ndarray,
                  out_png: str | Path, tile_height: int = 160) -> None:
    """Write a PNG with one row per index: dubber frame | virtual-dubber frame | actor reference.

    dubber: T x Hd x Wd x 3 and virtual: T x H x W x 3 uint8 RGB (frame ``t`` of both is the
    same instant of the shot); reference: H x W x 3. Written atomically.
    """
    ref_tile = _label(_fit(reference, tile_height), "actor reference")
    rows = []
    for t in indices:
        tiles = [_label(_fit(np.asarray(dubber[t]), tile_height), f"dubber  t={t}"),
                 _label(_fit(np.asarray(virtual[t]), tile_height), f"virtual dubber  t={t}"), ref_tile]
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    with atomic_path(out_png) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{out_png}: could not write the PNG")
