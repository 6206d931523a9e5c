"""Errors that name what an operator must fix: the shot and the file."""

from __future__ import annotations

from pathlib import Path


def require_file(path: str | Path, shot: str | None = None, role: str = "file") -> Path:
    """Return ``path`` if it is an existing, non-empty, readable regular file, else raise ShotError."""
    import os

    path = Path(path)
    if not path.exists():
        raise ShotError(shot, path, f"{role} not found")
    if not path.is_file():
        raise ShotError(shot, path, f"{role} is not a regular file")
    if path.stat().st_size == 0:
        raise ShotError(shot, path, f"{role} is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ShotError(shot, path, f"{role} is not readable")
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
