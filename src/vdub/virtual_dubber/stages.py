"""Section 2.1 stages, file to file: reference frames, the builtin virtual dubber and the alignment onto
the actor (rules reference, virtual_dubber, align); its contact sheet is a report
(:func:`vdub.reporting.stages.virtual_dubber_sheet`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import FrameWriter, load_frames, load_json, save_json, save_npz
from vdub.face import landmarks as lm
from vdub.face.config import SmoothingConfig
from vdub.face.mesh import load_track
from vdub.face.visibility import clean_track, gated, load_visibility
from vdub.face.warp import triangulate
from vdub.virtual_dubber import geometry_qa
from vdub.virtual_dubber.alignment import render_aligned, rigid_transforms, smooth_track, stable_residual
from vdub.virtual_dubber.builtin import MouthLibrary, log_mouth_sources, render_virtual_dubber
from vdub.virtual_dubber.config import AlignConfig, ReferenceConfig, VirtualDubberConfig
from vdub.virtual_dubber.reference_frame import pick_reference

log = logging.getLogger(__name__)


def reference(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
              override: int | None, out_json: Path, cfg: ReferenceConfig, visibility: Path | None = None) -> dict:
    """Pick the actor's reference frame and the dubber's neutral frame; save their scores.

    With the rule visibility's file the actor's reference is one of the frames with nothing in
    front of the face (:func:`vdub.face.visibility.clean_track`): the virtual dubber is that
    frame, redrawn on every frame.

    A shot whose actor never shows a face (an off-screen line, a back view) gets no reference
    (``"frame": null`` for both roles, ``"faceless": true``): every later stage passes its
    frames through, and the shot is delivered with the actor's picture and the dubbed audio.
    """
    if not load_track(actor_mesh).valid.any():
        log.warning("shot %s: %s: no face in any actor frame: the shot is delivered with the actor's picture "
                    "unchanged and the dubbed audio", shot, actor_frames)
        result = {role: {"frame": None, "overridden": False, "scores": {}} for role in ("actor", "dubber")}
        result["faceless"] = True
    else:
        seen = load_visibility(visibility) if visibility is not None else None
        result = {role: pick_reference(shot, role, frames_path, track, forced, cfg)
                  for role, frames_path, track, forced in (
                      ("actor", actor_frames, clean_track(load_track(actor_mesh), seen), override),
                      ("dubber", dubber_frames, load_track(dubber_mesh), None))}
    save_json(out_json, result)
    return {role: result[role]["frame"] for role in ("actor", "dubber")}


def is_faceless(reference_json: Path) -> bool:
    """Whether the reference stage found no actor face in the whole shot (see :func:`reference`)."""
    return bool(load_json(reference_json).get("faceless", False))


def copy_frames(frames_path: Path, out_frames: Path) -> None:
    """A frames file copied frame by frame (the virtual dubber of a shot without a face: the actor's frames)."""
    frames = load_frames(frames_path)
    with FrameWriter(out_frames, *frames.shape[:3]) as writer:
        for frame in frames:
            writer.write(frame)


def virtual_dubber(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
                   reference_json: Path, out_frames: Path, cfg: VirtualDubberConfig,
                   smoothing: SmoothingConfig, visibility: Path | None = None) -> dict[str, int]:
    """Builtin virtual dubber: the actor's reference frame driven by the dubber's mouth and jaw.

    Both tracks are smoothed first (head pose and expression separately), so the dubber's
    tracking jitter does not reach the rendered mouth. Returns how many inner mouths came
    from the actor's own frames, the dubber's, or none (closed). With the rule visibility's
    file the inner mouths come from frames with nothing in front of the face only.
    """
    refs = load_json(reference_json)
    actor = load_frames(actor_frames)
    actor_track = smooth_track(load_track(actor_mesh), smoothing)
    dubber = load_frames(dubber_frames)
    dubber_track = smooth_track(load_track(dubber_mesh), smoothing)
    ref = refs["actor"]["frame"]
    reference_image = np.array(actor[ref])
    reference_points = actor_track.points[ref].astype(np.float64)
    h, w = reference_image.shape[:2]
    clean = clean_track(actor_track, load_visibility(visibility) if visibility is not None else None)
    mouths = MouthLibrary(actor_track.points, clean.valid, reference_points)
    sources: list[int] = []
    with FrameWriter(out_frames, len(dubber), h, w) as writer:
        for frame, _ in render_virtual_dubber(reference_image, reference_points, dubber, dubber_track.points,
                                              dubber_track.valid, refs["dubber"]["frame"], cfg, actor, mouths,
                                              sources=sources):
            writer.write(frame)
    return log_mouth_sources(shot, "virtual dubber", sources)


def align(shot: str, actor_frames: Path, actor_mesh: Path, vd_frames: Path, vd_mesh: Path, dubber_mesh: Path,
          out_aligned: Path, out_composite: Path, out_mesh: Path, out_qa: Path, out_plot: Path,
          cfg: AlignConfig, smoothing: SmoothingConfig, occluders: Path | None = None,
          visibility: Path | None = None) -> dict:
    """Smooth the meshes, rigidly align the virtual dubber to the actor, render and composite.

    Writes the aligned frames (whole virtual-dubber face on the actor frame), the composite
    frames (its lower part only: the network's input), the aligned mesh with the frames
    where alignment happened, and the geometry QA (JSON + PNG): jitter of the actor,
    dubber and virtual-dubber tracks before and after smoothing, the alignment scale and
    stable-point residual per frame, and the frames without a face.

    occluders, visibility: the rule visibility's outputs. With them the composite keeps the
    actor's pixels under occluders and blends the dub by the frame's weight
    (:func:`vdub.face.visibility.gated`), and frames whose mouth is covered do not take part
    in smoothing the actor's mesh (a hand over the mouth must not pull its neighbours' lips).
    """
    actor = load_frames(actor_frames)
    vd = load_frames(vd_frames)
    raw = {"actor": load_track(actor_mesh), "dubber": load_track(dubber_mesh), "virtual_dubber": load_track(vd_mesh)}
    if not raw["virtual_dubber"].valid.any() and raw["actor"].valid.any():
        raise ShotError(shot, vd_frames, "no face found in the virtual dubber's frames")
    seen = load_visibility(visibility) if visibility is not None else None
    occluder_frames = load_frames(occluders) if occluders is not None else None
    smooth = {role: smooth_track(track, smoothing) for role, track in raw.items()}
    if seen is not None and seen.occluded.any():
        smooth["actor"] = smooth_track(raw["actor"], smoothing, exclude=seen.occluded)
    actor_track, vd_track = smooth["actor"], smooth["virtual_dubber"]
    transforms = rigid_transforms(vd_track, actor_track, cfg.scale_mode, cfg.scale_window)
    # No face anywhere (a shot without the actor's face): every frame passes through below.
    triangles = triangulate(vd_track.points[np.flatnonzero(vd_track.valid)[0], :, :2]) if vd_track.valid.any() \
        else None
    t_count, h, w = actor.shape[:3]
    aligned_points = np.full((t_count, lm.N_POINTS, 3), np.nan, np.float32)
    valid = np.array([tr is not None for tr in transforms])
    residuals = np.full(t_count, np.nan)
    with FrameWriter(out_aligned, t_count, h, w) as aligned_out, FrameWriter(out_composite, t_count, h, w) as comp_out:
        for t in range(t_count):
            frame = np.array(actor[t])
            if transforms[t] is None:
                # No face in the actor or the virtual dubber: the frame passes through.
                aligned_out.write(frame)
                comp_out.write(frame)
                continue
            aligned, composite, points, _ = render_aligned(frame, actor_track.points[t], np.array(vd[t]),
                                                           vd_track.points[t], transforms[t], cfg, triangles)
            aligned_out.write(aligned)
            if seen is not None:
                composite = gated(frame, composite, np.asarray(occluder_frames[t]), float(seen.weight[t]))
            comp_out.write(composite)
            aligned_points[t] = points
            residuals[t] = stable_residual(points, actor_track.points[t])
    save_npz(out_mesh, points=aligned_points, valid=valid, actor_points=actor_track.points)
    residual_iod = residuals / np.maximum(lm.inter_ocular(np.nan_to_num(actor_track.points)), 1e-6)
    qa = {"frames": t_count, "aligned_frames": int(valid.sum()),
          "frames_without_face": {role: np.flatnonzero(~track.valid).tolist() for role, track in raw.items()},
          "jitter": {role: geometry_qa.jitter(raw[role].points, smooth[role].points, raw[role].valid)
                     for role in raw},
          "scale": [tr.scale if tr is not None else None for tr in transforms],
          "residual_px_median": float(np.nanmedian(residuals)) if valid.any() else None,
          "residual_iod_median": float(np.nanmedian(residual_iod)) if valid.any() else None,
          "residual_px": residuals, "residual_iod": residual_iod}
    save_json(out_qa, qa)
    geometry_qa.plot(qa, out_plot, f"shot {shot}: geometry QA")
    log.info("shot %s: alignment residual median %.2f px (%.2f%% inter-ocular); actor jitter %.2f -> %.2f px",
             shot, qa["residual_px_median"] or np.nan, 100 * (qa["residual_iod_median"] or np.nan),
             qa["jitter"]["actor"]["raw_px"] or np.nan, qa["jitter"]["actor"]["smoothed_px"] or np.nan)
    return qa
