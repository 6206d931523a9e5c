"""Atomic file writes and the on-disk formats shared by the stages.

A stage never leaves a half-written file under its final name: everything is written to
a temporary file in the same folder and renamed into place (``os.replace`` is atomic on
POSIX), so a killed job leaves either the old file, nothing, or a complete new one.

Temporary files are named ``.<final name>.<8 random characters><suffix>`` (hidden, never an
output's name) and are locked (``flock``) by their writer while it runs. A writer that
could not clean up (SIGKILL, a lost node) leaves its temporary file unlocked; the next
write of the same output removes it, so a rerun never accumulates multi-GB leftovers.

Write errors keep their ``errno`` and name the final file (not the temporary one), so the
command line can report a full disk or a read-only folder in one line. Frames files of
known size reserve their space up front (``posix_fallocate``): a full disk fails before
decoding starts, not hours later, and never as a SIGBUS on a memory-mapped page.

Formats:
    frames  ``.npy`` uint8 array ``T x H x W x 3`` (RGB, display geometry); read with
            ``mmap_mode="r"`` so a stage can stream frames without holding them all.
    arrays  ``.npz`` of named arrays (meshes, boxes, masks).
    json    UTF-8, indented, with NaN written as null.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: What tempfile puts between prefix and suffix (``tempfile._RandomNameSequence``).
_RANDOM_PART = "[a-z0-9_]{8}"


def _temp_pattern(path: Path, suffix: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(path.name)}\.{_RANDOM_PART}{re.escape(suffix)}\Z")


def remove_stale_temporaries(path: str | Path, suffix: str | None = None) -> list[Path]:
    """Delete temporaries of ``path`` whose writer is gone (killed with SIGKILL); return them.

    A temporary still locked by a live writer is left alone. Errors (a read-only folder)
    are ignored: cleaning up is never a reason to fail.
    """
    path = Path(path)
    pattern = _temp_pattern(path, suffix if suffix is not None else path.suffix)
    removed = []
    try:
        entries = [e for e in os.scandir(path.parent) if pattern.match(e.name)]
    except OSError:
        return removed
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # locked: a live writer (BlockingIOError), or not ours to remove
        finally:
            os.close(fd)
    return removed


def _name_final(err: OSError, tmp: Path, path: Path) -> None:
    """Make a write error name the output (``path``), not its temporary file."""
    if err.filename is None or str(err.filename) == str(tmp):
        err.filename = str(path)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    ``suffix`` defaults to the final file's suffix so that tools that pick a format from
    the extension (numpy, ffmpeg) behave the same on the temporary file. On any exception
    (including SystemExit from a SIGTERM, see :mod:`vdub.cli.main`) the temporary file is removed
    and ``path`` is left as it was. An :class:`OSError` raised for the temporary file (or
    with no file name: a plain ``write``) is re-raised naming ``path``.
    """
    path = Path(path)
    suffix = suffix if suffix is not None else path.suffix
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path, suffix)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as err:
        err.filename = str(path)
        raise
    tmp_path = Path(tmp)
    try:
        # Held until the file is renamed or removed: tells remove_stale_temporaries it is live.
        # Where locks are unsupported (Lustre without -o flock) nothing is cleaned up instead.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        # mkstemp creates 0600 files; outputs should carry the usual umask-based permissions
        # so that other members of a studio's cluster group can read them.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as err:
        _name_final(err, tmp_path, path)
        raise
    finally:
        try:
            if tmp_path.exists():
                tmp_path.unlink()
        finally:
            os.close(fd)


def reserve_space(path: str | Path, size: int, final: str | Path | None = None) -> None:
    """Allocate ``size`` bytes of disk for ``path`` now, so a full disk fails here (ENOSPC).

    File systems without ``fallocate`` support are skipped silently (the write may still
    fail later, with the same clear error).
    """
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return
        raise OSError(err.errno, os.strerror(err.errno), str(final or path)) from None
    finally:
        os.close(fd)


def save_frames(path: str | Path, frames: np.ndarray) -> None:
    """Write ``frames`` (T x H x W x 3 uint8) atomically as ``.npy``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be T x H x W x 3 uint8, got {frames.shape} {frames.dtype}")
    with atomic_path(path) as tmp:
        np.save(tmp, frames)


class FrameWriter:
    """Stream frames into a ``.npy`` file of known shape, renamed into place on close.

    Lets a stage write ``T x H x W x 3`` outputs (``channels=1``: ``T x H x W``, a matte) frame
    by frame with bounded memory. Use as a context manager; on an exception the partial file
    is removed.
    """

    def __init__(self, path: str | Path, n_frames: int, height: int, width: int, channels: int = 3) -> None:
        self._ctx = atomic_path(path)
        self._tmp = self._ctx.__enter__()
        try:
            self._array = np.lib.format.open_memmap(
                self._tmp, mode="w+", dtype=np.uint8,
                shape=(n_frames, height, width) if channels == 1 else (n_frames, height, width, channels),
            )
            # The memmap is a sparse file: without a reservation a full disk would show up
            # as a SIGBUS mid-shot. Reserve all of it now (header + T*H*W*channels bytes).
            reserve_space(self._tmp, os.path.getsize(self._tmp), final=path)
        except BaseException:
            self._array = None
            self._ctx.__exit__(*sys.exc_info())
            raise
        self._next = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one H x W x channels (channels 1: H x W) uint8 frame."""
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


def resume_path_for(out_model: Path) -> Path:
    """Where a training stage keeps its resume checkpoint: beside its final model."""
    out_model = Path(out_model)
    return out_model.with_name(out_model.name + ".resume")
