"""Contact sheet of the virtual dubber: dubber | virtual dubber | actor reference, a few frames.

A report artifact for a person to look at: whether the virtual dubber's mouth does what
the dubber's does, and whether the face around it is still the actor's.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .io import atomic_path


def face_box(points: np.ndarray | None, shape: tuple[int, int], margin: float = 1.8) -> tuple[int, int, int, int]:
    """Square ``(x0, y0, x1, y1)`` around a face mesh (478 x 2+), ``margin`` times its extent,
    clipped to the image; the whole image when there is no face (``None`` or NaN)."""
    h, w = shape
    if points is None or not np.isfinite(points[:, :2]).all():
        return 0, 0, w, h
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    centre, half = (lo + hi) / 2, margin * float((hi - lo).max()) / 2
    x0, y0 = np.maximum(np.floor(centre - half).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(centre + half).astype(int), [w, h])
    return int(x0), int(y0), int(x1), int(y1)


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
                  out_png: str | Path, dubber_points: np.ndarray | None = None,
                  reference_points: np.ndarray | None = None, tile_height: int = 200) -> None:
    """Write a PNG with one row per index: dubber frame | virtual-dubber frame | actor reference.

    dubber: T x Hd x Wd x 3 and virtual: T x H x W x 3 uint8 RGB (frame ``t`` of both is the
    same instant of the shot); reference: H x W x 3. With meshes (dubber_points T x 478 x 3,
    reference_points 478 x 3) the tiles are cut around the faces, so the mouths are large
    enough to compare; the virtual dubber is cut like the reference (its head does not
    move). Written atomically.
    """
    ref_box = face_box(reference_points, reference.shape[:2])
    cut = lambda image, box: np.asarray(image)[box[1]:box[3], box[0]:box[2]]  # noqa: E731
    ref_tile = _label(_fit(cut(reference, ref_box), tile_height), "actor reference")
    rows = []
    for t in indices:
        d_box = face_box(None if dubber_points is None else dubber_points[t], dubber.shape[1:3])
        tiles = [_label(_fit(cut(dubber[t], d_box), tile_height), f"dubber  t={t}"),
                 _label(_fit(cut(virtual[t], ref_box), tile_height), f"virtual dubber  t={t}"), ref_tile]
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    with atomic_path(out_png) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{out_png}: could not write the PNG")
