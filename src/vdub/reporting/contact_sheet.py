"""Contact sheets: rows of labelled face tiles, a few frames of a shot, for a person to look at.

* :func:`contact_sheet` (virtual dubber): dubber | virtual dubber | actor reference: whether
  the virtual dubber's mouth does what the dubber's does, and whether the face around it is
  still the actor's.
* :func:`output_sheet` (the result): actor | dubber | virtual dubber | output: what the
  pipeline did to the actor's frame, next to what it was asked to do.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vdub.core.io import atomic_path


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


def fit_height(image: np.ndarray, height: int, even: bool = False) -> np.ndarray:
    """Resize to ``height`` rows, keeping the aspect ratio. H x W x 3 -> height x W' x 3.

    ``even``: round W' to an even number (H.264's 4:2:0 chroma needs even sizes).
    """
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    if even:
        width = max(2, 2 * round(width / 2))
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=cv2.INTER_AREA)


def label_tile(tile: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``tile`` (H x W x 3 uint8) with ``text`` in white on a black bar along its top."""
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 16), (0, 0, 0), thickness=-1)
    cv2.putText(out, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _cut(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    return np.asarray(image)[box[1]:box[3], box[0]:box[2]]


def write_sheet(rows: list[list[np.ndarray]], out_png: str | Path) -> np.ndarray:
    """Write rows of tiles (each h x w_i x 3 uint8 RGB, one height per row) as one PNG, atomically.

    Rows are padded on the right to the widest and separated by a 2-pixel black line.
    Returns the sheet (H x W x 3 RGB).
    """
    lines = [np.concatenate(tiles, axis=1) for tiles in rows]
    width = max(r.shape[1] for r in lines)
    sheet = np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in lines], axis=0)
    # Encoded in memory and written by Python: a full disk raises OSError(ENOSPC) with its
    # errno (cv2.imwrite only returns False).
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{out_png}: could not encode the PNG")
    with atomic_path(out_png) as tmp:
        tmp.write_bytes(png.tobytes())
    return sheet


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
    ref_tile = label_tile(fit_height(_cut(reference, ref_box), tile_height), "actor reference")
    rows = []
    for t in indices:
        d_box = face_box(None if dubber_points is None else dubber_points[t], dubber.shape[1:3])
        rows.append([label_tile(fit_height(_cut(dubber[t], d_box), tile_height), f"dubber  t={t}"),
                     label_tile(fit_height(_cut(virtual[t], ref_box), tile_height), f"virtual dubber  t={t}"),
                     ref_tile])
    write_sheet(rows, out_png)


def output_sheet(actor: np.ndarray, dubber: np.ndarray, virtual: np.ndarray, output: np.ndarray,
                 indices: np.ndarray, out_png: str | Path, actor_points: np.ndarray | None = None,
                 dubber_points: np.ndarray | None = None, virtual_points: np.ndarray | None = None,
                 tile_height: int = 200) -> np.ndarray:
    """Write a PNG with one row per index: actor | dubber | virtual dubber | output, all frame ``t``.

    actor, output: T x H x W x 3; dubber: T x Hd x Wd x 3; virtual: T x Hv x Wv x 3, uint8
    RGB (frame ``t`` of all four is the same instant of the shot). With meshes (T x 478 x 3
    pixels, NaN where there is no face) each tile is cut around its face; the output is cut
    with the actor's box, so the two show the same pixels before and after. Every tile is
    resized to ``tile_height``. Written atomically; returns the sheet (H x W x 3 RGB).
    """
    def box(points: np.ndarray | None, t: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        return face_box(None if points is None else points[t], shape)

    rows = []
    for t in (int(i) for i in indices):
        a_box = box(actor_points, t, actor.shape[1:3])
        rows.append([label_tile(fit_height(_cut(frames[t], cut_box), tile_height), f"{name}  t={t}")
                     for name, frames, cut_box in (
                         ("actor", actor, a_box),
                         ("dubber", dubber, box(dubber_points, t, dubber.shape[1:3])),
                         ("virtual dubber", virtual, box(virtual_points, t, virtual.shape[1:3])),
                         ("output", output, a_box))])
    return write_sheet(rows, out_png)
