"""What the tests share besides fixtures: where the checkout and the shared clips are, decoding a clip,
and comparing images that went through float arithmetic. On sys.path through pyproject's pytest
``pythonpath``, so tests in any folder import it as ``support``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"

needs_media = pytest.mark.skipif(not MEDIA.is_dir(), reason=f"shared clips not found at {MEDIA}")

REAL_CLIPS = ("actor_woman_bluewall.mp4", "actor_glasses_man.mp4", "actor_woman_studio.mp4",
              "dubber_man_office.mp4", "dubber_woman_plain.mp4")


def decode(name: str, n_frames: int) -> np.ndarray:
    """The first ``n_frames`` of a shared clip, RGB in display geometry: T x H x W x 3."""
    from vdub.media.video import probe_video, read_frames

    info = probe_video(MEDIA / name)
    return np.stack(list(read_frames(info, max_frames=n_frames)))


def assert_same_image(actual: np.ndarray, expected: np.ndarray, max_share: float = 1e-3) -> None:
    """uint8 images that two float computations made equal up to the final rounding.

    Two routes to the same float result (another batch size, another kernel, another CPU) may
    differ in the last bits, which flips a value lying at .5 to the next grey level: no value may
    be off by more than one level, and at most ``max_share`` of them by one (one pixel of 49,152
    was seen on another machine).
    """
    assert actual.shape == expected.shape and actual.dtype == expected.dtype == np.uint8
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1, f"values differ by up to {diff.max()} grey levels"
    assert (diff > 0).mean() <= max_share, f"{(diff > 0).mean():.2%} of the values differ by one level"
