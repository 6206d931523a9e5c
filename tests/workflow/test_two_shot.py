"""A two-shot where both people speak (issue 25): two shots of the same frames, each its own face (``face``),
dubber and audio, the second composited onto the first (``over``): the delivered picture has both faces
dubbed, each following its own dubber and not the other's, and the conformed reel takes that picture with
both shots' lines on its dialogue stem."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
import yaml
from support import (
    MEDIA,
    PLUMBING_RUN,
    TWO_SHOT_FRAMES,
    make_project,
    make_two_shot,
    needs_media,
    plumbing_numbers,
    snakemake,
)

from vdub.core.io import load_frames
from vdub.face.mesh import load_track, track_boxes, track_faces
from vdub.media.video import probe_video, read_frames
from vdub.metrics.landmarks import mouth_opening_correlation

pytestmark = [pytest.mark.media, needs_media, pytest.mark.slow]

DUBBERS = {"anna": "dubber_woman_plain.mp4", "ben": "dubber_man_office.mp4"}


def _samples(reel: str) -> list[dict]:
    common = {"actor_video": reel, "actor_in": 0, "actor_out": TWO_SHOT_FRAMES}
    return [dict(common, id="anna", actor="woman_bluewall", face="left", dubber_video=str(MEDIA / DUBBERS["anna"])),
            dict(common, id="ben", actor="glasses_man", face="right", over="anna",
                 dubber_video=str(MEDIA / DUBBERS["ben"]))]


def _read_wav(path):
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.int32)


def test_both_faces_of_a_two_shot_dubbed_each_by_its_own_dubber(tmp_path):
    """woman_bluewall | glasses_man side by side, 60 frames, as the reel both shots are ranges of. The picture's
    numbers are the plumbing ones (a few training steps): the corrective paste starts as its input, so the mouths
    are the virtual dubbers' (what this test is about); the learned quality is tested on the trained project."""
    make_two_shot(tmp_path / "two.mp4")
    make_project(tmp_path, _samples(str(tmp_path / "two.mp4")))
    config = plumbing_numbers(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    config["conform"]["codec"] = "ffv1"  # lossless: the reel's frames compared exactly
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path, *PLUMBING_RUN)

    actor = load_frames(tmp_path / "work" / "anna" / "ingest" / "actor.npy")
    delivered = load_frames(tmp_path / "work" / "ben" / "stack" / "frames.npy")
    dubbers = {s: load_track(tmp_path / "work" / s / "mesh" / "dubber.npz") for s in DUBBERS}
    sides = {}
    for shot, other in (("anna", "ben"), ("ben", "anna")):
        track = load_track(tmp_path / "work" / shot / "mesh" / "actor.npz")
        sides[shot] = float(np.nanmean(track_boxes(track)[:, [0, 2]]))
        face = track_faces(iter(delivered), len(delivered), follow=track_boxes(track))
        assert face.valid.all()
        own = mouth_opening_correlation(face.points, face.valid, dubbers[shot].points, dubbers[shot].valid)
        crossed = mouth_opening_correlation(face.points, face.valid, dubbers[other].points, dubbers[other].valid)
        assert own >= 0.7 and crossed <= 0.3, (shot, own, crossed)
        # Each shot's own metrics are measured on its own face.
        metrics = json.loads((tmp_path / "results" / shot / "metrics.json").read_text())
        assert metrics["table"]["output"]["mouth_corr"] >= 0.7, (shot, metrics["table"]["output"])
    assert sides["anna"] < 480 < sides["ben"], sides
    # Both halves changed (both dubbed); each shot's own output changed only its own half.
    for half in (slice(0, 480), slice(480, 960)):
        assert (delivered[:, :, half] != actor[:, :, half]).any(axis=-1).mean() > 0.001
    anna_only = load_frames(tmp_path / "work" / "anna" / "sr" / "frames.npy")
    np.testing.assert_array_equal(anna_only[:, :, 480:], actor[:, :, 480:])
    stacked_matte = load_frames(tmp_path / "work" / "ben" / "stack" / "matte.npy")
    np.testing.assert_array_equal(delivered[stacked_matte == 0], actor[stacked_matte == 0])

    # Delivered: ben's dubbed.mp4 is the two-shot with both faces dubbed, with ben's own line.
    review = np.stack(list(read_frames(probe_video(tmp_path / "results" / "ben" / "dubbed.mp4"))))
    assert review.shape == delivered.shape
    assert np.abs(review.astype(int) - delivered.astype(int)).mean() < 2.0
    # The conformed reel takes the two-shot's picture with both dubbed, and both lines on its dialogue stem.
    reel = np.stack(list(read_frames(probe_video(tmp_path / "results" / "conformed" / "two.mov"))))
    np.testing.assert_array_equal(reel, delivered)
    stem = _read_wav(tmp_path / "results" / "conformed" / "two.dialogue.wav")
    lines = [_read_wav(tmp_path / "work" / s / "ingest" / "audio.wav") for s in DUBBERS]
    n = min(len(stem), *(len(x) for x in lines))
    np.testing.assert_array_equal(stem[:n], np.clip(lines[0][:n] + lines[1][:n], -32768, 32767))
