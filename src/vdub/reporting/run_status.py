"""Which shots of a project are done, failed or unfinished, from Snakemake's own run state.

An operator reprocesses a batch by shot: after a run with failures, ``vdub status`` lists
each shot's state (and, for a failed one, the rule and the log files Snakemake named), and
``vdub reprocess`` re-runs Snakemake on the results of just the shots whose results are
missing or incomplete. Two records are read, both Snakemake's own:

* ``snakemake --summary``: every output file of the DAG with its status (``ok``,
  ``missing``, ``incomplete``, or why it would be updated);
* the newest ``.snakemake/log/*.snakemake.log`` of a run that executed jobs: its ``Error in rule``
  blocks name the failed jobs' outputs and log files. Under the Slurm profile a shot's rules run
  as group jobs (``prep_<shot>``, ...): an ``Error in group`` block lists every rule of the group,
  and the group job's own log (the cluster job's output, where the rules ran) says which failed.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vdub.core.paths import CONFORMED_VIDEO, DUBBED_VIDEO, PROJECT_RESULTS, REEL_RESULTS, SHOT_RESULTS

_SHOT_PATH = re.compile(r"(?:^|/)(?:work|results|logs|benchmarks)/([^/]+)/")
_NOT_SHOTS = {"actors", "pretrain"}  # work/actors/<actor>/..., work/pretrain/...


def shot_results(shot: str) -> list[str]:
    """The result files of one shot, relative to the project folder."""
    return [t.format(shot=shot) for t in SHOT_RESULTS]


def _id_pattern(template: str, field: str) -> re.Pattern[str]:
    """A path template as a regular expression matching whole paths, ``{field}`` captured (one path part)."""
    return re.compile(re.escape(template).replace(re.escape(f"{{{field}}}"), "([^/]+)"))


@dataclass
class JobError:
    """One failed job as the Snakemake log reports it."""

    rule: str
    outputs: list[str]
    logs: list[str]
    message: str = ""
    group: str | None = None  # the group job it ran in
    group_logs: list[str] = field(default_factory=list)  # that group job's own logs (the cluster job's)


@dataclass
class ShotState:
    """A shot's (or a conformed reel's) state: ``done``, ``failed``, ``incomplete`` (results
    missing, no error recorded: not run yet or killed) or ``outdated`` (results there,
    Snakemake would update them)."""

    shot: str  # the shot id, or "reel <id>" for a conformed reel
    state: str
    missing: list[str] = field(default_factory=list)
    errors: list[JobError] = field(default_factory=list)
    results: list[str] = field(default_factory=list)  # its result files: what reprocessing asks for
    reel: bool = False

    @property
    def needs_run(self) -> bool:
        return self.state in ("failed", "incomplete")


def parse_summary(text: str) -> dict[str, dict[str, str]]:
    """``snakemake --summary`` output (tab-separated, with a header) -> output file -> row."""
    lines = [ln for ln in text.splitlines() if "\t" in ln]
    if not lines or not lines[0].startswith("output_file\t"):
        raise ValueError("not the output of snakemake --summary (no 'output_file' header)")
    return {row["output_file"]: row for row in csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t")}


def _listed(value: str) -> list[str]:
    """A comma-separated ``output``/``log`` value; ``log`` ends with "(check log file(s) for error details)"."""
    value = value.replace("(check log file(s) for error details)", "")
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_errors(log_text: str) -> list[JobError]:
    """The failed jobs of a Snakemake log: its ``Error in rule <name>:`` blocks and its group errors.

    A rule's block is ``key: value`` lines indented 4 spaces; ``output`` and ``log`` are comma
    separated. A failed group job's block (after a timestamp line) begins ``message: Error in
    group <id>``, has the group job's own ``log`` and, under ``jobs:``, every rule of the group
    (``rule <name>:`` at 8 spaces, its ``output`` and ``log`` at 12): one :class:`JobError` per
    rule, with ``group`` set. Snakemake then repeats each of them as an indented ``Error in
    rule`` block, which is skipped here.
    """
    errors: list[JobError] = []
    current: JobError | None = None
    group: JobError | None = None  # the group block being read: its id and logs, no rule
    for line in log_text.splitlines():
        start = re.match(r"^Error in rule (\S+):\s*$", line)
        group_start = re.match(r"^(?:Error in group (\S+?):?|    message: Error in group (\S+))\s*$", line)
        if start:
            current, group = JobError(rule=start.group(1), outputs=[], logs=[]), None
            errors.append(current)
            continue
        if group_start:
            current = None
            group = JobError(rule="", outputs=[], logs=[], group=group_start.group(1) or group_start.group(2))
            continue
        if line and not line.startswith(" "):
            current = group = None  # the block ended
            continue
        entry = re.match(r"^(\s+)(\w+)(?: (\S+))?: ?(.*)$", line)
        if not entry or (current is None and group is None):
            continue
        indent, key, name, value = len(entry.group(1)), entry.group(2), entry.group(3), entry.group(4)
        if group is not None:
            if indent == 4 and key == "log":
                group.group_logs = _listed(value)
            elif indent == 8 and key == "rule" and name:
                current = JobError(rule=name.rstrip(":"), outputs=[], logs=[], message=f"Error in group {group.group}",
                                   group=group.group, group_logs=group.group_logs)
                errors.append(current)
            elif indent == 12 and current is not None and key in ("output", "log"):
                setattr(current, "outputs" if key == "output" else "logs", _listed(value))
        elif indent == 4 and name is None:
            if key == "output":
                current.outputs = _listed(value)
            elif key == "log":
                current.logs = _listed(value)
            elif key == "message":
                current.message = value.strip()
    return errors


def failed_in_groups(errors: Sequence[JobError], project: Path) -> list[JobError]:
    """``errors`` with each failed group narrowed to the rules that failed in it, each failed job once.

    A failed group job's block names all its rules; the rules that failed are the ``Error in
    rule`` blocks of the group job's own log (the cluster job's output, relative to
    ``project``). A group whose log cannot be read keeps all its rules. The same job can be
    named twice (Snakemake's ``--show-failed-logs`` copies the group job's log into its own).
    """
    kept: list[JobError] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    failed: dict[str, set[str] | None] = {}
    for error in errors:
        if error.group is not None and error.group not in failed:
            texts = [(project / log).read_text(errors="replace") for log in error.group_logs
                     if (project / log).is_file()]
            rules = {e.rule for text in texts for e in parse_errors(text) if e.group is None}
            failed[error.group] = rules or None
        key = (error.rule, tuple(error.outputs))
        if (error.group is None or failed[error.group] is None or error.rule in failed[error.group]) \
                and key not in seen:
            seen.add(key)
            kept.append(error)
    return kept


def shot_of_path(path: str) -> str | None:
    """The shot a workflow file belongs to (``work/<shot>/...``, ``results/<shot>/...``)."""
    match = _SHOT_PATH.search(path)
    if not match or match.group(1) in _NOT_SHOTS:
        return None
    return match.group(1)


def _state(name: str, results: list[str], summary: dict[str, dict[str, str]], errors: Sequence[JobError],
           reel: bool = False) -> ShotState:
    """A shot's state from its results' summary rows; its errors: those of jobs writing its files (a shot:
    any file under its folders; a reel: its results)."""
    missing = [f for f in results if summary[f]["status"] in ("missing", "incomplete")]
    own_errors = [e for e in errors if set(e.outputs) & set(results) or
                  (not reel and any(shot_of_path(o) == name for o in e.outputs))]
    if missing:
        state = "failed" if own_errors else "incomplete"
    elif any(summary[f]["plan"] != "no update" for f in results):
        state = "outdated"
    else:
        state = "done"
    return ShotState(name, state, missing, own_errors if missing else [], results, reel)


def shot_states(summary: dict[str, dict[str, str]], errors: Sequence[JobError]) -> list[ShotState]:
    """Every shot of the DAG (each has ``results/<shot>/dubbed.mp4``) with its state, then every
    conformed reel (``results/conformed/<reel>.mov``) as ``reel <id>``."""
    dubbed, conformed = _id_pattern(DUBBED_VIDEO, "shot"), _id_pattern(CONFORMED_VIDEO, "reel")
    shots = sorted({m.group(1) for f in summary if (m := dubbed.fullmatch(f))})
    reels = sorted({m.group(1) for f in summary if (m := conformed.fullmatch(f))})
    states = [_state(shot, [f for f in shot_results(shot) if f in summary], summary, errors) for shot in shots]
    for reel in reels:
        files = [f for f in (t.format(reel=reel) for t in REEL_RESULTS) if f in summary]
        states.append(_state(f"reel {reel}", files, summary, errors, reel=True))
    return states


def latest_log(project: Path) -> Path | None:
    """The newest log of a Snakemake run that executed jobs (None before the first run).

    Dry runs and ``--summary`` (``vdub status`` itself) write logs too; they are skipped.
    """
    for log in sorted((project / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True):
        text = log.read_text(errors="replace")
        if "Select jobs to execute" in text and "This was a dry-run" not in text:
            return log
    return None


def snakemake_summary(snakemake_args: Sequence[str], cwd: Path | None = None) -> dict[str, dict[str, str]]:
    """Run ``snakemake --summary`` with the operator's arguments (profile, config, folder)."""
    cmd = [sys.executable, "-m", "snakemake", "--summary", *snakemake_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return parse_summary(proc.stdout)


def project_folder(snakemake_args: Sequence[str], cwd: Path | None = None) -> Path:
    """The working directory a Snakemake command line runs in (``-d``/``--directory``, else cwd)."""
    args = list(snakemake_args)
    for i, arg in enumerate(args):
        if arg in ("-d", "--directory") and i + 1 < len(args):
            return Path(args[i + 1])
        if arg.startswith("--directory="):
            return Path(arg.split("=", 1)[1])
    return Path(cwd or ".")


def collect(snakemake_args: Sequence[str], cwd: Path | None = None) -> list[ShotState]:
    """The states of all shots of the project that ``snakemake <snakemake_args>`` runs."""
    summary = snakemake_summary(snakemake_args, cwd)
    log = latest_log(project_folder(snakemake_args, cwd))
    errors = parse_errors(log.read_text(errors="replace")) if log else []
    return shot_states(summary, failed_in_groups(errors, project_folder(snakemake_args, cwd)))


def format_states(states: Sequence[ShotState]) -> str:
    """A table for the terminal: shot, state, and for failures the rule and its logs."""
    width = max([len(s.shot) for s in states] + [4])
    lines = [f"{'shot':<{width}}  state       detail"]
    for s in states:
        detail = ""
        if s.errors:
            detail = "; ".join(f"rule {e.rule}, log: {', '.join(e.logs) or '-'}" for e in s.errors)
        elif s.missing:
            detail = f"{len(s.missing)} result(s) missing"
        lines.append(f"{s.shot:<{width}}  {s.state:<10}  {detail}".rstrip())
    return "\n".join(lines)


def reprocess_targets(states: Sequence[ShotState]) -> list[str]:
    """Snakemake targets that rebuild only the shots and reels needing a run (and the project report)."""
    targets = [f for s in states if s.needs_run for f in s.results]
    return targets + list(PROJECT_RESULTS) if targets else []
