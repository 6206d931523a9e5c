"""Identity metric (vdub.evaluation.identity; the descriptors: vdub.face.identity): dlib face descriptors on
MediaPipe-seeded boxes, per-frame distances.

The real weights ship in the ``face-recognition-models`` package, so these tests use dlib's actual ResNet: same
person across frames of one clip must come out close, different people far (dlib's threshold is 0.6).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from support import needs_media

from vdub.evaluation.identity import identity_distance, identity_summary, mean_identity_distance
from vdub.face import identity
from vdub.face.identity import (
    DESCRIPTOR_DIM,
    RECOGNITION_FILE,
    SHAPE_FILE,
    IdentityModelUnavailable,
    embeddings,
    face_box,
    load_identity_model,
)

# Frames 0..59 of each clip, every 5th: 0..29 against 30..59 for the same person, 0..59 against 0..59 across people.
N_USED = 60
EVERY = 5


@pytest.fixture(scope="module")
def model():
    try:
        return load_identity_model()
    except IdentityModelUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def astronaut(real_mesh):
    """scikit-image's astronaut photograph (a real face, no media needed) and its mesh: H x W x 3, 478 x 3."""
    from skimage import data

    return data.astronaut(), real_mesh.astype(np.float32)


@pytest.fixture(scope="module")
def real_embeddings(model, real_clips):
    """name -> 60 x 128 descriptors of frames 0..59 (every 5th; other rows NaN)."""
    return {name: embeddings(model, frames[:N_USED], track.points[:N_USED], track.valid[:N_USED], every=EVERY)
            for name, (frames, track) in real_clips.items()}


@pytest.mark.media
@needs_media
@pytest.mark.parametrize("name", ["actor_woman_bluewall.mp4", "actor_glasses_man.mp4", "actor_woman_studio.mp4",
                                  "dubber_man_office.mp4", "dubber_woman_plain.mp4"])
def test_same_person_is_close(real_embeddings, name):
    emb = real_embeddings[name]
    d = identity_distance(emb[:30], emb[30:60])
    assert np.isfinite(d).sum() == 30 // EVERY
    assert mean_identity_distance(d) < 0.45, d[np.isfinite(d)]


@pytest.mark.media
@needs_media
@pytest.mark.parametrize("a, b", [("actor_woman_bluewall.mp4", "actor_woman_studio.mp4"),
                                  ("actor_glasses_man.mp4", "dubber_man_office.mp4")])
def test_different_people_are_far(real_embeddings, a, b):
    d = identity_distance(real_embeddings[a], real_embeddings[b])
    assert np.isfinite(d).sum() == N_USED // EVERY
    assert mean_identity_distance(d) > 0.6, d[np.isfinite(d)]


def test_identical_frames_have_zero_distance(model, astronaut):
    image, mesh = astronaut
    frames = np.stack([image, image])
    emb = embeddings(model, frames, np.stack([mesh, mesh]), np.array([True, True]))
    assert emb.shape == (2, DESCRIPTOR_DIM) and emb.dtype == np.float32
    assert np.isfinite(emb).all()
    assert 1.0 < np.linalg.norm(emb[0]) < 2.0  # dlib descriptors are not unit length; ~1.5 on real faces
    d = identity_distance(emb[:1], emb[1:])
    assert d.shape == (1,) and d[0] < 1e-6


def test_invalid_and_skipped_frames_are_nan_rows(model, astronaut):
    image, mesh = astronaut
    frames = np.stack([image] * 4)
    points = np.stack([mesh] * 4)
    points[3] = np.nan  # a frame marked valid whose mesh is missing must not crash dlib
    valid = np.array([True, False, True, True])

    emb = embeddings(model, frames, points, valid)
    assert np.isfinite(emb[[0, 2]]).all()
    assert np.isnan(emb[[1, 3]]).all()
    # Same face, two places in one batch: equal up to float rounding (distances that matter are > 0.01).
    np.testing.assert_allclose(emb[0], emb[2], rtol=0, atol=1e-6)

    every = embeddings(model, frames, points, np.ones(4, bool), every=2)
    assert np.isfinite(every[[0, 2]]).all() and np.isnan(every[[1, 3]]).all()


def test_frames_from_memmap(model, astronaut, tmp_path):
    image, mesh = astronaut
    frames = np.lib.format.open_memmap(tmp_path / "frames.npy", mode="w+", dtype=np.uint8, shape=(2, *image.shape))
    frames[:] = image
    frames.flush()
    frames = np.load(tmp_path / "frames.npy", mmap_mode="r")
    emb = embeddings(model, frames, np.stack([mesh, mesh]), np.ones(2, bool))
    expected = embeddings(model, image[None], mesh[None], np.ones(1, bool))
    # A batch of two against a batch of one: another BLAS route, equal up to float rounding.
    np.testing.assert_allclose(emb, np.concatenate([expected, expected]), rtol=0, atol=1e-6)


def test_no_face_frame_is_skipped(model, astronaut):
    from vdub.face.mesh import track_faces

    image, _ = astronaut
    rng = np.random.default_rng(0)
    blank = rng.integers(0, 256, image.shape, dtype=np.uint8)
    frames = np.stack([blank, image])
    track = track_faces(iter(frames), len(frames))
    assert track.valid.tolist() == [False, True]

    emb = embeddings(model, frames, track.points, track.valid)
    assert np.isnan(emb[0]).all() and np.isfinite(emb[1]).all()
    d = identity_distance(emb, emb)
    assert np.isnan(d[0]) and d[1] == 0.0
    assert mean_identity_distance(d) == 0.0


def test_missing_weights_name_the_file(tmp_path):
    pytest.importorskip("dlib")
    missing = tmp_path / "nowhere" / "resnet.dat"
    with pytest.raises(FileNotFoundError, match=f"{missing}.*{RECOGNITION_FILE}"):
        load_identity_model(recognition_weights=missing)
    missing_shape = tmp_path / "shape.dat"
    with pytest.raises(FileNotFoundError, match=f"{missing_shape}.*{SHAPE_FILE}"):
        load_identity_model(shape_weights=missing_shape)


def test_wrong_file_is_rejected(model):
    with pytest.raises(ValueError, match=str(model.shape_path)):
        load_identity_model(recognition_weights=model.shape_path)
    with pytest.raises(ValueError, match=str(model.recognition_path)):
        load_identity_model(shape_weights=model.recognition_path)


def test_without_models_package(model, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(identity.importlib.util, "find_spec",
                        lambda name, *a: None if name == "face_recognition_models" else real_find_spec(name, *a))
    with pytest.raises(IdentityModelUnavailable, match="face_recognition_models"):
        load_identity_model()
    # Configured paths do not need the package.
    loaded = load_identity_model(model.recognition_path, model.shape_path)
    assert loaded.recognition_path == Path(model.recognition_path)


def test_face_box_is_square_around_the_eyes(real_mesh):
    left, top, right, bottom = face_box(real_mesh)
    assert right - left == bottom - top > 0
    eyes = real_mesh[[33, 133, 362, 263], :2]
    assert (eyes[:, 0] > left).all() and (eyes[:, 0] < right).all()
    assert (eyes[:, 1] > top).all() and (eyes[:, 1] < bottom).all()


def test_distance_and_summary_with_missing_rows():
    a = np.zeros((3, DESCRIPTOR_DIM), np.float32)
    b = np.zeros((3, DESCRIPTOR_DIM), np.float32)
    b[0, 0] = 0.3
    b[2, 0] = 0.9
    a[1] = np.nan
    d = identity_distance(a, b)
    np.testing.assert_allclose(d[[0, 2]], [0.3, 0.9], rtol=1e-6)
    assert np.isnan(d[1])
    summary = identity_summary(d)
    assert summary["frames"] == 2 and summary["frac_over_threshold"] == 0.5
    assert summary["mean"] == pytest.approx(0.6)
    assert np.isnan(mean_identity_distance(np.full(4, np.nan)))
    assert np.isnan(identity_summary(np.full(4, np.nan))["mean"])
    with pytest.raises(ValueError):
        identity_distance(a, b[:2])
