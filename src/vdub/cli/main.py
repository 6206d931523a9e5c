"""Command line of the pipeline's stages: ``python -m vdub <stage> ...``.

Each Snakemake rule runs exactly one of these subcommands; an operator can run them by
hand on the same files. Stage settings arrive as one JSON object (``--settings``), the
rule's ``params``, so that Snakemake re-runs a stage when its numbers change: the stage's
settings dataclass (:mod:`vdub.workflow.settings`) as the workflow built it from the config.
Exit status 2 and a one-line ``shot '<id>': <file>: <problem>`` message on bad input,
and on an output that cannot be written: a read-only or forbidden folder (checked before
any work) or a full disk (``no space left on device``; frames files reserve their size
up front, so this too comes early). Exit status 143 (128 + SIGTERM) when the stage is
stopped by SIGTERM: the signal is turned into an exception so that every temporary file is
removed on the way out and no output is left half-written (see :mod:`vdub.core.io`); training
stages save their resume checkpoint first.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vdub.cli.arguments import add_shot_options, read_settings
from vdub.cli.operator import add_operator_commands, add_report_commands
from vdub.cli.stages import add_stage_commands
from vdub.core.errors import ShotError, Terminated, TrainingInterrupted, sigterm_as_exit

log = logging.getLogger("vdub")


def build_parser() -> argparse.ArgumentParser:
    """The ``vdub`` argument parser with one subcommand per pipeline stage."""
    parser = argparse.ArgumentParser(prog="vdub", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    def add(name: str, func: Callable[[argparse.Namespace], None], help_: str,
            settings: Callable[[str], Any] | None = None, paths: tuple[str, ...] = ()):
        """A stage subcommand with --shot (and --settings, read by ``settings``), and a required file option per
        name in ``paths``."""
        p = sub.add_parser(name, help=help_, description=help_)
        if name != "demo":
            add_shot_options(p, settings)
        for option in paths:
            p.add_argument(f"--{option}", type=Path, required=True)
        p.set_defaults(func=func)
        return p

    add_stage_commands(sub, add)
    add_report_commands(sub, add)
    add_operator_commands(sub)
    return parser


# --- kills, full disks, read-only folders ---

#: errno -> how an output that cannot be written is described.
_NO_ROOM = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "no space left on device (disk quota exceeded)"}
_NOT_WRITABLE = {errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                 errno.EPERM: "operation not permitted"}


def output_paths(args: argparse.Namespace) -> list[Path]:
    """The files a stage writes: its ``--out*`` options."""
    return [value for name, value in vars(args).items() if name.startswith("out") and isinstance(value, Path)]


def check_writable(outputs: Sequence[Path]) -> None:
    """Create the outputs' folders and write (and delete) a file in each, before any work.

    Raises the OSError (EROFS, EACCES, ...) naming the folder, so that a read-only or
    forbidden output folder fails in a second, not after decoding a shot. Probing by writing
    is the only check that holds for root, ACLs, NFS root squashing and read-only mounts.
    """
    for folder in dict.fromkeys(Path(p).parent for p in outputs):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".vdub-write-test.", dir=folder)
        except OSError as err:
            raise OSError(err.errno, os.strerror(err.errno), str(folder)) from None
        os.close(fd)
        os.unlink(probe)


def describe_write_error(err: OSError, outputs: Sequence[Path]) -> tuple[str, str] | None:
    """``(path, problem)`` for an OSError that means "cannot write the output here"; else None.

    A full disk or quota is reported whatever the file; a permission or read-only error is
    "not writable" for an output (its folder, its temporary file) and "permission denied"
    for anything else (an unreadable input).
    """
    path = str(err.filename) if err.filename is not None else None
    if err.errno in _NO_ROOM:
        return path or str(Path(outputs[0]).parent if outputs else "."), _NO_ROOM[err.errno]
    if err.errno not in _NOT_WRITABLE or path is None:
        return None
    target = Path(os.path.abspath(path))
    ours = {Path(os.path.abspath(p)) for p in outputs}
    if target in ours or target in {p.parent for p in ours} or target.parent in {p.parent for p in ours}:
        return path, f"not writable ({_NOT_WRITABLE[err.errno]})"
    return path, _NOT_WRITABLE[err.errno]


def _report(shot: str | None, path: str | None, problem: str) -> int:
    err = ShotError(shot, path, problem)
    log.error("%s", err)
    print(f"error: {err}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "snakemake_args", None) and args.snakemake_args[0] == "--":
        args.snakemake_args = args.snakemake_args[1:]
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    outputs = output_paths(args)
    shot = getattr(args, "shot", None) or getattr(args, "actor", None)
    # Only the stages (commands with outputs) turn SIGTERM into an exception: `vdub reprocess`
    # would otherwise SIGKILL the Snakemake it runs while unwinding subprocess.run.
    signals = sigterm_as_exit() if outputs else contextlib.nullcontext()
    try:
        with signals:
            if hasattr(args, "read_settings"):
                read_settings(args, shot)
            check_writable(outputs)
            args.func(args)
    except ShotError as err:
        log.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:
        # Stopped by SIGTERM/SIGINT (Slurm preemption, scancel, Ctrl-C) after saving the
        # resume checkpoint: not a bug, so no traceback; 128 + SIGTERM, as a killed job reads.
        log.warning("interrupted: %s", err)
        return 143
    except Terminated as err:
        # Killed outside a training loop: the temporary files are gone, nothing was renamed
        # into place; Snakemake reruns the job.
        log.warning("%sinterrupted by signal %d: stopped, no output written", f"shot '{shot}': " if shot else "",
                    err.signum)
        return err.code
    except OSError as err:
        described = describe_write_error(err, outputs)
        if described is None:
            raise
        return _report(shot, *described)
    return 0


if __name__ == "__main__":
    sys.exit(main())
