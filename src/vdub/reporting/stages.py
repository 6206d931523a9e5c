"""The output contact sheet stage (rule output_sheet); the report itself is :mod:`vdub.reporting.report`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def output_sheet_files(shot: str, actor_frames: Path, actor_mesh: Path, dubber_frames: Path, dubber_mesh: Path,
                       vd_frames: Path, vd_mesh: Path, output_frames: Path, out_png: Path, count: int = 6) -> list[int]:
    """results/<shot>/output_sheet.png: actor | dubber | virtual dubber | output for ``count`` frames.

    The frames are spread over the shot plus the one where the dubber's mouth is widest
    open (:func:`vdub.reporting.contact_sheet.pick_frames`); each tile is cut around its face.
    Returns the frame indices shown.
    """
    from vdub.core.errors import ShotError
    from vdub.core.io import load_frames, load_npz
    from vdub.face import landmarks as lm
    from vdub.face.mesh import FaceTrack
    from vdub.reporting.contact_sheet import output_sheet, pick_frames

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
