"""Self-reenactment pairs, the actor's own inner mouth, and the held-out score (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from support import REPO

from vdub.core.io import load_npz, save_frames, save_npz
from vdub.face import landmarks as lm
from vdub.face.geometry import robust_umeyama
from vdub.face.warp import blend
from vdub.metrics.colour import inner_mouth_lab
from vdub.metrics.image import psnr
from vdub.virtual_dubber.builtin import MouthLibrary, render_virtual_dubber
from vdub.virtual_dubber.config import VirtualDubberConfig
from vdub.virtual_dubber.reference_frame import score_frames, select_reference

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _normalised(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return robust_umeyama(points[lm.STABLE], reference[lm.STABLE]).apply(points.astype(np.float64))


# ---------------------------------------------------------------- the actor's own inner mouth


def test_mouth_library_finds_the_frame_of_that_shape_and_respects_the_window(real_tracks):
    track = real_tracks["actor_woman_bluewall.mp4"]
    ref = 0
    library = MouthLibrary(track.points, track.valid, track.points[ref])
    openings = lm.mouth_opening(track.points)
    k = int(np.nanargmax(np.where(track.valid, openings, np.nan)))  # the widest-open frame
    target = _normalised(track.points[k], track.points[ref])
    assert library.choose(target) == k  # its own shape, nothing else is nearer
    # Outside a window around it, only frames that open at least 90% as wide qualify.
    other = library.choose(target, 0.9, exclude=(k - 8, k + 8))
    if other is not None:
        assert abs(other - k) > 8 and openings[other] >= 0.9 * openings[k] - 1e-9
    moderate = int(np.argsort(np.where(track.valid, openings, -1))[len(openings) // 2])
    target = _normalised(track.points[moderate], track.points[ref])
    chosen = library.choose(target, 0.9, exclude=(moderate - 8, moderate + 8))
    assert chosen is not None and abs(chosen - moderate) > 8
    assert openings[chosen] >= 0.9 * openings[moderate] - 1e-9
    # Continuity: the successor of the last source is kept while it fits within the tolerance.
    window = (moderate - 8, moderate + 8)
    others = [c for c in np.flatnonzero(track.valid) if c != chosen and abs(c - moderate) > 8
              and openings[c] >= 0.9 * openings[moderate]]
    assert others
    follow = others[0]
    assert library.choose(target, 0.9, window, previous=follow - 1, continuity=1e6) == follow
    assert library.choose(target, 0.9, window, previous=follow - 1, continuity=0.0) == chosen


def _pooled_mouth_lab(frames: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    sums = sum((inner_mouth_lab(f, p) for f, p in zip(frames, points) if lm.mouth_opening(p) > 0.15), np.zeros(4))
    return None if sums[3] == 0 else sums[:3] / sums[3]


def test_actor_source_gives_the_actor_s_own_mouth_colour(actor_clip, dubber_clip):
    """The virtual dubber's open inner mouth is closer in colour to the actor's own than with the dubber's teeth."""
    a_frames, a_track = actor_clip
    d_frames, d_track = dubber_clip
    ref = select_reference(score_frames(a_frames, a_track.points, a_track.valid))
    neutral = select_reference(score_frames(d_frames, d_track.points, d_track.valid))
    library = MouthLibrary(a_track.points, a_track.valid, a_track.points[ref])
    own = _pooled_mouth_lab(a_frames[a_track.valid], a_track.points[a_track.valid])
    assert own is not None
    delta, counts = {}, {}
    for source in ("actor", "dubber"):
        sources: list[int] = []
        rendered = list(render_virtual_dubber(a_frames[ref], a_track.points[ref].astype(np.float64), d_frames,
                                              d_track.points, d_track.valid, neutral,
                                              VirtualDubberConfig(mouth_source=source), a_frames, library,
                                              sources=sources))
        frames, targets = np.stack([f for f, _ in rendered]), np.stack([p for _, p in rendered])
        delta[source] = float(np.linalg.norm(_pooled_mouth_lab(frames, targets) - own))
        counts[source] = np.bincount(np.clip(np.asarray(sources), -2, 0) + 2, minlength=3)  # closed, dubber, actor
    print(f"inner-mouth colour vs the actor's own (CIE76): actor source {delta['actor']:.2f}, "
          f"dubber source {delta['dubber']:.2f}; sources (closed, dubber, actor) {counts}")
    assert counts["actor"][2] > counts["actor"][1]  # mostly the actor's own frames
    assert counts["dubber"][2] == 0
    assert delta["actor"] < delta["dubber"]


# ---------------------------------------------------------------- the pairs of a real shot


@pytest.fixture(scope="module")
def shot_pairs(actor_clip, tmp_path_factory):
    """The self-reenactment pairs of 45 real frames, through the stage functions with the workflow's settings."""
    from vdub.reenactment.stages import actor_crops, self_pairs
    from vdub.workflow.settings import stage_settings

    frames, track = actor_clip
    work = tmp_path_factory.mktemp("pairs")
    save_frames(work / "actor.npy", frames)
    save_npz(work / "actor_mesh.npz", **track.to_npz())
    crops = stage_settings(CONFIG, "actor_crops")  # the preview preset's 64 px crops
    actor_crops("s", work / "actor.npy", work / "actor_mesh.npz", work / "actor_crops.npz", crops.crop_size,
                crops.masks)
    s = stage_settings(CONFIG, "self_pairs")
    summary = self_pairs("s", work / "actor.npy", work / "actor_mesh.npz", work / "actor_crops.npz", None,
                         work / "self_pairs.npz", s.self_reenactment, s.builtin_dubber, s.align, s.smoothing,
                         s.face_mesh, s.masks, s.reference)
    assert sorted(p.name for p in work.iterdir()) == ["actor.npy", "actor_crops.npz", "actor_mesh.npz",
                                                     "self_pairs.npz"]  # no scratch frames left behind
    return summary, load_npz(work / "self_pairs.npz"), load_npz(work / "actor_crops.npz")


def test_self_pairs_of_a_real_shot(shot_pairs):
    summary, pairs, crops = shot_pairs
    valid = pairs["valid"].astype(bool)
    assert summary["pairs"] == valid.sum() >= 40, summary
    every, window = CONFIG["self_reenactment"]["holdout_every"], CONFIG["self_reenactment"]["exclude_window"]
    assert pairs["holdout"].tolist() == np.flatnonzero(valid)[every - 1::every].tolist()
    # The inner mouth never comes from the target frame or its neighbours.
    source = pairs["mouth_source"]
    for t in np.flatnonzero(source >= 0):
        assert abs(int(source[t]) - t) > window, (t, source[t])
    # Above the nose the self-composite is the actor's own crop; below, the re-rendered mouth.
    s = pairs["composite"].shape[1]
    upper, lower = slice(0, int(0.3 * s)), slice(int(0.62 * s), int(0.8 * s))
    for t in np.flatnonzero(valid)[::5]:
        assert psnr(pairs["composite"][t][upper], crops["actor"][t][upper]) > 40
    lower_psnr = [psnr(pairs["composite"][t][lower], crops["actor"][t][lower]) for t in np.flatnonzero(valid)]
    print(f"self-composite vs actor, lower face of the crop: median PSNR {np.median(lower_psnr):.1f} dB")
    assert 18 < np.median(lower_psnr) < 60  # the same person's mouth in place, not a copy of the frame
    # Held-out scoring material: real frames at the scoring size and a lower-face mask in the head.
    r = CONFIG["self_reenactment"]["score_size"]
    assert pairs["holdout_actor"].shape == (len(pairs["holdout"]), r, r, 3)
    assert (pairs["holdout_lower"].astype(int) <= pairs["holdout_head"].astype(int) + 1).all()
    assert pairs["holdout_lower"].max() > 200


def test_training_pairs_leave_the_held_out_frames_out(shot_pairs):
    from vdub.reenactment.self_reenactment import training_pairs

    _, pairs, crops = shot_pairs
    (inputs, targets, masks), held = training_pairs(pairs, crops)
    valid = pairs["valid"].astype(bool)
    assert len(inputs) == valid.sum() - len(held)
    kept = np.setdiff1d(np.flatnonzero(valid), held)
    np.testing.assert_array_equal(targets, crops["actor"][kept])
    np.testing.assert_array_equal(inputs, pairs["composite"][kept])
    assert masks.shape == (len(kept), 3, 64, 64)
    assert not np.isin(held, kept).any()


def test_held_out_scores_of_an_untrained_corrective_network_equal_the_composite(shot_pairs):
    """An untrained corrective network returns its input, so its repair scores exactly as the composite."""
    from vdub.reenactment.config import PasteConfig, SwapperConfig
    from vdub.reenactment.self_reenactment import repair_holdout, score_holdout
    from vdub.reenactment.swapper import IdentitySwapper

    _, pairs, crops = shot_pairs
    model = IdentitySwapper(SwapperConfig(crop_size=64, width_mult=0.25, middle_blocks=1, latent_dim=32,
                                          gblock_channels=32, decoder_channels=(32, 16, 8), input_skip=0.5)).eval()
    repaired, network = repair_holdout(model, pairs, crops, PasteConfig(detail=1.0))
    expected = np.stack([blend(pairs["holdout_actor"][i], pairs["holdout_composite"][i],
                               pairs["holdout_head"][i].astype(np.float32) / 255) for i in range(len(repaired))])
    np.testing.assert_array_equal(repaired, expected)
    scores = score_holdout(pairs, repaired, network)
    assert scores["repaired"]["psnr"] == pytest.approx(scores["composite"]["psnr"], abs=0.3)
    assert scores["network"]["psnr"] < scores["composite"]["psnr"]  # 64 px upscaled: softer than the footage
    assert scores["composite"]["lpips"] is None
    print("held-out self-reenactment, untrained corrective network:", scores)
