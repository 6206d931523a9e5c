"""Footage as it comes (issue 25): a real hand holding a real cup raised to the mouth stays the actor's
pixels while the dub goes on around it, the mouth follows the dubber before and after, QC names the occluded
frames; a real head turn fades the dub out and back in without a pop."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import yaml
from footage import make_occlusion, write_occlusion
from support import MEDIA, assert_margin, make_project, needs_media, plumbing_numbers, snakemake

from vdub.core.io import load_frames
from vdub.metrics.image import psnr

pytestmark = [pytest.mark.media, needs_media, pytest.mark.slow]

#: The hand and cup: in the picture from frame 25, raised over 10 frames, held at the mouth 20, lowered over 10.
FRAMES, START, RISE, HOLD = 100, 25, 10, 20
#: The cup's width in hand lengths, and where the hand is held (below the mouth, in face heights): the cup's rim
#: on the mouth, as when drinking (tests/footage.py).
CUP, BELOW_MOUTH = 0.6, 0.45


@pytest.fixture(scope="module")
def occluded_project(tmp_path_factory):
    """woman_bluewall with a real hand (keyed from actor_woman_hands.mp4) holding a real cup (keyed from
    scikit-image's coffee photo) to her mouth, dubbed by woman_plain: the shot delivered as a studio would run
    it. The hand is found by its landmarks, the cup as what no clean frame explains that touches the hand."""
    media = tmp_path_factory.mktemp("occluded_media")
    occlusion = make_occlusion(n_frames=FRAMES, start=START, rise=RISE, hold=HOLD, target_offset=BELOW_MOUTH, cup=CUP)
    files = write_occlusion(occlusion, media)
    workdir = tmp_path_factory.mktemp("occluded_project")
    make_project(workdir, [{"id": "hand", "actor": "woman_bluewall", "actor_video": str(files["clip"]),
                            "dubber_video": str(MEDIA / "dubber_woman_plain.mp4")}])
    # Plumbing numbers: what is tested here is where the dub goes (the gate, the fades, QC), which the corrective
    # paste decides from its first step; the learned quality is the trained project's (tests/conftest.py).
    config = plumbing_numbers(yaml.safe_load((workdir / "config.yaml").read_text()))
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2")
    return workdir, occlusion


def test_the_hand_and_its_cup_stay_the_actors_and_the_dub_goes_on_around_them(occluded_project):
    workdir, occlusion = occluded_project
    actor = load_frames(workdir / "work" / "hand" / "ingest" / "actor.npy")
    output = load_frames(workdir / "work" / "hand" / "sr" / "frames.npy")
    matte = load_frames(workdir / "work" / "hand" / "sr" / "matte.npy")
    shown = np.flatnonzero(occlusion.masks.any(axis=(1, 2)))
    assert len(shown) == 2 * RISE + HOLD
    # Inside the hand and cup the output is the actor frame's own pixels (the issue asks >= 40 dB; measured
    # at worst 62.6 dB), and the matte tells a compositor that nothing was changed there, but on the frames
    # where MediaPipe does not find the hand yet (its palm still below the picture's edge, the cup over the
    # neck already): at worst 95 % of the occluder's pixels are 0 in the matte (the hand alone: 99.6 %).
    worst = min(psnr(actor[t][occlusion.masks[t]], output[t][occlusion.masks[t]]) for t in shown)
    assert worst >= 40.0, worst
    assert min(float((matte[t][occlusion.masks[t]] == 0).mean()) for t in shown) >= 0.9
    # Around it the shot is dubbed: before the hand comes up the output's lower face is not the actor's.
    assert (output[:START - 10] != actor[:START - 10]).any(axis=-1).mean() > 0.001

    metrics = json.loads((workdir / "results" / "hand" / "metrics.json").read_text())
    seen = metrics["visibility"]
    assert seen["occluded_frames"] >= HOLD and seen["dubbed_frames"] >= FRAMES - 2 * RISE - HOLD - 20, seen
    # The mouth follows the dubber over the frames it is dubbed on (before and after the hand).
    assert_margin("occluded shot: mouth opening correlation with the dubber, visible frames",
                  metrics["table"]["output"]["mouth_corr"], ">=", 0.7)
    # QC names the occluded stretch (and the fade around it), not "mouth disagrees with the dubber".
    ranges = metrics["qc"]["ranges"]
    occluded = [r for r in ranges if r["kind"] == "occluded"]
    lo, hi = occlusion.over_mouth
    assert len(occluded) == 1 and occluded[0]["start"] <= lo and occluded[0]["end"] >= hi - 1, ranges
    faded = [r for r in ranges if r["kind"] == "faded"]
    assert faded and "occluded" in faded[0]["why"], ranges
    assert not [r for r in ranges if r["kind"] == "mouth" and r["start"] < hi and r["end"] >= lo], ranges


def _ramp_changes(workdir):
    """Per frame where the dub's weight changes: the composite's mean change from the frame before in the
    dubbed region (pixels the dub changes in either frame), and the actor's own change there."""
    actor = load_frames(workdir / "work" / "turn" / "ingest" / "actor.npy")
    composite = load_frames(workdir / "work" / "turn" / "align" / "composite.npy")
    weight = np.load(workdir / "work" / "turn" / "visibility" / "visibility.npz")["weight"]
    out, own = [], []
    for t in np.flatnonzero(np.diff(weight) != 0) + 1:
        a0, a1 = actor[t - 1].astype(np.int16), actor[t].astype(np.int16)
        c0, c1 = composite[t - 1].astype(np.int16), composite[t].astype(np.int16)
        region = (np.abs(c0 - a0).max(-1) > 8) | (np.abs(c1 - a1).max(-1) > 8)
        if region.sum() >= 50:
            out.append(float(np.abs(c1 - c0)[region].mean()))
            own.append(float(np.abs(a1 - a0)[region].mean()))
    return weight, out, own


def test_a_real_head_turn_fades_the_dub_without_a_pop(tmp_path):
    """actor_girl_turns.mp4 turns her head to the side around frame 112 (a real turn). Her turns reach about
    14 degrees by the mesh's measure, short of the default limit (30), so this project sets 8: the dub must
    then fade out before the turn and back in after it, and at no frame of the fades may the dubbed region
    change more than the actor's own picture does there. The same shot without a fade pops."""
    make_project(tmp_path, [{"id": "turn", "actor": "girl", "actor_video": str(MEDIA / "actor_girl_turns.mp4"),
                             "dubber_video": str(MEDIA / "dubber_woman_plain.mp4")}], max_frames=150)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["visibility"]["max_yaw"] = 8.0
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = "work/turn/align/composite.npy"  # the composite is gated as the output is; no training needed
    snakemake(tmp_path, "--cores", "2", target)
    weight, out, own = _ramp_changes(tmp_path)
    reasons = np.load(tmp_path / "work" / "turn" / "visibility" / "visibility.npz")["reasons"]
    assert reasons[100:130, 1].any() and not reasons[:90, 1].any()  # "turned", at the turn only
    assert 0 < weight.min() < 1 or (weight == 0).any()
    assert np.abs(np.diff(weight)).max() <= 1 / (config["visibility"]["fade_frames"] + 1) + 1e-6
    assert len(out) >= 6 and max(out) <= max(own), (out, own)

    config["visibility"]["fade_frames"] = 0
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--cores", "2", target)
    _, out, own = _ramp_changes(tmp_path)
    assert max(out) > max(own), (out, own)


def test_a_small_face_in_a_wide_shot_passes_through_with_a_reason(tmp_path):
    """woman_bluewall shrunk into a wide frame (her face about 30 px high in 640x360): never a crash, never a
    smeared head: the face is passed through (too small to dub, or not found at all) and the frames say why."""
    wide = tmp_path / "wide.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_woman_bluewall.mp4"), "-frames:v", "30",
                    "-vf", "scale=84:84,pad=640:360:400:120:color=0x405060", "-c:v", "libx264", "-crf", "12",
                    "-pix_fmt", "yuv420p", "-an", str(wide)], check=True)
    make_project(tmp_path, [{"id": "wide", "actor": "woman_bluewall", "actor_video": str(wide),
                             "dubber_video": str(MEDIA / "dubber_man_office.mp4")}])
    snakemake(tmp_path, "--cores", "2", "work/wide/align/composite.npy")
    actor = load_frames(tmp_path / "work" / "wide" / "ingest" / "actor.npy")
    composite = load_frames(tmp_path / "work" / "wide" / "align" / "composite.npy")
    np.testing.assert_array_equal(composite, actor)
    seen = np.load(tmp_path / "work" / "wide" / "visibility" / "visibility.npz")
    reasons = dict(zip(("no_face", "turned", "small", "occluded"), seen["reasons"].T))
    assert (reasons["small"] | reasons["no_face"]).all() and (seen["weight"] == 0).all()
    if reasons["small"].any():
        assert np.nanmax(seen["face_height"][reasons["small"]]) < 40
