#!/usr/bin/env python3
"""Whose teeth: the virtual dubber's inner mouth from the actor's own frames against the dubber's.

    python scripts/benchmark_mouth_source.py PROJECT_DIR [SHOT ...]

For each shot of a project the workflow has run (its ``work/<shot>/`` up to ``align``), the
virtual dubber is rendered, tracked, aligned and composited again with each
``builtin_dubber.mouth_source`` (``actor``, ``dubber``) in a scratch folder, and the composite
is scored against the actor: the open inner mouth's colour (CIE76 of the pooled Lab mean inside
the inner-lip contour against the actor's own open mouths, as ``mouth_delta_e``) and the
identity distance (dlib descriptors, every 5th frame; the composite differs from the actor
frame only below the nose, so the distance comes from the mouth region). Prints a Markdown
table. The colour figure depends on what the open mouths show (teeth, tongue, the dark
throat), so read it beside the virtual-dubber contact sheets.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from vdub.core.io import load_frames
from vdub.evaluation.shot import MOUTH_OPEN
from vdub.face import landmarks as lm
from vdub.face.config import FaceMeshConfig, SmoothingConfig
from vdub.face.mesh import load_track, track_faces
from vdub.face.stages import face_geometry
from vdub.metrics.colour import inner_mouth_lab
from vdub.virtual_dubber.config import AlignConfig, VirtualDubberConfig
from vdub.virtual_dubber.stages import align, virtual_dubber

EVERY = 5


def pooled_mouth_lab(frames, track) -> np.ndarray:
    sums = np.zeros(4)
    for t in np.flatnonzero(track.valid):
        if lm.mouth_opening(track.points[t]) > MOUTH_OPEN:
            sums += inner_mouth_lab(np.asarray(frames[t]), track.points[t])
    return sums


def identity(frames, track, actor, actor_track) -> float | None:
    """Mean dlib descriptor distance of the frames' faces to the actor's, every ``EVERY``-th frame."""
    from vdub.evaluation.identity import identity_distance
    from vdub.face.identity import embeddings, load_identity_model

    model = load_identity_model()
    idx = np.flatnonzero(track.valid & actor_track.valid)[::EVERY]
    if not len(idx):
        return None
    points, ones = actor_track.points[idx], np.ones(len(idx), bool)
    mine = embeddings(model, np.stack([frames[t] for t in idx]), points, ones, 1)
    theirs = embeddings(model, np.stack([actor[t] for t in idx]), points, ones, 1)
    d = identity_distance(theirs, mine)
    return float(np.nanmean(d)) if np.isfinite(d).any() else None


def main(project: str, *shots: str) -> int:
    root = Path(project)
    config = yaml.safe_load((root / "config.yaml").read_text())
    shots = shots or tuple(sorted(p.name for p in (root / "work").iterdir() if (p / "align").is_dir()))
    print("| shot | mouth source | inner mouths from (frames) | mouth ΔE vs actor's own | identity distance |")
    print("|---|---|---|---|---|")
    for shot in shots:
        w = root / "work" / shot
        actor = load_frames(w / "ingest" / "actor.npy")
        actor_track = load_track(w / "mesh" / "actor.npz")
        own = pooled_mouth_lab(actor, actor_track)
        for source in ("actor", "dubber"):
            cfg = dataclasses.replace(VirtualDubberConfig.from_dict(config["builtin_dubber"]), mouth_source=source)
            with tempfile.TemporaryDirectory() as tmp_name:
                tmp = Path(tmp_name)
                counts = virtual_dubber(shot, w / "ingest" / "actor.npy", w / "mesh" / "actor.npz",
                                        w / "ingest" / "dubber.npy", w / "mesh" / "dubber.npz", w / "reference.json",
                                        tmp / "vd.npy", cfg, SmoothingConfig.from_dict(config["smoothing"]))
                face_geometry(shot, tmp / "vd.npy", tmp / "vd_mesh.npz", FaceMeshConfig.from_dict(config["face_mesh"]))
                align(shot, w / "ingest" / "actor.npy", w / "mesh" / "actor.npz", tmp / "vd.npy", tmp / "vd_mesh.npz",
                      w / "mesh" / "dubber.npz", tmp / "aligned.npy", tmp / "composite.npy", tmp / "mesh.npz",
                      tmp / "qa.json", tmp / "qa.png", AlignConfig.from_dict(config["align"]),
                      SmoothingConfig.from_dict(config["smoothing"]))
                composite = load_frames(tmp / "composite.npy")
                track = track_faces(iter(composite), len(composite), FaceMeshConfig.from_dict(config["face_mesh"]))
                sums = pooled_mouth_lab(composite, track)
                delta = (float(np.linalg.norm(sums[:3] / sums[3] - own[:3] / own[3]))
                         if sums[3] and own[3] else None)
                face_id = identity(composite, track, actor, actor_track)
            used = f"actor {counts['actor']}, dubber {counts['dubber']}, closed {counts['closed']}"
            print(f"| {shot} | {source} | {used} | {delta:.2f} | {face_id:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
