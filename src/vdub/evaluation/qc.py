"""QC that points at frames: the passages of a shot a reviewer should look at, with their worst frame.

The metric table says how good a shot is on average; a studio needs to know *where* it is
not. Four per-frame series of the output are thresholded (config section ``qc``):

* ``mouth``: the output's mouth opening against the dubber's (:func:`mouth_opening_error`,
  inner-lip gap over mouth width): the lips are open where the dubbed line's are closed, or
  the other way round. It separates a failed frame better than the per-frame LMD (which is
  kept in ``metrics.json`` too): on the shared clips the undubbed actor against the dubber
  is over the default on about a quarter of the frames, the dubbed output on none;
* ``identity``: the dlib embedding distance of the output's face to the actor's in the same
  frame (:mod:`vdub.evaluation.identity`): the face is drifting towards someone else;
* ``jitter``: the acceleration of the output's skull-stable landmarks beyond the actor's own
  (:func:`head_jitter`, inter-ocular units per frame squared): the head shakes or jumps
  where the actor's does not;
* ``faceless``: frames where no face is found in the output, said apart whether the actor
  has none there either (passed through, as meant) or the face was lost in the output;
* ``occluded``: frames whose mouth is covered by a hand or an object (the rule visibility's
  ``mouth_covered`` over ``visibility.mouth_occluded``), the worst the most covered: the dub
  faded out there and the actor's own mouth shows behind the occluder;
* ``faded``: frames where the dub is faded out or partly so (:mod:`vdub.face.visibility`),
  with ``why``: the reasons met in the range (``no_face``, ``turned``, ``small``, ``occluded``).

Frames the dub is faded on are left out of the ``mouth`` series: the actor's own mouth is
meant to show there.

Frames over a threshold closer than ``merge_gap`` frames form one range; each range keeps
its worst frame, the one a thumbnail shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vdub.evaluation.config import QCConfig
from vdub.face import landmarks as lm
from vdub.face.visibility import REASONS

KINDS = ("mouth", "identity", "jitter", "faceless", "occluded", "faded")


def mouth_opening_error(points: np.ndarray, valid: np.ndarray, dubber: np.ndarray, dubber_valid: np.ndarray
                        ) -> np.ndarray:
    """Per-frame ``|opening(output) - opening(dubber)|`` (inner-lip gap over mouth width): T, NaN without both faces.

    points, dubber: T x 478 x 2+; valid, dubber_valid: T.
    """
    out = np.full(len(points), np.nan)
    both = np.asarray(valid, bool) & np.asarray(dubber_valid, bool)
    out[both] = np.abs(lm.mouth_opening(points[both]) - lm.mouth_opening(dubber[both]))
    return out


def head_jitter(points: np.ndarray, valid: np.ndarray, reference: np.ndarray, reference_valid: np.ndarray
                ) -> np.ndarray:
    """Acceleration of the skull-stable landmarks beyond the reference's: the head's added shake.

    points, reference: T x 478 x 2+ pixels (the output's track and the actor's); valid,
    reference_valid: T. Returns T: ``|p[t+1] - 2 p[t] + p[t-1]|`` averaged over
    :data:`vdub.face.landmarks.STABLE` for the output less the same for the actor (the actor's
    own head moves are not the dubbing's), over the actor's inter-ocular distance; NaN where
    a neighbouring frame has no face in either.
    """
    from vdub.metrics.landmarks import landmark_acceleration

    excess = landmark_acceleration(points, valid) - landmark_acceleration(reference, reference_valid)
    return excess / np.maximum(lm.inter_ocular(np.asarray(reference, np.float64)), 1e-6)


def frame_ranges(flagged: np.ndarray, values: np.ndarray, merge_gap: int, worst: str = "max"
                 ) -> list[dict[str, Any]]:
    """Runs of flagged frames, joined across gaps of at most ``merge_gap`` frames.

    flagged: T bool; values: T float, the series whose ``worst`` ("max") frame each range
    names. Returns ``[{"start", "end" (inclusive), "frames" (flagged frames in it), "worst",
    "value"}]`` in frame order.
    """
    ranges: list[dict[str, Any]] = []
    for t in np.flatnonzero(flagged):
        if ranges and t - ranges[-1]["end"] <= merge_gap + 1:
            ranges[-1]["end"] = int(t)
            ranges[-1]["frames"] += 1
        else:
            ranges.append({"start": int(t), "end": int(t), "frames": 1})
    for r in ranges:
        span = np.asarray(values[r["start"]:r["end"] + 1], np.float64)
        span = np.where(flagged[r["start"]:r["end"] + 1], span, -np.inf)
        r["worst"] = r["start"] + int(np.argmax(span))
        value = float(values[r["worst"]])
        r["value"] = value if np.isfinite(value) else None
    return ranges


def shot_ranges(series: dict[str, np.ndarray], output_face: np.ndarray, actor_face: np.ndarray,
                cfg: QCConfig, visibility: Any = None) -> dict[str, Any]:
    """The QC ranges of one shot.

    series: ``mouth``, ``identity``, ``jitter``: T float each, NaN where not measured;
    output_face, actor_face: T bool, where a face was tracked in each; visibility: the shot's
    :class:`vdub.face.visibility.Visibility` (None: no ``occluded`` or ``faded`` ranges). Returns ``{"thresholds":
    {...}, "ranges": [{"kind", "start", "end", "frames", "worst", "value", ("actor_face" for
    faceless)}], "more": {kind: ranges left off}}``, the listed ranges in frame order, at most
    ``max_ranges`` per kind (the worst, by value over threshold, or the longest faceless ones).
    """
    thresholds = {"mouth": cfg.mouth, "identity": cfg.identity, "jitter": cfg.jitter}
    listed: list[dict[str, Any]] = []
    more: dict[str, int] = {}
    for kind in KINDS:
        if kind == "faceless":
            found = frame_ranges(~output_face, (~output_face).astype(float), cfg.merge_gap)
            for r in found:
                # Passed through (no face in the actor either) or lost in the output.
                r["actor_face"] = bool(actor_face[r["start"]:r["end"] + 1].any())
                r["value"] = None
            found.sort(key=lambda r: (not r["actor_face"], r["frames"]), reverse=True)
        elif kind in ("occluded", "faded"):
            if visibility is None:
                continue
            if kind == "occluded":
                found = frame_ranges(visibility.occluded, visibility.mouth_covered, cfg.merge_gap)
            else:
                found = frame_ranges(visibility.weight < 1, 1.0 - visibility.weight, cfg.merge_gap)
                for r in found:
                    span = visibility.reasons[r["start"]:r["end"] + 1]
                    r["why"] = [reason for k, reason in enumerate(REASONS) if span[:, k].any()]
            found.sort(key=lambda r: r["frames"], reverse=True)
        else:
            values = np.asarray(series[kind], np.float64)
            with np.errstate(invalid="ignore"):
                flagged = np.isfinite(values) & (values >= thresholds[kind])
            found = frame_ranges(flagged, values, cfg.merge_gap)
            found.sort(key=lambda r: r["value"], reverse=True)
        if len(found) > cfg.max_ranges:
            more[kind] = len(found) - cfg.max_ranges
        listed += [{"kind": kind, **r} for r in found[:cfg.max_ranges]]
    listed.sort(key=lambda r: (r["start"], KINDS.index(r["kind"])))
    return {"thresholds": thresholds, "ranges": listed, "more": more}


def refine_samples(distances: np.ndarray, every: int, threshold: float) -> np.ndarray:
    """Frames to describe besides the samples, so that identity ranges are exact to the frame.

    distances: T, the sampled series (finite on every ``every``-th frame). Returns the sorted
    frames between each sample at or over ``threshold`` and its neighbouring samples: where a
    bad passage begins and ends.
    """
    t_count = len(distances)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(np.isfinite(distances) & (distances >= threshold))
    extra: set[int] = set()
    for t in bad:
        extra.update(range(max(t - every + 1, 0), min(t + every, t_count)))
    return np.array(sorted(extra - set(range(0, t_count, every))), int)


def shot_qc(output: Any, actor: Any, dubber: Any, identity: np.ndarray | None, cfg: QCConfig,
            visibility: Any = None) -> dict[str, Any]:
    """The QC of one shot: its per-frame series and their ranges (:func:`shot_ranges`).

    output, actor, dubber: face tracks (``points`` T x 478 x 3, ``valid`` T) of the output
    frames, the actor and the conformed dubber; identity: the output's per-frame identity
    distance (T, NaN where not described) or None without dlib; visibility: the shot's
    :class:`vdub.face.visibility.Visibility` or None. Returns the ranges' dict with
    ``series``: ``mouth`` (opening error, on fully dubbed frames), ``identity``, ``jitter``,
    each T floats.
    """
    t_count = len(output.valid)
    dubbed = output.valid if visibility is None else output.valid & (visibility.weight >= 1)
    series = {
        "mouth": mouth_opening_error(output.points, dubbed, dubber.points, dubber.valid),
        "identity": np.full(t_count, np.nan) if identity is None else np.asarray(identity, np.float64),
        "jitter": head_jitter(output.points, output.valid, actor.points, actor.valid),
    }
    found = shot_ranges(series, np.asarray(output.valid, bool), np.asarray(actor.valid, bool), cfg, visibility)
    return {**found, "series": {k: v.tolist() for k, v in series.items()}}


def thumbnails(frames: dict[str, Any], boxes: np.ndarray, ranges: list[dict[str, Any]], size: int) -> np.ndarray:
    """The worst frame of each range: the head crop of the actor, the composite and the output, side by side.

    frames: variant -> T x H x W x 3 uint8 (``actor``, ``composite``, ``output``); boxes: the
    head crops' T x 3 (cx, cy, side). Returns K x size x 3 size x 3 uint8, one per range.
    """
    from vdub.face.crop import crop

    out = np.zeros((len(ranges), size, 3 * size, 3), np.uint8)
    for k, r in enumerate(ranges):
        t = r["worst"]
        out[k] = np.concatenate([crop(np.asarray(frames[v][t]), boxes[t], size)
                                 for v in ("actor", "composite", "output")], axis=1)
    return out
