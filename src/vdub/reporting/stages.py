"""The contact sheet stages (rules virtual_dubber_sheet, output_sheet); the report itself is
:mod:`vdub.reporting.report`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import load_frames, load_json, load_npz
from vdub.face import landmarks as lm
from vdub.face.mesh import FaceTrack, load_track
from vdub.reporting.contact_sheet import contact_sheet, output_sheet, pick_frames

log = logging.getLogger(__name__)


def virtual_dubber_sheet(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
                         vd_frames: Path, reference_json: Path, out_png: Path, count: int = 6) -> list[int]:
    """Contact sheet of the virtual dubber (dubber | virtual dubber | actor reference).

    Shows ``count`` frames spread over the shot, one of them where the dubber's mouth is
    widest open. Returns the frame indices shown.
    """
    track = load_track(dubber_mesh)
    opening = np.where(track.valid, lm.mouth_opening(np.nan_to_num(track.points)), np.nan)
    indices = pick_frames(opening, count)
    # A shot without an actor face has no reference: its first frame stands in (the sheet shows
    # that the virtual dubber is the actor's picture unchanged).
    ref = load_json(reference_json)["actor"]["frame"]
    reference_image = np.array(load_frames(actor_frames)[ref if ref is not None else 0])
    actor_track = load_track(actor_mesh)
    contact_sheet(load_frames(dubber_frames), load_frames(vd_frames), reference_image, indices, out_png,
                  dubber_points=np.where(track.valid[:, None, None], track.points, np.nan),
                  reference_points=actor_track.points[ref] if ref is not None and actor_track.valid[ref] else None)
    log.info("shot %s: virtual-dubber contact sheet of frames %s: %s", shot, indices.tolist(), out_png)
    return indices.tolist()


def output_sheet_files(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
                       vd_frames: Path, vd_mesh: Path, output_frames: Path, out_png: Path, count: int = 6) -> list[int]:
    """results/<shot>/output_sheet.png: actor | dubber | virtual dubber | output for ``count`` frames.

    The frames are spread over the shot plus the one where the dubber's mouth is widest
    open (:func:`vdub.reporting.contact_sheet.pick_frames`); each tile is cut around its face.
    Returns the frame indices shown.
    """
    frames = {name: load_frames(path) for name, path in
              (("actor", actor_frames), ("dubber", dubber_frames), ("virtual", vd_frames), ("output", output_frames))}
    counts = {name: len(f) for name, f in frames.items()}
    if len(set(counts.values())) != 1:
        raise ShotError(shot, None, f"output sheet: frame counts differ: {counts}")
    tracks = {name: FaceTrack.from_npz(load_npz(path)) for name, path in
              (("actor", actor_mesh), ("dubber", dubber_mesh), ("virtual", vd_mesh))}
    points = {name: np.where(t.valid[:, None, None], t.points, np.nan) for name, t in tracks.items()}
    opening = np.where(tracks["dubber"].valid, lm.mouth_opening(np.nan_to_num(tracks["dubber"].points)), np.nan)
    indices = pick_frames(opening, count)
    output_sheet(frames["actor"], frames["dubber"], frames["virtual"], frames["output"], indices, out_png,
                 actor_points=points["actor"], dubber_points=points["dubber"], virtual_points=points["virtual"])
    log.info("shot %s: output contact sheet of frames %s: %s", shot, indices.tolist(), out_png)
    return indices.tolist()
