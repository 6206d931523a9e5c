"""The paper's Table 1 for one shot, with the baselines that show what each stage buys.

Variants, all on the same frames: ``actor`` (the unedited footage), ``composite`` (the
aligned virtual dubber pasted on the actor, before the swapper), ``reenact`` (the swapper's
head pasted at crop resolution, before super-resolution) and ``output`` (the full
pipeline). Metrics per variant:

* ``psnr``, ``ssim`` (scikit-image) against the actor frame, whole frame;
* ``lpips`` (AlexNet) and ``fid`` (pytorch-fid Inception) against the actor, on the head
  crops (the crop boxes of the swapper, resized to ``perceptual_size``): outside the head
  the output is the actor's own pixels, which would only dilute them;
* ``lmd`` and ``mouth_corr`` against the dubber's mouth (:mod:`vdub.metrics.landmarks`);
* ``flicker``: motion-compensated frame difference of the still part of the head;
* ``identity``: dlib face-embedding distance to the actor frame (:mod:`vdub.evaluation.identity`);
* ``head_delta_e``: Lab difference of the head's skin against the actor's.
* ``mouth_delta_e``: Lab difference of the open inner mouth (teeth, tongue: inside the
  inner-lip contour of frames whose mouth opens more than ``MOUTH_OPEN``), pooled over the
  shot, against the actor's own open mouths: whose teeth the viewer sees.

A metric whose network weights are not available is reported as null with the reason in
``unavailable``, never as a silent zero; everything else still runs.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vdub.evaluation.config import EvaluationConfig
from vdub.face import landmarks as lm
from vdub.face.mesh import FaceTrack
from vdub.reenactment.config import PasteConfig

VARIANTS = ("actor", "composite", "reenact", "output")
METRICS = ("psnr", "ssim", "lpips", "fid", "lmd", "mouth_corr", "flicker", "identity", "head_delta_e",
           "mouth_delta_e")
MOUTH_OPEN = 0.15  # inner-lip gap / mouth width above which the inner mouth is scored (mouth_delta_e)
LPIPS_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet, the LPIPS backbone
FID_FILE = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's Inception


def find_weights(configured: str | None, filename: str) -> tuple[Path | None, str | None]:
    """Where a metric's weights are: the configured file, else torch's hub cache.

    Returns ``(path, None)`` when found, ``(None, reason)`` when not. A configured path
    that does not exist is an error (the operator asked for it), not "unavailable".
    """
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: weights file not found (expected {filename})")
        return path, None
    import torch

    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file():
        return cached, None
    return None, f"no weights: {filename} is not in {cached.parent} and no path is configured"


class _Perceptual:
    """LPIPS distances and FID features of head crops, streamed in batches (memory stays flat)."""

    def __init__(self, cfg: EvaluationConfig, unavailable: dict[str, str]) -> None:
        from vdub.evaluation import perceptual

        self.lpips_model = self.fid_model = None
        path, reason = find_weights(cfg.lpips_weights, LPIPS_FILE)
        if path is not None:
            self.lpips_model = perceptual.load_lpips(path)
        else:
            unavailable["lpips"] = reason
        path, reason = find_weights(cfg.fid_weights, FID_FILE)
        if path is not None:
            self.fid_model = perceptual.load_fid_inception(path)
        else:
            unavailable["fid"] = reason
        self.lpips: dict[str, list[float]] = {v: [] for v in VARIANTS}
        self.features: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
        self.batch: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}

    @property
    def active(self) -> bool:
        return self.lpips_model is not None or self.fid_model is not None

    def add(self, crops: dict[str, np.ndarray], batch_size: int = 16) -> None:
        """One frame's head crops (variant -> S x S x 3 uint8)."""
        for name, crop in crops.items():
            self.batch[name].append(crop)
        if len(self.batch["actor"]) >= batch_size:
            self.flush()

    def flush(self) -> None:
        from vdub.evaluation.perceptual import fid_features, lpips_distance

        if not self.batch["actor"]:
            return
        stacked = {name: np.stack(crops) for name, crops in self.batch.items()}
        for name, crops in stacked.items():
            if self.lpips_model is not None:
                # The actor against itself is 0 by definition: two AlexNet passes a batch saved.
                self.lpips[name] += ([0.0] * len(crops) if name == "actor" else
                                     lpips_distance(self.lpips_model, stacked["actor"], crops).tolist())
            if self.fid_model is not None:
                self.features[name].append(fid_features(self.fid_model, crops))
        self.batch = {v: [] for v in VARIANTS}

    def results(self) -> dict[str, dict[str, float | None]]:
        from vdub.evaluation.perceptual import frechet_distance

        self.flush()
        out: dict[str, dict[str, float | None]] = {}
        for name in VARIANTS:
            fid = None
            if self.fid_model is not None and len(self.features["actor"]) and len(self.features[name]):
                actor, other = np.concatenate(self.features["actor"]), np.concatenate(self.features[name])
                fid = 0.0 if name == "actor" else frechet_distance(actor, other)
            out[name] = {"lpips": float(np.mean(self.lpips[name])) if self.lpips[name] else None, "fid": fid}
        return out


@dataclass
class IdentityDistances:
    """Per-frame dlib embedding distances of each variant's face to the actor's in the same frame.

    sampled: variant -> T float64 on every ``identity_every``-th frame, NaN elsewhere (the
    table's means), or None when dlib is not available (``reason`` says why); output_qc: the
    output's series with the frames around samples over the QC threshold described too, so
    that QC ranges begin and end on the right frame.
    """

    sampled: dict[str, np.ndarray] | None
    output_qc: np.ndarray | None = None
    reason: str | None = None


def identity_distances(frames: dict[str, Any], tracks: dict[str, FaceTrack], every: int,
                       refine_above: float | None = None) -> IdentityDistances:
    """dlib identity distances of every variant, every ``every``-th frame (:class:`IdentityDistances`).

    frames: variant -> T x H x W x 3 uint8, or the path of its frames file (read memory-mapped:
    how a worker process is handed them); tracks: variant -> its face track; refine_above:
    the QC threshold around whose output samples every frame is described.
    """
    try:
        from vdub.evaluation.identity import identity_distance
        from vdub.face.identity import embeddings, load_identity_model

        model = load_identity_model()
    except (ImportError, FileNotFoundError, RuntimeError) as e:
        return IdentityDistances(None, reason=f"dlib face recognition not available: {e}")
    from vdub.core.io import load_frames
    from vdub.evaluation.qc import refine_samples

    images = {v: load_frames(f) if isinstance(f, (str, Path)) else f for v, f in frames.items()}

    def described(v: str, wanted: np.ndarray | None = None) -> np.ndarray:
        valid = tracks[v].valid if wanted is None else tracks[v].valid & wanted
        return embeddings(model, images[v], tracks[v].points, valid, every if wanted is None else 1)

    actor = described("actor")
    sampled = {v: identity_distance(actor, actor if v == "actor" else described(v)) for v in VARIANTS}
    output_qc = sampled["output"].copy()
    extra = refine_samples(output_qc, every, refine_above) if refine_above is not None else np.zeros(0, int)
    if len(extra):
        wanted = np.zeros(len(output_qc), bool)
        wanted[extra] = True
        output_qc[extra] = identity_distance(described("actor", wanted), described("output", wanted))[extra]
    return IdentityDistances(sampled, output_qc)


def _pooled_difference(sums: np.ndarray, reference: np.ndarray) -> float | None:
    """CIE76 between two pooled Lab means given as (L, a, b sums, pixel count); None if either is empty."""
    if sums[3] == 0 or reference[3] == 0:
        return None
    return float(np.linalg.norm(sums[:3] / sums[3] - reference[:3] / reference[3]))


def self_reenactment_scores(model_path: str | Path, pairs_path: str | Path, crops_path: str | Path,
                            paste: PasteConfig, cfg: EvaluationConfig) -> dict[str, Any]:
    """Held-out self-reenactment frames: the composite, the network and its pasted repair against the real frames.

    pairs_path: the shot's ``self_pairs.npz``; crops_path: its ``crops.npz``; paste: the
    shot's paste settings (:func:`vdub.reenactment.self_reenactment.repair_holdout`). See
    :func:`vdub.reenactment.self_reenactment.score_holdout` for the result; LPIPS is null
    (``unavailable``) without its weights.
    """
    from vdub.core.io import load_npz
    from vdub.reenactment.self_reenactment import repair_holdout, score_holdout
    from vdub.reenactment.swapper.inference import load_swapper

    pairs = load_npz(pairs_path)
    repaired, network = repair_holdout(load_swapper(model_path), pairs, load_npz(crops_path), paste)
    path, reason = find_weights(cfg.lpips_weights, LPIPS_FILE)
    lpips = None
    if path is not None:
        from vdub.evaluation import perceptual

        model = perceptual.load_lpips(path)
        lpips = functools.partial(perceptual.lpips_distance, model)
    result = score_holdout(pairs, repaired, network, lpips)
    if reason:
        result["unavailable"] = {"lpips": reason}
    return result


def evaluate_shot(frames: dict[str, Any], tracks: dict[str, FaceTrack], dubber: FaceTrack, crops: dict[str, Any],
                  cfg: EvaluationConfig, identity: concurrent.futures.Future | None = None,
                  dubbed: np.ndarray | None = None) -> dict[str, Any]:
    """Every metric of every variant for one shot.

    frames: variant -> T x H x W x 3 uint8 (indexable; memmaps are fine), all variants of
        :data:`VARIANTS`, the same shape; tracks: variant -> its face track (T x 478 x 3
        pixels); dubber: the dubber's track (conformed to the shot); crops: the masks
        stage's arrays (``boxes`` T x 3, ``valid`` T, ``composite_masks`` T x 3 x S x S
        uint8: head, eyes, mouth); identity: the result of :func:`identity_distances` being
        computed elsewhere (another process: dlib holds the GIL), awaited after the frames;
        None: computed here; dubbed: T bool, the frames dubbed in full (the rule visibility's
        weight 1): the mouth metrics (``lmd``, ``mouth_corr``) are measured on those only, since
        elsewhere the actor's own mouth is meant to show (behind a hand, on a turned head);
        None: every frame.

    Frames without a head crop (``valid`` false: cutaways, head turned away) are passed
    through by the pipeline; every image metric skips them, so that they neither inflate
    PSNR/SSIM nor hide an edit, and ``faceless_frames_unchanged`` says whether the output
    equals the actor on all of them.

    A shot longer than ``cfg.max_frames`` has its image metrics (PSNR, SSIM, colour, flicker
    against the frame before, LPIPS, FID) taken on every ``cfg.stride(T)``-th frame (NaN in
    ``per_frame`` elsewhere) and identity on every ``identity_every * stride``-th; the mouth
    metrics and the pass-through check of faceless frames use every frame.

    Returns ``{"table": {variant: {metric: value or None}}, "unavailable": {metric:
    reason}, "psnr_outside_head": float, "frames_without_face": [t, ...],
    "faceless_frames_unchanged": bool, "image_metrics_every": stride, "per_frame": {...}}``.
    """
    from vdub.face.crop import crop, uncrop, uncrop_window
    from vdub.metrics.colour import inner_mouth_lab, mean_lab, mean_lab_difference
    from vdub.metrics.flicker import motion_compensated_difference, static_head_region
    from vdub.metrics.image import PSNR_CAP, psnr, psnr_outside, ssim
    from vdub.metrics.landmarks import lmd, mouth_opening_correlation

    actor = frames["actor"]
    t_count, h, w = actor.shape[:3]
    unavailable: dict[str, str] = {}
    perceptual = _Perceptual(cfg, unavailable)
    per_frame: dict[str, dict[str, np.ndarray]] = {
        metric: {v: np.full(t_count, np.nan) for v in VARIANTS}
        for metric in ("psnr", "ssim", "flicker", "head_delta_e")}
    psnr_outside_head = np.full(t_count, np.nan)
    mouth_lab = {v: np.zeros(4) for v in VARIANTS}  # Lab sums and pixel count inside open inner mouths
    points, face = tracks["actor"].points, tracks["actor"].valid
    size = crops["composite_masks"].shape[-1]
    greys: dict[str, np.ndarray] = {}  # each variant's previous frame in grey, for the flicker
    faceless, faceless_unchanged = [], True
    # A long shot's image metrics on evenly spaced frames (their means hardly move; the cost is per frame).
    stride = cfg.stride(t_count)
    workers = min(len(VARIANTS), len(os.sched_getaffinity(0)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for t in range(t_count):
            box, valid = crops["boxes"][t], bool(crops["valid"][t])
            if not valid:
                faceless.append(t)
                faceless_unchanged &= bool(np.array_equal(frames["output"][t], frames["actor"][t]))
            if t % stride:
                continue
            current = {v: np.asarray(frames[v][t]) for v in VARIANTS}
            a = current["actor"]
            # The masks are 0 outside the head crop's window: everything on masks is done inside it.
            window = uncrop_window(box, size, (h, w))
            origin = (window[1].start, window[0].start)
            head, eyes, mouth = (uncrop(m.astype(np.float32) / 255.0, box, (h, w))[window]
                                 for m in crops["composite_masks"][t])
            skin = (head > 0.5) & (eyes < 0.1) & (mouth < 0.1)
            region = static_head_region(points[t], head, eyes, origin) if valid and face[t] else None
            actor_lab = mean_lab(a[window], skin) if valid and skin.any() else None

            def score(v: str, t: int = t) -> tuple[float, float, float, np.ndarray | None, float, np.ndarray]:
                """Variant v's frame t: PSNR, SSIM, head colour against the actor; open-mouth Lab; flicker; grey."""
                frame = current[v]
                grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
                if not valid:
                    values = (float("nan"),) * 3
                elif v == "actor":  # exact by definition: skip the work, keep the row
                    values = (PSNR_CAP, 1.0, float("nan") if actor_lab is None else 0.0)
                else:
                    # Skin, hair and neck of the head; the eyes and the dubbed mouth are meant to differ.
                    delta_e = (float("nan") if actor_lab is None
                               else mean_lab_difference(frame[window], a[window], skin, b_lab=actor_lab))
                    values = (psnr(a, frame), ssim(a, frame), delta_e)
                track = tracks[v]
                mouth_sums = (inner_mouth_lab(frame, track.points[t]) if valid and track.valid[t]
                              and lm.mouth_opening(track.points[t]) > MOUTH_OPEN else None)
                flicker = float("nan")
                if t > 0 and region is not None and face[t - 1]:
                    previous = greys[v] if stride == 1 else cv2.cvtColor(np.asarray(frames[v][t - 1]),
                                                                         cv2.COLOR_RGB2GRAY)
                    # Every variant compensated with the actor's head motion, over the same still region.
                    flicker = motion_compensated_difference(previous, grey, points[t - 1], points[t], region, origin)
                return (*values, mouth_sums, flicker, grey)

            # The variants in parallel: OpenCV and NumPy release the GIL in these.
            for v, (p, q, delta_e, mouth_sums, flicker, grey) in zip(VARIANTS, pool.map(score, VARIANTS)):
                for metric, value in (("psnr", p), ("ssim", q), ("head_delta_e", delta_e), ("flicker", flicker)):
                    per_frame[metric][v][t] = value
                if mouth_sums is not None:
                    mouth_lab[v] += mouth_sums
                greys[v] = grey
            psnr_outside_head[t] = psnr_outside(a, current["output"], head >= 1e-3, window)
            if valid and perceptual.active:
                perceptual.add({v: crop(frame, box, cfg.perceptual_size) for v, frame in current.items()})

    def mean(values: np.ndarray) -> float | None:
        return float(np.nanmean(values)) if np.isfinite(values).any() else None

    perceptual_results = perceptual.results()
    found = identity.result() if identity is not None else identity_distances(frames, tracks,
                                                                              cfg.identity_every * stride)
    distances = found.sampled
    if distances is None:
        unavailable["identity"] = found.reason
        distances = {v: np.full(t_count, np.nan) for v in VARIANTS}
    mouth_frames = np.ones(t_count, bool) if dubbed is None else np.asarray(dubbed, bool)
    table = {}
    for v in VARIANTS:
        table[v] = {
            "psnr": mean(per_frame["psnr"][v]),
            "ssim": mean(per_frame["ssim"][v]),
            **perceptual_results[v],
            "lmd": lmd(tracks[v].points, tracks[v].valid & mouth_frames, dubber.points, dubber.valid),
            "mouth_corr": mouth_opening_correlation(tracks[v].points, tracks[v].valid & mouth_frames, dubber.points,
                                                    dubber.valid),
            "flicker": mean(per_frame["flicker"][v]),
            "identity": mean(distances[v]),
            "head_delta_e": mean(per_frame["head_delta_e"][v]),
            "mouth_delta_e": _pooled_difference(mouth_lab[v], mouth_lab["actor"]),
        }
    return {"table": table, "unavailable": unavailable, "psnr_outside_head": mean(psnr_outside_head),
            "frames_without_face": faceless, "faceless_frames_unchanged": faceless_unchanged,
            "image_metrics_every": stride, "per_frame": {**{f"{metric}_{v}": values.tolist() for metric, series in
                             {**per_frame, "identity": distances}.items() for v, values in series.items()},
                          "psnr_outside_head": psnr_outside_head.tolist()}}
