"""Errors that name what an operator must fix: the shot and the file."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path


def require_file(path: str | Path, shot: str | None = None, role: str = "file") -> Path:
    """Return ``path`` if it is an existing, non-empty, readable regular file, else raise ShotError.

    Readable means a byte was read: ``os.access`` answers from permission bits, which do not
    bind root and which a network filesystem (root squash, ACLs, an expired ticket) may not
    honour. A FIFO or device is refused as not a regular file before it is opened.
    """
    path = Path(path)
    if not path.exists():
        raise ShotError(shot, path, f"{role} not found")
    if not path.is_file():
        raise ShotError(shot, path, f"{role} is not a regular file")
    if path.stat().st_size == 0:
        raise ShotError(shot, path, f"{role} is empty (0 bytes)")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as err:
        raise ShotError(shot, path, f"{role} is not readable ({err.strerror or err})") from None
    return path


class ShotError(RuntimeError):
    """A problem with one shot's input, reported with the shot id and the offending file.

    The message always reads ``shot '<id>': <path>: <what is wrong>`` so that a failed
    batch can be triaged from the Snakemake log alone.
    """

    def __init__(self, shot: str | None, path: str | Path | None, message: str) -> None:
        self.shot = shot
        self.path = None if path is None else str(path)
        parts = []
        if shot is not None:
            parts.append(f"shot '{shot}'")
        if path is not None:
            parts.append(str(path))
        parts.append(message)
        super().__init__(": ".join(parts))


class TrainingInterrupted(RuntimeError):
    """Raised after a checkpoint was written because the job was asked to stop."""


class Terminated(SystemExit):
    """Raised in a stage by the command line's SIGTERM handler (Snakemake, Slurm, ``kill``).

    A SystemExit (code 128 + signal) rather than an Exception, so that ``except Exception``
    clauses do not swallow it, while ``finally`` blocks and context managers still run and
    remove the stage's temporary files. A training stage installs its own handler for its
    loop (checkpoint first, then :class:`TrainingInterrupted`).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Raise :class:`Terminated` in the main thread on SIGTERM, for the block.

    SIGTERM's default action ends Python on the spot: no ``finally``, so temporary files
    (named as such, never taken for outputs, but possibly gigabytes) and ffmpeg children
    would stay. After the first SIGTERM further ones are ignored so that the clean-up is
    not itself interrupted. A SIGTERM that the parent set to be ignored stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        signal.signal(signum, signal.SIG_IGN)
        raise Terminated(signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
