"""QC ranges: the range logic on constructed series, and a known bad range planted in real footage found exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import decode, needs_media

from vdub.evaluation.config import QCConfig
from vdub.evaluation.qc import frame_ranges, refine_samples, shot_ranges


def test_ranges_merge_across_small_gaps_and_name_their_worst_frame():
    values = np.zeros(30)
    values[[3, 4, 6, 15, 16, 17, 29]] = [0.2, 0.5, 0.3, 0.4, 0.9, 0.4, 0.3]
    found = frame_ranges(values >= 0.2, values, merge_gap=1)
    assert [(r["start"], r["end"], r["frames"], r["worst"]) for r in found] == [
        (3, 6, 3, 4), (15, 17, 3, 16), (29, 29, 1, 29)]
    assert [(r["start"], r["end"]) for r in frame_ranges(values >= 0.2, values, merge_gap=0)] == [
        (3, 4), (6, 6), (15, 17), (29, 29)]


def test_shot_ranges_lists_the_worst_first_and_counts_the_rest():
    t = 100
    mouth = np.zeros(t)
    mouth[10:13], mouth[40], mouth[70] = 0.3, 0.15, 0.5
    series = {"mouth": mouth, "identity": np.full(t, np.nan), "jitter": np.zeros(t)}
    output_face, actor_face = np.ones(t, bool), np.ones(t, bool)
    output_face[50:55] = False  # lost in the output
    output_face[90:], actor_face[90:] = False, False  # passed through
    qc = shot_ranges(series, output_face, actor_face, QCConfig(max_ranges=2))
    assert [(r["kind"], r["start"], r["end"]) for r in qc["ranges"]] == [
        ("mouth", 10, 12), ("faceless", 50, 54), ("mouth", 70, 70), ("faceless", 90, 99)]
    assert qc["more"] == {"mouth": 1}  # frame 40, the mildest
    assert [r["actor_face"] for r in qc["ranges"] if r["kind"] == "faceless"] == [True, False]


def test_refinement_describes_the_frames_between_a_bad_sample_and_its_neighbours():
    distances = np.full(40, np.nan)
    distances[::5] = 0.2
    distances[20] = 0.8
    assert refine_samples(distances, 5, 0.5).tolist() == [16, 17, 18, 19, 21, 22, 23, 24]
    assert refine_samples(distances, 5, 0.9).tolist() == []


@pytest.mark.media
@needs_media
def test_a_planted_foreign_passage_is_found_exactly():
    """Frames 20-34 of a 60-frame shot cut from another actor's clip: identity finds exactly them,
    the mouth only inside them, the jump of the head at their edges, and nothing else is flagged."""
    from vdub.evaluation.qc import shot_qc
    from vdub.evaluation.shot import VARIANTS, identity_distances
    from vdub.face.config import FaceMeshConfig
    from vdub.face.mesh import FaceTrack, track_faces

    actor = decode("actor_glasses_man.mp4", 60)
    h, w = actor.shape[1:3]
    foreign = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                        for f in decode("actor_woman_studio.mp4", 15)])
    planted = actor.copy()
    planted[20:35] = foreign
    cfg = FaceMeshConfig()
    actor_track = track_faces(iter(actor), len(actor), cfg)
    output_track = track_faces(iter(planted), len(planted), cfg)
    assert output_track.valid.all()
    frames = {v: actor if v == "actor" else planted for v in VARIANTS}
    tracks = {v: actor_track if v == "actor" else output_track for v in VARIANTS}
    qc_cfg = QCConfig()
    identity = identity_distances(frames, tracks, every=5, refine_above=qc_cfg.identity)
    if identity.sampled is None:
        pytest.skip(f"dlib not available: {identity.reason}")
    # The actor's own track stands for the dubber: the clip's own mouth is what it should show.
    dubber = FaceTrack(actor_track.points.copy(), actor_track.valid.copy())
    qc = shot_qc(output_track, actor_track, dubber, identity.output_qc, qc_cfg)
    ranges = {kind: [(r["start"], r["end"]) for r in qc["ranges"] if r["kind"] == kind]
              for kind in ("mouth", "identity", "jitter", "faceless")}
    assert ranges["identity"] == [(20, 34)], qc["ranges"]
    assert all(20 <= a <= b <= 34 for a, b in ranges["mouth"]), ranges
    # The head jumps into and out of the other clip: acceleration at frames 19-21 and 33-35.
    assert ranges["jitter"] and all(a >= 19 and b <= 35 and (a <= 21 or b >= 33) for a, b in ranges["jitter"])
    assert any(a <= 21 for a, _ in ranges["jitter"]) and any(b >= 33 for _, b in ranges["jitter"])
    assert ranges["faceless"] == []
    # The clean shot: nothing.
    clean = shot_qc(actor_track, actor_track, dubber, identity_distances(
        {v: actor for v in VARIANTS}, {v: actor_track for v in VARIANTS}, 5, qc_cfg.identity).output_qc, qc_cfg)
    assert clean["ranges"] == []
