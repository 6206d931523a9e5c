"""Shared fixtures: the real clips in ../shared/media, decoded and tracked once per session."""

from __future__ import annotations

import numpy as np
import pytest
from support import MEDIA, REAL_CLIPS, decode


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
