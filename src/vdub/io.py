"""Atomic file writes and the on-disk formats shared by the stages.

A stage never leaves a half-written file under its final name: everything is written to
a temporary file in the same folder and renamed into place (``os.replace`` is atomic on
POSIX), so a killed job leaves either the old file, nothing, or a complete new one.

Formats:
    frames  ``.npy`` uint8 array ``T x H x W x 3`` (RGB, display geometry); read with
            ``mmap_mode="r"`` so a stage can stream frames without holding them all.
    arrays  ``.npz`` of named arrays (meshes, boxes, masks).
    json    UTF-8, indented, with NaN written as null.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    ``suffix`` defaults to the final file's suffix so that tools that pick a format from
    the extension (numpy, ffmpeg) behave the same on the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; outputs should carry the usual umask-based permissions
    # so that other members of a studio's cluster group can read them.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_frames(path: str | Path, frames: np.ndarray) -> None:
    """Write ``frames`` (T x H x W x 3 uint8) atomically as ``.npy``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be T x H x W x 3 uint8, got {frames.shape} {frames.dtype}")
    with atomic_path(path) as tmp:
        np.save(tmp, frames)


class FrameWriter:
    """Stream frames into a ``.npy`` file of known shape, renamed into place on close.

    Lets a stage write ``T x H x W x 3`` outputs frame by frame with bounded memory.
    Use as a context manager; on an exception the partial file is removed.
    """

    def __init__(self, path: str | Path, n_frames: int, height: int, width: int) -> None:
        self._ctx = atomic_path(path)
        self._tmp = self._ctx.__enter__()
        self._array = np.lib.format.open_memmap(
            self._tmp, mode="w+", dtype=np.uint8, shape=(n_frames, height, width, 3)
        )
        self._next = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one H x W x 3 uint8 frame."""
        self._array[self._next] = frame
        self._next += 1

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        n_expected = self._array.shape[0]
        self._array.flush()
        del self._array
        if exc_type is None and self._next != n_expected:
            exc = ValueError(f"wrote {self._next} frames, expected {n_expected}")
            self._ctx.__exit__(type(exc), exc, None)
            raise exc
        self._ctx.__exit__(exc_type, exc, tb)


def load_frames(path: str | Path, mmap: bool = True) -> np.ndarray:
    """Read frames written by :func:`save_frames` (memory-mapped by default)."""
    return np.load(path, mmap_mode="r" if mmap else None)


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write named arrays atomically (uncompressed, for speed)."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read all arrays of an ``.npz`` into a dict."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_json(path: str | Path, data: Any) -> None:
    """Write ``data`` atomically as indented JSON (numpy values converted, NaN -> null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
