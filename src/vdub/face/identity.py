"""Who a face is: dlib face-recognition embeddings of faces located by the MediaPipe mesh.

The face tracker picks the actor by them when a shot gives a still of the actor (:mod:`vdub.face.mesh`), and
the evaluation measures identity preservation with them (:mod:`vdub.evaluation.identity`).

dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) maps an aligned face to a
128-dimensional descriptor whose Euclidean distance separates people: dlib's documented decision threshold is
**0.6** (distance < 0.6: same person; 99.38 % on LFW).  On the shared footage the same person in two frames of a
clip is ~0.1-0.45 apart and different people ~0.6-0.9.  Distances are unitless, in descriptor space (descriptors are
not normalised; their norms are ~1.5).

Faces are *not* found with dlib's detector: the pipeline already tracks a MediaPipe mesh per frame, so the box
handed to dlib's 5-point shape predictor is built from the mesh's face oval (:func:`face_box`).  The box only seeds
the shape predictor, whose eye and nose points then define the 150 x 150 face chip the ResNet sees, so the exact
box size hardly matters (descriptors move by ~0.02-0.06 between this box and dlib's HOG detector's box).

Weights come from local files only: by default from the ``face-recognition-models`` package (which ships dlib's
files unmodified), or from configured paths.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vdub.face.landmarks import FACE_OVAL, N_POINTS

__all__ = [
    "DESCRIPTOR_DIM",
    "RECOGNITION_FILE",
    "SAME_PERSON_THRESHOLD",
    "SHAPE_FILE",
    "IdentityModel",
    "IdentityModelUnavailable",
    "ActorIdentity",
    "default_weight_paths",
    "describe_face",
    "embeddings",
    "face_box",
    "load_identity_model",
]

DESCRIPTOR_DIM = 128
# dlib's own decision threshold for its ResNet descriptors (dlib.net/face_recognition.py.html).
SAME_PERSON_THRESHOLD = 0.6

# Upstream file names and where dlib publishes them (bz2-compressed there; the pip package ships them unpacked).
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
_UPSTREAM_URL = "http://dlib.net/files/{}.bz2"
_MODELS_PACKAGE = "face_recognition_models"
_PIP_HINT = "pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0"

# Side of the square box relative to the face oval's larger extent.  The oval runs from the hairline to the chin;
# 0.85 reproduces the size of dlib's HOG detector boxes on the shared clips, which is what the shape predictor
# was trained on.
_BOX_SCALE = 0.85


class IdentityModelUnavailable(RuntimeError):
    """dlib or the default weight files cannot be had; the message says why (the metric is then unavailable)."""


@dataclass(frozen=True)
class IdentityModel:
    """dlib's shape predictor and face recognition ResNet, with the files they were loaded from."""

    shape_predictor: Any  # dlib.shape_predictor (5- or 68-point)
    recognizer: Any  # dlib.face_recognition_model_v1
    shape_path: Path
    recognition_path: Path


@dataclass(frozen=True)
class ActorIdentity:
    """Who the actor is: the descriptor of a still of the actor, and the model that describes faces like it."""

    model: IdentityModel
    descriptor: np.ndarray  # 128 float32, from describe_face on the still


def default_weight_paths() -> tuple[Path, Path]:
    """(recognition ResNet, 5-point shape predictor) file paths inside the installed ``face_recognition_models``.

    The files are located without importing the package: its ``__init__`` imports ``pkg_resources``, which
    setuptools >= 81 no longer provides, although the files themselves are fine.

    Raises IdentityModelUnavailable when the package is not installed.
    """
    spec = importlib.util.find_spec(_MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise IdentityModelUnavailable(
            f"the {_MODELS_PACKAGE} package is not installed and no identity weight path is configured "
            f"(install it: {_PIP_HINT}, or configure paths to {RECOGNITION_FILE} and {SHAPE_FILE})")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return models / RECOGNITION_FILE, models / SHAPE_FILE


def _require(path: str | Path, expected_name: str, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        state = "is not a regular file" if path.exists() else "not found"
        raise FileNotFoundError(
            f"dlib {what} weights {state}: {path}; expected the upstream file {expected_name} "
            f"(from {_UPSTREAM_URL.format(expected_name)}, unpacked, or the face-recognition-models package); "
            "it is never downloaded at run time")
    return path


def load_identity_model(recognition_weights: str | Path | None = None,
                        shape_weights: str | Path | None = None) -> IdentityModel:
    """Load dlib's face recognition ResNet and shape predictor from local files.

    recognition_weights: path to ``dlib_face_recognition_resnet_model_v1.dat``; shape_weights: path to
    ``shape_predictor_5_face_landmarks.dat`` (dlib's 68-point predictor works too).  None means the copy in the
    ``face-recognition-models`` package.

    Raises FileNotFoundError naming the path and the expected upstream file when a file is missing,
    ValueError when a file is not the dlib model it should be, and IdentityModelUnavailable when dlib is not
    installed or a default path is needed but ``face-recognition-models`` is not installed.
    """
    try:
        import dlib
    except ImportError as exc:
        raise IdentityModelUnavailable(f"dlib is not importable ({exc}); install it: {_PIP_HINT}") from exc

    if recognition_weights is None or shape_weights is None:
        default_recognition, default_shape = default_weight_paths()
        recognition_weights = default_recognition if recognition_weights is None else recognition_weights
        shape_weights = default_shape if shape_weights is None else shape_weights
    recognition_path = _require(recognition_weights, RECOGNITION_FILE, "face recognition ResNet")
    shape_path = _require(shape_weights, SHAPE_FILE, "shape predictor")

    # dlib's own errors on a wrong file ("Error deserializing object of type long") do not say which file.
    try:
        shape_predictor = dlib.shape_predictor(str(shape_path))
    except RuntimeError as exc:
        raise ValueError(f"{shape_path} is not a dlib shape predictor (expected {SHAPE_FILE}): {exc}") from exc
    try:
        recognizer = dlib.face_recognition_model_v1(str(recognition_path))
    except RuntimeError as exc:
        raise ValueError(f"{recognition_path} is not dlib's face recognition ResNet (expected {RECOGNITION_FILE}): "
                         f"{exc}") from exc

    # compute_face_descriptor accepts only 5- or 68-point shapes; fail at load time, not on the first frame.
    probe = shape_predictor(np.zeros((16, 16, 3), np.uint8), dlib.rectangle(0, 0, 15, 15))
    if probe.num_parts not in (5, 68):
        raise ValueError(f"{shape_path} predicts {probe.num_parts} points; dlib's face descriptor needs a "
                         f"5- or 68-point shape predictor ({SHAPE_FILE})")
    return IdentityModel(shape_predictor, recognizer, shape_path, recognition_path)


def face_box(points: np.ndarray) -> tuple[int, int, int, int]:
    """Square face box (left, top, right, bottom) in pixels, from a MediaPipe mesh.

    points: 478 x D (D >= 2), pixels.  The box is centred on the bounding box of the face oval, with side
    0.85 x its larger extent, so that it matches the boxes of dlib's face detector.  It is not clipped to the
    image: clipping would move the box's centre for a face at the border.
    """
    oval = np.asarray(points, np.float64)[FACE_OVAL, :2]
    (x0, y0), (x1, y1) = oval.min(axis=0), oval.max(axis=0)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    half = 0.5 * _BOX_SCALE * max(x1 - x0, y1 - y0)
    return (int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))


def embeddings(model: IdentityModel, frames: np.ndarray | Sequence[np.ndarray], points: np.ndarray,
               valid: np.ndarray, every: int = 1, num_jitters: int = 0) -> np.ndarray:
    """dlib face descriptors of the tracked face in each frame.

    frames: T x H x W x 3 uint8 RGB (an array, an ``np.memmap`` or any indexable sequence of H x W x 3 frames;
    only the frames used are read).  points: T x 478 x 3 MediaPipe mesh in pixels of those frames.  valid: T bool.
    every: describe frames 0, every, 2 * every, ... only (the ResNet costs ~0.1 s per frame on one CPU core).
    num_jitters: dlib's test-time augmentation; 0 and 1 both mean none (deterministic), > 1 averages that many
    randomly jittered chips (slower by that factor).

    Returns T x 128 float32; rows are NaN for frames that are invalid, skipped by ``every``, or whose mesh has
    non-finite points.
    """
    import dlib

    points = np.asarray(points)
    valid = np.asarray(valid, bool)
    n = len(frames)
    if points.ndim != 3 or points.shape[1:] != (N_POINTS, 3):
        raise ValueError(f"points must be T x {N_POINTS} x 3, got {points.shape}")
    if not (len(points) == len(valid) == n):
        raise ValueError(f"frames, points and valid disagree on T: {n}, {len(points)}, {len(valid)}")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")

    out = np.full((n, DESCRIPTOR_DIM), np.nan, np.float32)
    for t in range(0, n, every):
        if not valid[t] or not np.isfinite(points[t][FACE_OVAL, :2]).all():
            continue
        # dlib's pybind layer needs a C-contiguous uint8 H x W x 3 array (a memmap slice or a view may not be).
        image = np.ascontiguousarray(frames[t])
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"frame {t} must be a uint8 H x W x 3 RGB image, got {image.dtype} {image.shape}")
        shape = model.shape_predictor(image, dlib.rectangle(*face_box(points[t])))
        out[t] = np.asarray(model.recognizer.compute_face_descriptor(image, shape, num_jitters), np.float32)
    return out


def describe_face(model: IdentityModel, image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """dlib face descriptor of one face: 128 float32.

    image: H x W x 3 uint8 RGB.  points: 478 x 3 MediaPipe mesh of the face in pixels of ``image`` (its face oval
    seeds the shape predictor, as in :func:`embeddings`).
    """
    import dlib

    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"the image must be a uint8 H x W x 3 RGB image, got {image.dtype} {image.shape}")
    shape = model.shape_predictor(image, dlib.rectangle(*face_box(points)))
    return np.asarray(model.recognizer.compute_face_descriptor(image, shape, 0), np.float32)
