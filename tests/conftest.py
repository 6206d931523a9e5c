"""Shared fixtures: the real clips in ../shared/media, decoded and tracked once per session, and the one
trained preview project the workflow tests read."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import yaml
from support import (
    MARGINS,
    MEDIA,
    REAL_CLIPS,
    TRAINED_FRAMES,
    TRAINED_SHOT,
    TRAINED_TIMECODE,
    decode,
    make_project,
    real_shot,
    snakemake,
    write_stand_in_perceptual_weights,
)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's torch tests on one thread (bit-reproducible; no contention on 2 cores)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _tracked_clip(name: str, n_frames: int):
    from vdub.face.mesh import track_faces

    if not MEDIA.is_dir():
        pytest.skip(f"shared clips not found at {MEDIA}")
    frames = decode(name, n_frames)
    return frames, track_faces(iter(frames), len(frames))


@pytest.fixture(scope="session")
def actor_clip():
    """45 frames of actor_woman_bluewall.mp4 (700x700, 30 fps) with their face track."""
    return _tracked_clip("actor_woman_bluewall.mp4", 45)


@pytest.fixture(scope="session")
def dubber_clip():
    """45 frames of dubber_man_office.mp4 (512x512, 25 fps) with their face track."""
    return _tracked_clip("dubber_man_office.mp4", 45)


@pytest.fixture(scope="session")
def real_clips():
    """The first 90 frames of every shared clip with their face tracks: name -> (frames, FaceTrack)."""
    return {name: _tracked_clip(name, 90) for name in REAL_CLIPS}


@pytest.fixture(scope="session")
def real_tracks(real_clips):
    """Face tracks of the first 90 frames of every shared clip: name -> FaceTrack (pixels)."""
    return {name: track for name, (_, track) in real_clips.items()}


@pytest.fixture(scope="session")
def real_mesh():
    """MediaPipe's mesh of scikit-image's astronaut photograph (a real face): 478 x 3 px."""
    from skimage import data

    from vdub.face.mesh import track_image

    points = track_image(data.astronaut())
    assert points is not None
    return points.astype(np.float64)


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory):
    """The project folder of the shared pair after ``snakemake --cores 2`` at the preview preset's own numbers.

    Training a real pair takes minutes on 2 CPU cores, so it is done once per session, and every test
    that needs a trained shot reads this folder or copies it (``support.copy_project``); none writes into
    it. One shot (support.TRAINED_SHOT), the actor file with a timecode (a stream copy, outside the
    project so that copies name the same file), a ProRes 4444 master, and LPIPS and FID computed on
    stand-in weights in the upstream files' format (support.write_stand_in_perceptual_weights).
    """
    if not MEDIA.is_dir():
        pytest.skip(f"shared clips not found at {MEDIA}")
    workdir = tmp_path_factory.mktemp("trained_project")
    media = tmp_path_factory.mktemp("trained_media")
    actor = media / "actor_tc.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_woman_bluewall.mp4"), "-map", "0", "-c", "copy",
                    "-timecode", TRAINED_TIMECODE, str(actor)], check=True)
    lpips_weights, fid_weights = write_stand_in_perceptual_weights(media / "weights")
    make_project(workdir, [dict(real_shot(TRAINED_SHOT), actor_video=str(actor))], max_frames=TRAINED_FRAMES)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["finishing"]["master"] = "prores_4444"
    config["evaluation"].update(lpips_weights=str(lpips_weights), fid_weights=str(fid_weights))
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2")
    return workdir


def pytest_terminal_summary(terminalreporter):
    """How close each learned-quality check came to its bound (support.assert_margin)."""
    if MARGINS:
        terminalreporter.section("learned-quality margins")
        for line in MARGINS:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With VDUB_CI=1 (.ci/run) a skipped test fails: CI installs every dependency a test could skip for
    (the shared clips, Slurm, Chromium, dlib...), so a skip there means one is missing, not that a
    test does not apply."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("VDUB_CI") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (VDUB_CI=1), where nothing may be missing: {reason}"
