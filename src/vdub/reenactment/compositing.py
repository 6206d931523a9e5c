"""Compositing the network's heads into the actor frames (paper section 2.2, "full head").

The network's actor-decoder output for the composite crop is a whole head (hair, face, ears,
neck) with the actor's identity and the dubbed mouth. It goes back onto the same region of
the actor frame through the same head mask used in training. Four steps, all here:

* Colour: the head is colour-matched to the actor's own head in that frame (a Lab mean shift
  inside the head mask, :func:`colour_shift`), the shift smoothed over time.
* Stabilisation: the swapper renders every frame on its own, so in the parts of the head
  that should be as still as the actor's (hair, forehead, ears, upper cheeks) its output can
  shimmer from frame to frame. There the head is replaced by a weighted average of a few
  neighbouring frames' heads, each first moved onto the current frame's head pose (a
  similarity fitted on the skull-stable landmarks in crop coordinates: a rigid "flow" for a
  part of the head that moves rigidly). Averaging aligned frames keeps what is consistent
  and removes what changes from frame to frame. Mouth, jaw, neck and eyes keep the network's
  output untouched: they must follow the dubber (and blink), and averaging them would ghost.
* Paste, in two forms chosen by one number, :attr:`PasteConfig.detail` in [0, 1]:

  - ``detail = 0`` (the paper): the network's head replaces the actor's inside the head
    mask. Everything inside the mask is the network's rendering at its own resolution
    (upscaled by the super-resolution stage), hair and eyes included.
  - ``detail = 1`` (corrective): the head is the full-resolution composite (the actor frame
    with the aligned virtual dubber's lower face) plus the network's *change* to its input,
    ``head = composite + up(net(x) - x)``. Low frequencies come from the network at its
    resolution, high frequencies from the footage: where the network left its input alone
    the output is the composite, as sharp as the footage, bit for bit; where it repaired
    something (a seam, the lower face's shading) the repair is added.

  Values between mix the two linearly (:func:`blend_corrected`, the one formula that
  inference and the held-out self-reenactment score both paste with). In the paper's form
  the heads themselves are stabilised, in the corrective form the residuals (an average of
  the footage itself would blur it and bring back its non-rigid motion). Outside the head
  mask every pixel is the actor's, bit for bit.
* Matte (:func:`matte`): which pixels a compositor gets from the network, the head mask at
  full resolution.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vdub.core.io import FrameWriter, load_frames
from vdub.face import landmarks as lm
from vdub.face.crop import crop_affine, uncrop
from vdub.face.geometry import umeyama
from vdub.face.smoothing import savgol_track
from vdub.face.visibility import gate_alpha, load_visibility
from vdub.face.warp import blend
from vdub.metrics.colour import mean_lab_difference
from vdub.reenactment.config import PasteConfig

# ---------------------------------------------------------------- colour


def colour_shift(patch: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """The 8-bit Lab shift taking ``patch``'s mean inside ``mask`` onto ``reference``'s.

    patch, reference: S x S x 3 uint8 (the swapped head and the actor's head in the same
    crop); mask: S x S in [0, 1]. Returns 3 floats, or None when the mask is (nearly) empty.
    """
    weight = mask.astype(np.float64)
    total = weight.sum()
    if total < 1.0:
        return None
    lab_p = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float64)
    lab_r = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float64)
    return ((lab_r - lab_p) * weight[..., None]).sum(axis=(0, 1)) / total


def apply_colour_shift(patch: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
    """``patch`` (S x S x 3 uint8) with its 8-bit Lab values moved by ``shift`` (3; None: unchanged).

    A mean shift only (no variance scaling): the network's output is slightly smoother than
    the footage, and stretching its variance would amplify its noise rather than restore
    detail.
    """
    if shift is None:
        return patch
    lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float64) + shift
    return cv2.cvtColor(np.clip(np.round(lab), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


# ---------------------------------------------------------------- stabilisation


def still_weight(points: np.ndarray, size: int, eyes: np.ndarray, ramp: float) -> np.ndarray:
    """Where the head may be stabilised, 1 = fully: above the nose tip, fading out below it.

    points: 478 x 2 actor mesh in crop units (0..1 across the crop); size: the head crop's
    side in pixels; eyes: size x size eye mask in [0, 1]; ramp: fade length in face heights
    (forehead to chin). Returns size x size float32: 1 on the forehead side of the line
    through the nose tip (across the forehead-chin axis), 0 from ``ramp`` face heights
    below it (before the upper lip), times (1 - eyes). Zero everywhere when the mesh is
    missing (NaN).
    """
    p = np.asarray(points, np.float64)[:, :2] * size
    if not np.isfinite(p).all():
        return np.zeros((size, size), np.float32)
    down = p[lm.CHIN] - p[lm.FOREHEAD]
    height = max(float(np.linalg.norm(down)), 1e-6)
    down /= height
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    along = ((xs - p[lm.NOSE_TIP, 0]) * down[0] + (ys - p[lm.NOSE_TIP, 1]) * down[1]) / height
    weight = np.clip(1.0 - along / ramp, 0.0, 1.0)
    return (weight * (1.0 - np.clip(eyes, 0.0, 1.0))).astype(np.float32)


def gaussian_taps(window: int) -> np.ndarray:
    """Weights of a centred window of ``window`` frames (odd), sigma = window / 4, summing to 1."""
    offsets = np.arange(window) - window // 2
    taps = np.exp(-0.5 * (offsets / max(window / 4.0, 1e-6)) ** 2)
    return taps / taps.sum()


def align_to(head: np.ndarray, points_from: np.ndarray, points_to: np.ndarray) -> np.ndarray | None:
    """Move a head crop onto another frame's head pose: S x S x 3 uint8 -> S x S x 3 float32.

    points_from, points_to: 478 x 2 meshes in crop units of the two frames. The motion is a
    similarity fitted on the skull-stable landmarks; None when either mesh is missing.
    """
    size = head.shape[0]
    src = np.asarray(points_from, np.float64)[lm.STABLE] * size
    dst = np.asarray(points_to, np.float64)[lm.STABLE] * size
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        return None
    motion = umeyama(src, dst)
    affine = np.hstack([motion.scale * motion.rotation, motion.translation[:, None]])
    return cv2.warpAffine(head, affine, (size, size), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def stabilised(head: np.ndarray, neighbours: list[np.ndarray | None], taps: np.ndarray,
               weight: np.ndarray) -> np.ndarray:
    """One frame's head with its still part replaced by the average of its aligned neighbours.

    head: S x S x 3 uint8 (this frame's colour-corrected swapped head), or float32 (a
    residual: the corrective paste stabilises the network's change); neighbours: the W
    heads of frames t - W//2 .. t + W//2 moved onto this frame's pose (S x S x 3 float32,
    from :func:`align_to`; this frame's own head among them), None where a frame is
    outside the shot or has no face (its tap is dropped and the rest renormalised);
    taps: W weights; weight: S x S still weight in [0, 1]. Returns S x S x 3 of ``head``'s
    dtype (uint8 rounded and clipped).
    """
    total = np.zeros(head.shape, np.float32)
    norm = 0.0
    for tap, neighbour in zip(taps, neighbours):
        if neighbour is not None:
            total += np.float32(tap) * neighbour
            norm += float(tap)
    if norm == 0.0:
        return head
    w = weight[..., None]
    out = head.astype(np.float32) * (1.0 - w) + (total / np.float32(norm)) * w
    if head.dtype != np.uint8:
        return out.astype(head.dtype)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- paste


def paste_head(frame: np.ndarray, head: np.ndarray, mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The paper's paste: a head crop blended back into its frame.

    frame: H x W x 3 uint8; head: S x S x 3 uint8 and mask: M x M float in [0, 1] (any S and
    M: each is resampled to the box's size in the frame); box: (cx, cy, side).
    Pixels outside the box are returned bit-exact.
    """
    shape = frame.shape[:2]
    patch = uncrop(head, box, shape)
    alpha = uncrop(mask.astype(np.float32), box, shape)
    return blend(frame, patch, np.clip(alpha, 0.0, 1.0))


def blend_corrected(base: np.ndarray, composite: np.ndarray, residual: np.ndarray, network_input: np.ndarray,
                    alpha: np.ndarray, detail: float, up: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The corrective head ``detail * composite + (1 - detail) * up(input) + up(residual)`` blended into ``base``.

    base, composite: H x W x 3 uint8 (actor and composite pixels of the region pasted into);
    residual: S x S x 3 float32, the network's change to its input; network_input: S x S x 3
    uint8 (the crop the network saw, at the residual's resolution); alpha: H x W float32
    head mask in [0, 1]; up: a crop-space S x S x 3 array (uint8 or float32) resampled onto
    the region's H x W grid, as float32. The head is summed in float32 in that order,
    rounded and clipped to uint8. Inference (:func:`paste_corrected`) and the held-out
    self-reenactment score (:func:`vdub.reenactment.self_reenactment.repair_holdout`) both
    paste through this, so that the score measures what inference does.
    """
    head = composite.astype(np.float32) * np.float32(detail)
    if detail < 1.0:
        head += up(network_input) * np.float32(1.0 - detail)
    head += up(residual)
    return blend(base, np.clip(np.round(head), 0, 255).astype(np.uint8), alpha)


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
    """One frame of the corrective paste (:func:`blend_corrected` at full resolution).

    frame, composite: H x W x 3 uint8 (actor frame and composite frame); residual: S x S x 3
    float32, the network's change to its input; network_input: S x S x 3 uint8 (the crop
    the network saw, at the residual's resolution); mask: M x M float head mask in [0, 1];
    box: (cx, cy, side). Only the box's pixels are computed: crop-space arrays are warped
    into them as float32. Pixels outside the box are returned bit-exact; with a zero
    residual and ``detail`` 1 the head is the composite.
    """
    roi = _box_roi(box, frame.shape[:2])
    if roi is None:
        return frame
    rows, cols, origin = roi
    shape = (rows.stop - rows.start, cols.stop - cols.start)

    def up(patch: np.ndarray) -> np.ndarray:
        return _to_roi(np.ascontiguousarray(patch, np.float32), box, origin, shape)

    alpha = np.clip(up(mask), 0.0, 1.0)
    out = frame.copy()
    out[rows, cols] = blend_corrected(frame[rows, cols], composite[rows, cols], residual, network_input, alpha,
                                      detail, up)
    return out


def matte(output: np.ndarray, actor: np.ndarray, mask: np.ndarray, box: np.ndarray,
          gate: np.ndarray | None = None) -> np.ndarray:
    """The matte of one pasted frame: H x W uint8, the head mask's alpha at full resolution x 255.

    output, actor: H x W x 3 uint8 (the pasted frame and the actor's); mask: M x M float head
    mask in [0, 1]; box: (cx, cy, side); gate: H x W float32 in [0, 1], the share of the dub
    the frame's pixels took (:func:`vdub.face.visibility.gate_alpha`; None: all of it). An
    alpha below half a grey level rounds to 0; a pixel the paste changed all the same gets 1,
    so that where the matte is 0 the output is the actor's frame bit for bit, whatever the
    rounding.
    """
    alpha = uncrop(mask.astype(np.float32), box, output.shape[:2])
    if gate is not None:
        alpha *= gate
    out = np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8)
    out[(out == 0) & (output != actor).any(axis=-1)] = 1
    return out


def visibility_gate(occluders: Path | None, visibility: Path | None) -> dict[str, Any]:
    """:func:`paste_heads`'s ``occluders`` and ``weights`` from the rule visibility's files (none: no gate)."""
    if visibility is None:
        return {}
    return {"occluders": load_frames(occluders) if occluders is not None else None,
            "weights": load_visibility(visibility).weight}


def paste_heads(actor: Any, heads: Any, masks: np.ndarray, reference_crops: Any, boxes: np.ndarray,
                valid: np.ndarray, points: np.ndarray, cfg: PasteConfig, out_frames: Path, *,
                composite: Any = None, inputs: Any = None, out_matte: Path | None = None,
                occluders: Any = None, weights: np.ndarray | None = None) -> dict[str, float]:
    """Colour-match and stabilise each head crop against the actor's, paste it (invalid frames pass).

    actor: T x H x W x 3 frames; heads: T x S x S x 3 network heads; masks: T x 3 x M x M
    uint8 (head, eyes, mouth); reference_crops: T x R x R x 3 actor crops; boxes: T x 3;
    valid: T; points: T x 478 x 2 actor mesh in crop units. With ``cfg.detail`` > 0 also
    composite (T x H x W x 3 composite frames) and inputs (T x S x S x 3: the network's
    inputs at the heads' resolution); see the module docstring. The Lab shift is measured
    per frame inside the head mask and smoothed over ``cfg.colour_window`` frames; then the
    still part of the head is stabilised over ``cfg.stabilise_window`` frames. Returns the
    mean head-colour difference (CIE76 of the Lab means inside the mask, crop resolution)
    before and after the correction. ``out_matte``: where to write the T x H x W
    :func:`matte` too (0 on frames without a face, which pass unchanged). occluders (T x H x W
    uint8 soft occluders) and weights (T dub weights), the rule visibility's: the pasted frame
    keeps the actor's pixels under the occluders and takes the dub by its weight
    (:func:`vdub.face.visibility.gated`); None: no gate.
    """
    detail = cfg.detail
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
                gate = None
                if weights is not None:
                    gate = gate_alpha((h, w), None if occluders is None else np.asarray(occluders[t]),
                                      float(weights[t]))
                    frame = frame if gate is None else blend(original, frame, gate)
            writer.write(frame)
            if matte_writer is not None:
                unchanged = np.zeros((h, w), np.uint8)
                matte_writer.write(matte(frame, original, full_mask, boxes[t], gate) if valid[t] else unchanged)
    return {"head_delta_e_before": float(np.nanmean(before)) if before else float("nan"),
            "head_delta_e_after": float(np.nanmean(after)) if after else float("nan")}
