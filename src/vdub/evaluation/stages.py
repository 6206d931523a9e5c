"""The evaluate stage: the shot's metric table over every variant (rule evaluate)."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from pathlib import Path

from vdub.core.errors import ShotError
from vdub.core.io import load_frames, load_npz, save_json, save_npz
from vdub.evaluation.config import EvaluationConfig, QCConfig
from vdub.face.config import FaceMeshConfig
from vdub.face.mesh import load_track, track_boxes, track_faces
from vdub.face.visibility import REASONS, load_visibility
from vdub.reenactment.config import PasteConfig

log = logging.getLogger(__name__)


def evaluate(shot: str, frames_paths: dict[str, Path], actor_mesh: Path, dubber_mesh: Path, crops_path: Path,
             out_json: Path, out_thumbnails: Path, cfg: FaceMeshConfig, eval_cfg: EvaluationConfig, qc_cfg: QCConfig,
             paste: PasteConfig, model_path: Path | None = None, pairs_path: Path | None = None,
             visibility_path: Path | None = None) -> dict:
    """The shot's metric table: every variant (actor, composite, reenact, output) against the actor and dubber.

    frames_paths: variant -> frames file (:data:`vdub.evaluation.shot.VARIANTS`); the variants
    other than the actor are face-tracked here for LMD, flicker and identity. With the
    swapper (``model_path``) and the self-reenactment pairs (``pairs_path``), the held-out
    pairs are repaired by the network, pasted by ``paste`` and scored against the real
    frames (``self_reenactment`` in the result). The QC ranges (:mod:`vdub.evaluation.qc`) are
    ``qc`` in the result; their worst frames' thumbnails go to ``out_thumbnails``
    (``thumbnails``: K x S x 3S x 3 uint8, in the order of ``qc["ranges"]``). With the rule
    visibility's ``visibility_path``, the mouth metrics are measured on the fully dubbed frames
    only, QC lists the occluded and faded ranges, and ``visibility`` in the result counts them.
    """
    from vdub.evaluation.qc import shot_qc, thumbnails
    from vdub.evaluation.shot import VARIANTS, evaluate_shot, identity_distances, self_reenactment_scores

    frames = {v: load_frames(frames_paths[v]) for v in VARIANTS}
    for v, arr in frames.items():
        if arr.shape != frames["actor"].shape:
            raise ShotError(shot, frames_paths[v], f"{v} frames {arr.shape} do not match the actor's "
                                                   f"{frames['actor'].shape}")
    t_count = len(frames["actor"])
    # dlib's identity network and the swapper's held-out repair run in a second process while this
    # one tracks the variants' faces and scores their frames: dlib holds the GIL, so a thread would not do.
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as side:
        held = None
        if model_path is not None and pairs_path is not None:
            held = side.submit(self_reenactment_scores, model_path, pairs_path, crops_path, paste, eval_cfg)
        # Every variant is measured on the shot's face (in a two-shot, not on the larger one): the face that
        # continues the actor track's box in each frame.
        actor_track = load_track(actor_mesh)
        follow = track_boxes(actor_track)
        tracks = {v: actor_track if v == "actor" else track_faces(iter(frames[v]), t_count, cfg, follow=follow)
                  for v in VARIANTS}
        identity = side.submit(identity_distances, frames_paths, tracks,
                               eval_cfg.identity_every * eval_cfg.stride(t_count), qc_cfg.identity)
        dubber, crops = load_track(dubber_mesh), load_npz(crops_path)
        seen = load_visibility(visibility_path) if visibility_path is not None else None
        scores = evaluate_shot(frames, tracks, dubber, crops, eval_cfg, identity,
                               dubbed=None if seen is None else seen.weight >= 1)
        qc = shot_qc(tracks["output"], tracks["actor"], dubber, identity.result().output_qc, qc_cfg, seen)
        result = {"shot": shot, "frames": t_count, "frames_with_face_output": int(tracks["output"].valid.sum()),
                  **scores, "qc": qc}
        if seen is not None:
            result["visibility"] = {"dubbed_frames": int((seen.weight >= 1).sum()),
                                    "faded_frames": int((seen.weight < 1).sum()),
                                    **{f"{reason}_frames": int(seen.reasons[:, k].sum())
                                       for k, reason in enumerate(REASONS)}}
        if held is not None:
            result["self_reenactment"] = scored = held.result()
            log.info("shot %s: held-out self-reenactment (%d frames), lower-face PSNR/SSIM: composite %s, "
                     "repaired %s", shot, len(scored["frames"]), scored["composite"], scored["repaired"])
    # The thumbnails first: a metrics.json that exists was written with its thumbnails.
    save_npz(out_thumbnails, thumbnails=thumbnails(frames, crops["boxes"], qc["ranges"], qc_cfg.thumbnail_size))
    save_json(out_json, result)
    for r in qc["ranges"]:
        log.warning("shot %s: QC %s frames %d-%d (worst %d%s)", shot, r["kind"], r["start"], r["end"], r["worst"],
                    "" if r["value"] is None else f", {r['value']:.3f}")
    for v, row in result["table"].items():
        log.info("shot %s: %-9s %s", shot, v, ", ".join(f"{k} {'n/a' if x is None else f'{x:.3f}'}"
                                                       for k, x in row.items()))
    for metric, reason in result["unavailable"].items():
        log.warning("shot %s: %s unavailable: %s", shot, metric, reason)
    return result
