"""Pasting the network's heads back into the actor frames (paper section 2.2, "full head").

Two forms, chosen by one number, ``detail`` in [0, 1]:

* ``detail = 0`` (the paper): the network's head replaces the actor's inside the head mask.
  Everything inside the mask is the network's rendering at its own resolution (upscaled by
  the super-resolution stage), hair and eyes included.
* ``detail = 1`` (corrective): the head is the full-resolution composite (the actor frame
  with the aligned virtual dubber's lower face) plus the network's *change* to its input,
  ``head = composite + up(net(x) - x)``. Low frequencies come from the network at its
  resolution, high frequencies from the footage: where the network left its input alone
  the output is the composite, as sharp as the footage, bit for bit; where it repaired
  something (a seam, the lower face's shading) the repair is added.

Values between mix the two linearly. In both forms the network's heads are colour-matched
to the actor's (a Lab mean shift inside the head mask, smoothed over time) and the still
part of the head is stabilised over neighbouring frames (:mod:`vdub.reenactment.stabilise`): in the
paper's form the heads themselves are averaged, in the corrective form the residuals (an
average of the footage itself would blur it and bring back its non-rigid motion).
Outside the head mask every pixel is the actor's, bit for bit. The *matte* (:func:`matte`) says
which pixels a compositor gets from the network: the head mask at full resolution.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vdub.core.io import FrameWriter
from vdub.face.crop import crop_affine, uncrop
from vdub.face.smoothing import savgol_track
from vdub.face.warp import blend
from vdub.metrics.colour import mean_lab_difference
from vdub.reenactment.reenact import apply_colour_shift, colour_shift, paste_head
from vdub.reenactment.stabilise import StabiliseConfig, align_to, gaussian_taps, stabilised, still_weight


def _box_roi(box: np.ndarray, shape: tuple[int, int]) -> tuple[slice, slice, np.ndarray] | None:
    """Rows, columns and crop-to-ROI affine of the frame pixels a head box covers (None: off frame)."""
    cx, cy, side = (float(v) for v in box)
    h, w = shape
    x0, y0 = max(int(np.floor(cx - side / 2)) - 1, 0), max(int(np.floor(cy - side / 2)) - 1, 0)
    x1, y1 = min(int(np.ceil(cx + side / 2)) + 2, w), min(int(np.ceil(cy + side / 2)) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return slice(y0, y1), slice(x0, x1), np.array([x0, y0], np.float64)


def _to_roi(patch: np.ndarray, box: np.ndarray, origin: np.ndarray, roi_shape: tuple[int, int]) -> np.ndarray:
    """A size x size crop-space array (any dtype cv2 warps) resampled into a frame ROI; 0 outside the box."""
    affine = cv2.invertAffineTransform(crop_affine(box, patch.shape[0]))
    affine[:, 2] -= origin
    h, w = roi_shape
    return cv2.warpAffine(patch, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def paste_corrected(frame: np.ndarray, composite: np.ndarray, residual: np.ndarray, network_input: np.ndarray,
                    mask: np.ndarray, box: np.ndarray, detail: float) -> np.ndarray:
    """One frame of the corrective paste.

    frame, composite: H x W x 3 uint8 (actor frame and composite frame); residual: S x S x 3
    float32, the network's change to its input; network_input: S x S x 3 uint8 (the crop
    the network saw, at the residual's resolution); mask: M x M float head mask in [0, 1];
    box: (cx, cy, side). The head is ``detail * composite + (1 - detail) * up(input) +
    up(residual)``, blended into ``frame`` through the mask. Pixels outside the box are
    returned bit-exact; with a zero residual and ``detail`` 1 the head is the composite.
    """
    roi = _box_roi(box, frame.shape[:2])
    if roi is None:
        return frame
    rows, cols, origin = roi
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    head = composite[rows, cols].astype(np.float32) * np.float32(detail)
    if detail < 1.0:
        head += _to_roi(network_input.astype(np.float32), box, origin, shape) * np.float32(1.0 - detail)
    head += _to_roi(np.ascontiguousarray(residual, np.float32), box, origin, shape)
    alpha = np.clip(_to_roi(mask.astype(np.float32), box, origin, shape), 0.0, 1.0)
    out = frame.copy()
    out[rows, cols] = blend(frame[rows, cols], np.clip(np.round(head), 0, 255).astype(np.uint8), alpha)
    return out


def matte(output: np.ndarray, actor: np.ndarray, mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The matte of one pasted frame: H x W uint8, the head mask's alpha at full resolution x 255.

    output, actor: H x W x 3 uint8 (the pasted frame and the actor's); mask: M x M float head
    mask in [0, 1]; box: (cx, cy, side). An alpha below half a grey level rounds to 0; a pixel
    the paste changed all the same gets 1, so that where the matte is 0 the output is the
    actor's frame bit for bit, whatever the rounding.
    """
    alpha = uncrop(mask.astype(np.float32), box, output.shape[:2])
    out = np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8)
    out[(out == 0) & (output != actor).any(axis=-1)] = 1
    return out


def paste_heads(actor: Any, heads: Any, masks: np.ndarray, reference_crops: Any, boxes: np.ndarray,
                valid: np.ndarray, points: np.ndarray, cfg: StabiliseConfig, out_frames: Path, *,
                detail: float = 0.0, composite: Any = None, inputs: Any = None,
                out_matte: Path | None = None) -> dict[str, float]:
    """Colour-match and stabilise each head crop against the actor's, paste it (invalid frames pass).

    actor: T x H x W x 3 frames; heads: T x S x S x 3 network heads; masks: T x 3 x M x M
    uint8 (head, eyes, mouth); reference_crops: T x R x R x 3 actor crops; boxes: T x 3;
    valid: T; points: T x 478 x 2 actor mesh in crop units. With ``detail`` > 0 also
    composite (T x H x W x 3 composite frames) and inputs (T x S x S x 3: the network's
    inputs at the heads' resolution); see the module docstring. The Lab shift is measured
    per frame inside the head mask and smoothed over ``cfg.colour_window`` frames; then the
    still part of the head is stabilised (:mod:`vdub.reenactment.stabilise`). Returns the mean
    head-colour difference (CIE76 of the Lab means inside the mask, crop resolution) before
    and after the correction. ``out_matte``: where to write the T x H x W :func:`matte` too
    (0 on frames without a face, which pass unchanged).
    """
    if not 0.0 <= detail <= 1.0:
        raise ValueError(f"paste detail must be in [0, 1], got {detail}")
    if detail > 0 and (composite is None or inputs is None):
        raise ValueError("the corrective paste (detail > 0) needs the composite frames and the network's inputs")
    t_count, h, w = actor.shape[:3]
    size = heads.shape[1]

    def at_size(mask: np.ndarray) -> np.ndarray:
        mask = mask.astype(np.float32) / 255.0
        return mask if mask.shape[0] == size else cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)

    def reference(t: int) -> np.ndarray:
        ref = reference_crops[t]
        return ref if ref.shape[0] == size else cv2.resize(ref, (size, size), interpolation=cv2.INTER_AREA)

    # Two passes (the shifts are smoothed over the whole shot before any frame is pasted);
    # per-frame resizes are redone rather than kept, so memory does not grow with T.
    shifts = np.zeros((t_count, 3))
    measured = np.zeros(t_count, bool)
    for t in np.flatnonzero(valid):
        shift = colour_shift(heads[t], reference(t), at_size(masks[t, 0]))
        if shift is not None:
            shifts[t], measured[t] = shift, True
    shifts = savgol_track(shifts, measured, cfg.colour_window, order=1)

    @functools.lru_cache(maxsize=cfg.stabilise_window + 1)
    def corrected(t: int) -> np.ndarray:
        head = apply_colour_shift(heads[t], shifts[t] if measured[t] else None)
        # The corrective form stabilises the network's change, not the head (see the docstring).
        return head if detail == 0 else head.astype(np.float32) - np.asarray(inputs[t], np.float32)

    def aligned(source: int, target: int) -> np.ndarray | None:
        if not 0 <= source < t_count or not valid[source]:
            return None
        return align_to(corrected(source), points[source], points[target])

    taps, half = gaussian_taps(cfg.stabilise_window), cfg.stabilise_window // 2
    before, after = [], []
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(FrameWriter(out_frames, t_count, h, w))
        matte_writer = stack.enter_context(FrameWriter(out_matte, t_count, h, w, channels=1)) if out_matte else None
        for t in range(t_count):
            frame = original = np.array(actor[t])
            if valid[t]:
                head_mask, ref = at_size(masks[t, 0]), reference(t)
                head = corrected(t)
                if cfg.stabilise_window > 1:
                    weight = still_weight(points[t], size, at_size(masks[t, 1]), cfg.stabilise_ramp)
                    head = stabilised(head, [aligned(t + k, t) for k in range(-half, half + 1)], taps, weight)
                # The paste uses the mask at its own resolution, so the blended region is the
                # same whatever the head's resolution (the evaluation's "outside the head").
                full_mask = masks[t, 0].astype(np.float32) / 255.0
                if detail == 0:
                    pasted = head
                    frame = paste_head(frame, head, full_mask, boxes[t])
                else:
                    network_input = np.asarray(inputs[t])
                    pasted = np.clip(np.round(network_input + head), 0, 255).astype(np.uint8)
                    frame = paste_corrected(frame, np.asarray(composite[t]), head, network_input, full_mask,
                                            boxes[t], detail)
                before.append(mean_lab_difference(heads[t], ref, head_mask > 0.5))
                after.append(mean_lab_difference(pasted, ref, head_mask > 0.5))
            writer.write(frame)
            if matte_writer is not None:
                unchanged = np.zeros((h, w), np.uint8)
                matte_writer.write(matte(frame, original, full_mask, boxes[t]) if valid[t] else unchanged)
    return {"head_delta_e_before": float(np.nanmean(before)) if before else float("nan"),
            "head_delta_e_after": float(np.nanmean(after)) if after else float("nan")}
