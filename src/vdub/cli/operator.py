"""The operator's subcommands: the review products (output sheet, side-by-side preview, the project report)
and the run's state (``status``, ``reprocess``), with their arguments."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from vdub.cli.arguments import add_settings_option, json_object
from vdub.workflow.settings import ConformSettings, ReportSettings, SheetSettings, SideBySideSettings

log = logging.getLogger("vdub")


def cmd_output_sheet(a: argparse.Namespace) -> None:
    from vdub.reporting.stages import output_sheet_files

    s: SheetSettings = a.settings
    output_sheet_files(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.vd_frames, a.vd_mesh,
                       a.output_frames, a.out, s.sheet_frames)


def _pair(text: str, option: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (NAME, VALUE), both non-empty."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"{option} expects NAME=VALUE, got {text!r}")
    return name, value


def _panel(text: str) -> tuple[str, Path]:
    name, path = _pair(text, "--panel")
    return name, Path(path)


def _shot_actor(text: str) -> tuple[str, str]:
    return _pair(text, "--shots")


def cmd_side_by_side(a: argparse.Namespace) -> None:
    from vdub.reporting.side_by_side import side_by_side

    s: SideBySideSettings = a.settings
    side_by_side(a.shot, a.panel, a.audio, a.info, a.out, max_height=s.preview_height, crf=s.preview_crf)


def cmd_report(a: argparse.Namespace) -> None:
    from vdub.reporting.report import build_report, manifest_from_layout

    s: ReportSettings = a.settings
    if a.manifest is not None:
        manifest = json.loads(a.manifest.read_text(encoding="utf-8"))
    else:
        manifest = manifest_from_layout(a.layout, a.shots or [])
    build_report(manifest, a.out, s.report, preset=s.preset, preset_settings=s.preset_settings, ceilings=s.ceilings)


def add_report_commands(sub: argparse._SubParsersAction, add: Callable[..., argparse.ArgumentParser]) -> None:
    add("output-sheet", cmd_output_sheet, "contact sheet PNG: actor | dubber | virtual dubber | output "
                                          "for a few frames",
        settings=SheetSettings.from_json,
        paths=("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "vd-frames", "vd-mesh", "output-frames",
               "out"))

    p = add("side-by-side", cmd_side_by_side, "small preview video: labelled panels side by side (actor | ... | "
                                              "output) at the actor's fps with the dubbed audio",
            settings=SideBySideSettings.from_json)
    p.add_argument("--panel", type=_panel, action="append", required=True,
                   help="NAME=FRAMES.npy, repeated, left to right (names: actor, dubber, virtual_dubber, "
                        "composite, reenact, output)")
    p.add_argument("--audio", type=Path, default=None, help="dubbed audio (default: a silent preview)")
    p.add_argument("--info", type=Path, required=True, help="ingest info JSON (the actor's frame rate)")
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser("report", help="the project report: one self-contained HTML page",
                       description="the project report: one self-contained HTML page")
    add_settings_option(p, ReportSettings.from_json)
    files = p.add_mutually_exclusive_group(required=True)
    files.add_argument("--manifest", type=Path, help="JSON file {shot: {kind: file}}")
    files.add_argument("--layout", type=json_object,
                       help="JSON {kind: path template with {shot} and {actor}}, for the --shots")
    p.add_argument("--shots", type=_shot_actor, nargs="+", default=[], metavar="SHOT=ACTOR",
                   help="the shots, in the report's order (with --layout)")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_report)


def cmd_status(a: argparse.Namespace) -> None:
    from vdub.reporting import run_status

    states = run_status.collect(a.snakemake_args)
    if a.failed:
        print("\n".join(s.shot for s in states if s.needs_run and not s.reel))
    else:
        print(run_status.format_states(states))


def cmd_reprocess(a: argparse.Namespace) -> None:
    import subprocess

    from vdub.reporting import run_status

    states = run_status.collect(a.snakemake_args)
    targets = run_status.reprocess_targets(states)
    if not targets:
        print("every shot is done or only outdated: nothing to reprocess (plain `snakemake` updates outdated ones)")
        return
    print("reprocessing:", ", ".join(s.shot for s in states if s.needs_run), file=sys.stderr)
    # Targets first: an option taking several values (--quiet rules) would swallow them.
    cmd = [sys.executable, "-m", "snakemake", *targets, *a.snakemake_args]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    code = subprocess.run(cmd).returncode
    if code:
        raise SystemExit(code)


def cmd_conform(a: argparse.Namespace) -> None:
    from vdub.editorial.conform import conform

    s: ConformSettings = a.settings
    over = a.over or {}

    def template(kind: str, shot: str) -> str:
        return a.layout["stacked_frames" if kind == "frames" and shot in over else kind]

    files = [(shot, *(Path(template(k, shot).format(shot=shot)) for k in ("info", "frames", "audio", "dubbed")))
             for shot in a.shots]
    conform(a.reel_id, a.reel, files, a.out_video, a.out_dialogue, a.out_timeline, s.codec, a.positions,
            under=set(over.values()))


def cmd_sheet(a: argparse.Namespace) -> None:
    from vdub.editorial.stages import sheet

    sheet(a.out, a.reel, a.actor, a.edit_list, a.takes, a.takes_csv, a.cut_threshold, a.sources, a.handles)


def add_operator_commands(sub: argparse._SubParsersAction) -> None:
    after = ("Arguments after `--` go to Snakemake as the operator runs it (e.g. -- --profile slurm, or "
             "-- -d PROJECT --configfile PROJECT/config.yaml).")
    p = sub.add_parser("sheet", help="write samples.yaml from a reel and its edit list (CMX 3600 .edl, FCP 7 .xml, "
                                     ".otio), or from the reel's detected cuts: one shot per event with a dubber take",
                       description="One shot per event of the edit list (or per shot between the reel's cuts, "
                                   "without one), as a range of the reel or, with --sources, of its camera source "
                                   "with handles, with its dubber take found by a naming "
                                   "rule or listed in a CSV. Events without a take are listed, commented out in the "
                                   "sheet, never guessed.")
    p.add_argument("--reel", type=Path, required=True, help="the reel the edit list was cut into (the actor video)")
    p.add_argument("--actor", required=True, help="the actor id of the shots")
    p.add_argument("--edit-list", type=Path, default=None, help="the edit list; without it, cuts are detected")
    p.add_argument("--takes", default=None, help="naming rule of the takes, relative to the sheet's folder: a path "
                                                 "with {id}, {name} (clip name) or {number} (event), e.g. "
                                                 "'takes/{name}_fr.mp4'")
    p.add_argument("--takes-csv", type=Path, default=None, help="CSV with columns event,dubber_video[,audio] "
                                                                "(event: number, clip name or shot id)")
    p.add_argument("--sources", type=Path, default=None,
                   help="folder of the camera sources the edit list was cut from (files named as its reels or "
                        "clips): an event found there becomes a range of its source, put back at its record position")
    p.add_argument("--handles", type=int, default=0, help="frames beyond each cut to dub as well, as far as the "
                                                          "camera source goes (needs --sources; default 0)")
    p.add_argument("--cut-threshold", type=float, default=0.3, help="ffmpeg scene score that counts as a cut "
                                                                    "(without --edit-list; default 0.3)")
    p.add_argument("--out", type=Path, required=True, help="the sample sheet to write")
    p.set_defaults(func=cmd_sheet)

    p = sub.add_parser("conform", help="the reel with its dubbed shots in place, the dubbed dialogue stem and an "
                                       "OpenTimelineIO timeline (rule conform)",
                       description="The reel with its dubbed shots in place: every other frame the original's, "
                                   "its frame count, rate and timecode; the shots' dubbed audio at their "
                                   "positions; an OpenTimelineIO timeline of the result.")
    p.add_argument("--reel-id", required=True, help="the reel's id (named in the log)")
    add_settings_option(p, ConformSettings.from_json)
    p.add_argument("--reel", type=Path, required=True, help="the reel video the shots' cuts go back into")
    p.add_argument("--layout", type=json_object, required=True,
                   help="JSON {info, frames, audio, dubbed, stacked_frames: path template with {shot}}")
    p.add_argument("--shots", nargs="+", required=True, help="the reel's shots")
    p.add_argument("--over", type=json_object, default={},
                   help="JSON {shot: the shot it is composited onto}: its stacked frames go into the reel for "
                        "both, and both shots' audio onto the dialogue stem")
    p.add_argument("--positions", type=json_object, default={},
                   help="JSON {shot: reel_in}: where the cut of a shot whose actor video is a camera source goes "
                        "(frame number or timecode of the reel); other shots stay at their range")
    for option in ("video", "dialogue", "timeline"):
        p.add_argument(f"--out-{option}", type=Path, required=True)
    p.set_defaults(func=cmd_conform)

    p = sub.add_parser("status", help="each shot's and conformed reel's state (done, failed with its rule and logs, "
                                      "incomplete, outdated) from Snakemake's summary and last run log",
                       description="Each shot's state from `snakemake --summary` and the project's newest "
                                   "Snakemake log. " + after)
    p.add_argument("--failed", action="store_true", help="print only the ids of shots that need a run")
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER, metavar="-- SNAKEMAKE_ARGS")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("reprocess", help="re-run Snakemake on only the shots and conformed reels whose results "
                                         "are missing or incomplete (failed or unfinished), plus the project report",
                       description="Re-run Snakemake on the results of only the failed or unfinished shots and "
                                   "conformed reels. "
                                   + after)
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER, metavar="-- SNAKEMAKE_ARGS")
    p.set_defaults(func=cmd_reprocess)
