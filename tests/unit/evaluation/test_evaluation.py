"""The shot's metric table on constructed variants with known differences: exact values where
they are known (identical frames), the right order where they are not, and LPIPS / FID /
identity reported unavailable, with the reason, when their weights are missing.

LPIPS and FID run here on stand-in weights generated from the architectures themselves
(random, seeded): the code paths are the real ones, the values are not the published
metrics'."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import write_stand_in_perceptual_weights

from vdub.evaluation.config import EvaluationConfig
from vdub.evaluation.shot import FID_FILE, LPIPS_FILE, VARIANTS, evaluate_shot, find_weights
from vdub.face import landmarks as lm
from vdub.face.config import MaskConfig
from vdub.face.crop import crop_boxes
from vdub.face.mesh import FaceTrack
from vdub.metrics.image import PSNR_CAP

T, SIZE = 6, 64


@pytest.fixture(scope="module")
def shot(real_mesh):
    """Six frames of the astronaut's face; variants with known differences inside the head."""
    from skimage import data

    actor = np.stack([data.astronaut()] * T)
    points = np.stack([real_mesh.astype(np.float32)] * T)
    valid = np.ones(T, bool)
    boxes = crop_boxes(points, valid, MaskConfig())
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    head = (np.hypot(yy - 0.5, xx - 0.5) < 0.3).astype(np.uint8) * 255
    masks = np.zeros((T, 3, SIZE, SIZE), np.uint8)
    masks[:, 0] = head
    rng = np.random.default_rng(0)
    region = np.zeros(actor.shape[1:3], bool)
    cx, cy, side = boxes[0]
    region[int(cy - 0.2 * side):int(cy + 0.2 * side), int(cx - 0.2 * side):int(cx + 0.2 * side)] = True

    def noisy(sigma: float) -> np.ndarray:
        out = actor.astype(np.float64)
        out[:, region] += rng.normal(0, sigma, (T, int(region.sum()), 3))
        return np.clip(out, 0, 255).round().astype(np.uint8)

    frames = {"actor": actor, "composite": noisy(20), "reenact": actor.copy(), "output": noisy(6)}
    tracks = {v: FaceTrack(points.copy(), valid.copy()) for v in VARIANTS}
    dubber = points.copy()
    dubber[:, lm.MOUTH, 1] += 4.0  # the dubber's lips 4 px lower: every variant's LMD > 0
    crops = {"boxes": boxes, "valid": valid, "composite_masks": masks}
    return frames, tracks, FaceTrack(dubber, valid.copy()), crops


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    write_stand_in_perceptual_weights(folder)
    return folder


def test_table_on_known_variants(shot, weights):
    frames, tracks, dubber, crops = shot
    cfg = EvaluationConfig(lpips_weights=str(weights / LPIPS_FILE), fid_weights=str(weights / FID_FILE),
                           perceptual_size=64, identity_every=3)
    result = evaluate_shot(frames, tracks, dubber, crops, cfg)
    table = result["table"]
    assert list(table) == list(VARIANTS)
    # The actor row is the reference: its PSNR, SSIM, colour, LPIPS and FID are written, not computed. The
    # reenact variant is a computed copy of the actor's frames: exact values where the arithmetic is
    # exact (PSNR of zero error is the cap, SSIM's ratio is 1, LPIPS of equal inputs is 0), and the
    # Frechet distance of a feature set with itself 0 up to scipy's sqrtm rounding (~1e-9 here).
    reenact = table["reenact"]
    assert reenact["psnr"] == PSNR_CAP and reenact["ssim"] == 1.0 and reenact["lpips"] == 0.0, reenact
    assert table["actor"]["lpips"] == 0.0
    assert reenact["head_delta_e"] == pytest.approx(0.0, abs=1e-9), reenact
    assert abs(reenact["fid"]) < 1e-6, reenact
    # Known noise inside the head: the noisier variant scores worse on every image metric.
    for metric in ("lpips", "fid"):
        assert table["composite"][metric] > table["output"][metric] > 0, metric
    assert table["composite"]["psnr"] < table["output"]["psnr"] < PSNR_CAP
    assert table["composite"]["ssim"] < table["output"]["ssim"] < 1.0
    # A still shot: the actor does not flicker; fresh noise every frame does.
    assert table["actor"]["flicker"] == pytest.approx(0.0, abs=1e-6)
    assert table["composite"]["flicker"] > table["output"]["flicker"] > 1.0
    # The same mouth track everywhere: the same LMD, and the 4 px shift is seen.
    assert len({round(table[v]["lmd"], 9) for v in VARIANTS}) == 1 and table["actor"]["lmd"] > 0
    # Nothing outside the head changed.
    assert result["psnr_outside_head"] == PSNR_CAP
    assert "lpips" not in result["unavailable"] and "fid" not in result["unavailable"]
    if "identity" in result["unavailable"]:
        assert all(table[v]["identity"] is None for v in VARIANTS)
    else:
        assert table["actor"]["identity"] == pytest.approx(0.0, abs=1e-6)
        assert table["reenact"]["identity"] == pytest.approx(0.0, abs=1e-6)
        # The per-frame distances, on every third frame, whose mean is the table's.
        series = np.array(result["per_frame"]["identity_output"], float)
        assert np.isfinite(series).tolist() == [t % 3 == 0 for t in range(T)]
        assert np.nanmean(series) == pytest.approx(table["output"]["identity"])
    assert len(result["per_frame"]["psnr_output"]) == T


def test_faceless_frames_are_skipped_by_the_metrics_and_checked_unchanged(shot):
    """A cutaway (no head crop) is passed through: it must neither lift PSNR/SSIM nor hide an edit."""
    frames, tracks, dubber, crops = shot
    cutaway = [1, 4]
    valid = crops["valid"].copy()
    valid[cutaway] = False
    faceless = dict(crops, valid=valid)
    cfg = EvaluationConfig(perceptual_size=64, identity_every=3)
    base = evaluate_shot(frames, tracks, dubber, crops, cfg)
    result = evaluate_shot(frames, tracks, dubber, faceless, cfg)
    assert result["frames_without_face"] == cutaway and result["faceless_frames_unchanged"] is False
    # The noisy output differs from the actor on the cutaways too: reported, and not averaged in.
    edited = [t for t in range(T) if t not in cutaway]
    assert result["table"]["output"]["psnr"] == pytest.approx(
        np.mean([base["per_frame"]["psnr_output"][t] for t in edited]))
    assert all(np.isnan(result["per_frame"]["psnr_output"][t]) for t in cutaway)
    passed_through = dict(frames, output=frames["output"].copy())
    passed_through["output"][cutaway] = frames["actor"][cutaway]
    again = evaluate_shot(passed_through, tracks, dubber, faceless, cfg)
    assert again["faceless_frames_unchanged"] is True
    assert again["table"]["output"]["psnr"] == result["table"]["output"]["psnr"]
    assert base["frames_without_face"] == [] and base["faceless_frames_unchanged"] is True


def test_missing_weights_are_reported_unavailable_with_the_reason(shot, tmp_path, monkeypatch):
    frames, tracks, dubber, crops = shot
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    result = evaluate_shot(frames, tracks, dubber, crops, EvaluationConfig(identity_every=3))
    for metric, filename in (("lpips", LPIPS_FILE), ("fid", FID_FILE)):
        assert filename in result["unavailable"][metric]
        assert all(result["table"][v][metric] is None for v in VARIANTS)
    # The rest still ran.
    assert result["table"]["output"]["psnr"] is not None and result["table"]["output"]["lmd"] is not None


def test_weights_are_found_in_the_torch_cache_and_a_configured_missing_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    path, reason = find_weights(None, LPIPS_FILE)
    assert path is None and LPIPS_FILE in reason and str(tmp_path) in reason
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / LPIPS_FILE).write_bytes(b"x")
    assert find_weights(None, LPIPS_FILE) == (tmp_path / "checkpoints" / LPIPS_FILE, None)
    with pytest.raises(FileNotFoundError, match=LPIPS_FILE):
        find_weights(str(tmp_path / "nowhere.pth"), LPIPS_FILE)


def test_a_long_shot_is_scored_on_evenly_spaced_frames_and_checked_on_all(shot):
    """Past ``max_frames`` the image metrics are those of every stride-th frame, exactly as computed on
    all frames there; the mouth metrics and the pass-through check still see every frame."""
    frames, tracks, dubber, crops = shot
    valid = crops["valid"].copy()
    valid[3] = False  # a cutaway on a frame the stride skips: its edit is still reported
    cutaway = dict(crops, valid=valid)
    full = evaluate_shot(frames, tracks, dubber, cutaway, EvaluationConfig(identity_every=1, max_frames=0))
    cfg = EvaluationConfig(identity_every=1, max_frames=3)
    assert cfg.stride(T) == 2 and cfg.stride(3) == 1 and EvaluationConfig(max_frames=0).stride(10_000) == 1
    sampled = evaluate_shot(frames, tracks, dubber, cutaway, cfg)
    assert sampled["image_metrics_every"] == 2 and full["image_metrics_every"] == 1
    scored = [0, 2, 4]
    for metric in ("psnr", "ssim", "flicker", "head_delta_e"):
        series, reference = (np.array(r["per_frame"][f"{metric}_output"], float) for r in (sampled, full))
        assert np.isnan(series[[1, 3, 5]]).all(), metric
        # Frame 0 has no frame before it: no flicker there, in either run.
        np.testing.assert_array_equal(series[scored], reference[scored], err_msg=metric)
        assert sampled["table"]["output"][metric] == pytest.approx(np.nanmean(reference[scored])), metric
    assert sampled["frames_without_face"] == [3] and sampled["faceless_frames_unchanged"] is False
    for metric in ("lmd", "mouth_corr"):  # (a still mouth has no correlation: NaN in both)
        np.testing.assert_equal(sampled["table"]["output"][metric], full["table"]["output"][metric])
    if "identity" not in sampled["unavailable"]:
        identity = np.array(sampled["per_frame"]["identity_output"], float)
        assert np.isfinite(identity).tolist() == [t % 2 == 0 for t in range(T)]
