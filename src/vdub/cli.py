"""Command line of the pipeline's stages: ``python -m vdub <stage> ...``.

Each Snakemake rule runs exactly one of these subcommands; an operator can run them by
hand on the same files. Stage settings arrive as one JSON object (``--settings``), the
rule's ``params``, so that Snakemake re-runs a stage when its numbers change.
Exit status 2 and a one-line ``shot '<id>': <file>: <problem>`` message on bad input,
and on an output that cannot be written: a read-only or forbidden folder (checked before
any work) or a full disk (``no space left on device``; frames files reserve their size
up front, so this too comes early). Exit status 143 (128 + SIGTERM) when the stage is
stopped by SIGTERM: the signal is turned into an exception so that every temporary file is
removed on the way out and no output is left half-written (see :mod:`vdub.io`); training
stages save their resume checkpoint first.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ShotError, Terminated, TrainingInterrupted, sigterm_as_exit

log = logging.getLogger("vdub")


def _settings(text: str) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--settings must be a JSON object")
    return value


def _common(p: argparse.ArgumentParser, settings: bool = True) -> None:
    p.add_argument("--shot", required=True, help="shot id (named in every error)")
    if settings:
        p.add_argument("--settings", type=_settings, default={}, help="stage settings as a JSON object")


def cmd_ingest_actor(a: argparse.Namespace) -> None:
    from .ingest import IngestConfig, ingest_actor

    ingest_actor(a.shot, a.actor_video, a.out_actor, a.out_json, IngestConfig.from_dict(a.settings))


def cmd_ingest_dubber(a: argparse.Namespace) -> None:
    from .ingest import IngestConfig, ingest_dubber

    ingest_dubber(a.shot, a.actor_json, a.dubber_video, a.audio or None, a.out_dubber, a.out_audio, a.out_info,
                  IngestConfig.from_dict(a.settings))


def cmd_face_geometry(a: argparse.Namespace) -> None:
    from .face_mesh import FaceMeshConfig
    from .pipeline import face_geometry

    face_geometry(a.shot, a.frames, a.out, FaceMeshConfig.from_dict(a.settings))


def cmd_reference(a: argparse.Namespace) -> None:
    from .pipeline import reference
    from .reference import ReferenceConfig

    reference(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.override, a.out,
              ReferenceConfig.from_dict(a.settings))


def cmd_virtual_dubber(a: argparse.Namespace) -> None:
    settings = dict(a.settings)
    backend = settings.pop("backend", "builtin")
    if backend == "liveportrait":
        _liveportrait_dubber(a, settings)
        return
    if backend != "builtin":
        raise ShotError(a.shot, None, f"virtual dubber backend '{backend}' is unknown (builtin, liveportrait)")

    from .pipeline import virtual_dubber
    from .smoothing import SmoothingConfig
    from .virtual_dubber import VirtualDubberConfig

    smoothing = SmoothingConfig.from_dict(settings.pop("smoothing", {}))
    virtual_dubber(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.reference, a.out,
                   VirtualDubberConfig.from_dict(settings), smoothing)


def _liveportrait_dubber(a: argparse.Namespace, settings: dict[str, Any]) -> None:
    """The liveportrait backend: its settings sit under their own ``liveportrait`` key.

    The builtin backend's keys are not accepted here: the workflow sends a LivePortrait shot
    only LivePortrait's settings (so builtin numbers never re-run it), and a stray key is
    more likely a mistake than something to ignore.
    """
    from .liveportrait import LivePortraitConfig, run_liveportrait

    cfg = LivePortraitConfig.from_dict(settings.pop("liveportrait", None))
    if settings:
        raise ShotError(a.shot, None, f"settings {sorted(settings)} do not apply to the liveportrait backend "
                                      "(its settings go under the 'liveportrait' key)")
    if a.info is None:
        raise ShotError(a.shot, None, "--info (the ingest info JSON) is required by the liveportrait backend")
    run_liveportrait(a.shot, a.actor_frames, a.dubber_frames, a.reference, a.info, a.out, cfg)


def cmd_virtual_dubber_sheet(a: argparse.Namespace) -> None:
    from .pipeline import virtual_dubber_sheet

    virtual_dubber_sheet(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.vd_frames,
                         a.reference, a.out, a.frames)


def cmd_align(a: argparse.Namespace) -> None:
    from .alignment import AlignConfig
    from .pipeline import align
    from .smoothing import SmoothingConfig

    settings = dict(a.settings)
    smoothing = SmoothingConfig.from_dict(settings.pop("smoothing", {}))
    align(a.shot, a.actor_frames, a.actor_mesh, a.vd_frames, a.vd_mesh, a.dubber_mesh, a.out_aligned,
          a.out_composite, a.out_mesh, a.out_qa, a.out_plot, AlignConfig.from_dict(settings), smoothing)


def _mask_settings(a: argparse.Namespace):
    from .masks import MaskConfig

    settings = dict(a.settings)
    crop_size = int(settings.pop("crop_size", 0))
    return crop_size, MaskConfig.from_dict(settings)


def cmd_actor_crops(a: argparse.Namespace) -> None:
    from .pipeline import actor_crops

    crop_size, cfg = _mask_settings(a)
    actor_crops(a.shot, a.actor_frames, a.actor_mesh, a.out, crop_size, cfg)


def cmd_masks(a: argparse.Namespace) -> None:
    from .pipeline import masks

    _, cfg = _mask_settings(a)
    masks(a.shot, a.actor_crops, a.composite_frames, a.aligned_mesh, a.out, cfg)


def cmd_self_pairs(a: argparse.Namespace) -> None:
    from .pipeline import self_pairs

    self_pairs(a.shot, a.actor_frames, a.actor_mesh, a.actor_crops, a.override, a.out, a.settings)


def cmd_train_swapper(a: argparse.Namespace) -> None:
    from .pipeline import train_swapper

    train_swapper(a.shot, a.crops, a.out_model, a.out_losses, a.settings, init_model=a.init, self_pairs=a.self_pairs)


def cmd_train_actor(a: argparse.Namespace) -> None:
    from .pipeline import train_actor

    if a.self_pairs and len(a.self_pairs) != len(a.crops):
        raise SystemExit(f"train-actor: --self-pairs names {len(a.self_pairs)} files for {len(a.crops)} --crops")
    train_actor(a.actor, a.crops, a.out_model, a.out_losses, a.settings, init_model=a.init, self_pairs=a.self_pairs)


def cmd_pretrain(a: argparse.Namespace) -> None:
    from .masks import MaskConfig
    from .pipeline import pretrain

    settings = dict(a.settings)
    mask_cfg = MaskConfig.from_dict(settings.pop("masks", {}))
    pretrain(a.faces, a.out_model, a.out_losses, settings, mask_cfg)


def cmd_reenact(a: argparse.Namespace) -> None:
    from .pipeline import reenact
    from .stabilise import StabiliseConfig

    settings = dict(a.settings)
    detail = float(settings.pop("detail", 0.0))
    reenact(a.shot, a.actor_frames, a.composite_frames, a.crops, a.model, a.out_swapped, a.out_frames,
            StabiliseConfig.from_dict(settings), detail)


def cmd_train_sr(a: argparse.Namespace) -> None:
    from .pipeline import train_super_resolution

    train_super_resolution(a.shot, a.actor_frames, a.crops, a.swapper, a.out_model, a.out_losses, a.out_holdout,
                           a.settings)


def cmd_super_resolution(a: argparse.Namespace) -> None:
    from .pipeline import super_resolution

    super_resolution(a.shot, a.actor_frames, a.composite_frames, a.crops, a.model, a.swapped, a.out_frames,
                     a.settings)


def cmd_mux(a: argparse.Namespace) -> None:
    from .pipeline import mux

    mux(a.shot, a.frames, a.audio, a.info, a.out, crf=int(a.settings.get("crf", 18)),
        odd_size=a.settings.get("odd_size", "exact"))


def cmd_evaluate(a: argparse.Namespace) -> None:
    from .evaluation import EvaluationConfig
    from .face_mesh import FaceMeshConfig
    from .pipeline import evaluate

    settings = dict(a.settings)
    frames = {"actor": a.actor_frames, "composite": a.composite_frames, "reenact": a.reenact_frames,
              "output": a.output_frames}
    evaluate(a.shot, frames, a.actor_mesh, a.dubber_mesh, a.crops, a.out, FaceMeshConfig.from_dict(settings.get(
        "face_mesh")), EvaluationConfig.from_dict(settings.get("evaluation")), model_path=a.model,
             pairs_path=a.self_pairs, detail=float(settings.get("detail", 0.0)))


def cmd_demo(a: argparse.Namespace) -> None:
    from .demo import make_demo

    make_demo(a.out_actor, a.out_dubber)


# --- report: output contact sheet, side-by-side preview, project report (rules/report.smk) ---


def cmd_output_sheet(a: argparse.Namespace) -> None:
    from .report import output_sheet_files

    output_sheet_files(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.vd_frames, a.vd_mesh,
                       a.output_frames, a.out, int(a.settings.get("sheet_frames", 6)))


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
    from .side_by_side import side_by_side

    side_by_side(a.shot, a.panel, a.audio, a.info, a.out, max_height=int(a.settings.get("preview_height", 360)),
                 crf=int(a.settings.get("preview_crf", 26)))


def cmd_report(a: argparse.Namespace) -> None:
    from .report import ReportConfig, build_report, manifest_from_layout

    settings = dict(a.settings)
    preset = str(settings.pop("preset", ""))
    preset_settings = settings.pop("preset_settings", None)
    if a.manifest is not None:
        manifest = json.loads(a.manifest.read_text(encoding="utf-8"))
    else:
        manifest = manifest_from_layout(a.layout, a.shots or [])
    build_report(manifest, a.out, ReportConfig.from_dict(settings), preset=preset, preset_settings=preset_settings)


def _add_report_commands(sub: argparse._SubParsersAction, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("output-sheet", cmd_output_sheet, "contact sheet PNG: actor | dubber | virtual dubber | output "
                                              "for a few frames")
    for name in ("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "vd-frames", "vd-mesh",
                 "output-frames", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("side-by-side", cmd_side_by_side, "small preview video: labelled panels side by side (actor | ... | "
                                              "output) at the actor's fps with the dubbed audio")
    p.add_argument("--panel", type=_panel, action="append", required=True,
                   help="NAME=FRAMES.npy, repeated, left to right (names: actor, dubber, virtual_dubber, "
                        "composite, reenact, output)")
    p.add_argument("--audio", type=Path, default=None, help="dubbed audio (default: a silent preview)")
    p.add_argument("--info", type=Path, required=True, help="ingest info JSON (the actor's frame rate)")
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser("report", help="the project report: one self-contained HTML page",
                       description="the project report: one self-contained HTML page")
    p.add_argument("--settings", type=_settings, default={},
                   help="the report section of the config, plus 'preset' and 'preset_settings'")
    files = p.add_mutually_exclusive_group(required=True)
    files.add_argument("--manifest", type=Path, help="JSON file {shot: {kind: file}}")
    files.add_argument("--layout", type=_settings,
                       help="JSON {kind: path template with {shot} and {actor}}, for the --shots")
    p.add_argument("--shots", type=_shot_actor, nargs="+", default=[], metavar="SHOT=ACTOR",
                   help="the shots, in the report's order (with --layout)")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_report)


def cmd_status(a: argparse.Namespace) -> None:
    from . import run_status

    states = run_status.collect(a.snakemake_args)
    if a.failed:
        print("\n".join(s.shot for s in states if s.needs_run))
    else:
        print(run_status.format_states(states))


def cmd_reprocess(a: argparse.Namespace) -> None:
    import subprocess

    from . import run_status

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


def _add_operator_commands(sub: argparse._SubParsersAction) -> None:
    after = ("Arguments after `--` go to Snakemake as the operator runs it (e.g. -- --profile slurm, or "
             "-- -d PROJECT --configfile PROJECT/config.yaml).")
    p = sub.add_parser("status", help="each shot's state (done, failed with its rule and logs, incomplete, "
                                      "outdated) from Snakemake's summary and last run log",
                       description="Each shot's state from `snakemake --summary` and the project's newest "
                                   "Snakemake log. " + after)
    p.add_argument("--failed", action="store_true", help="print only the ids of shots that need a run")
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER, metavar="-- SNAKEMAKE_ARGS")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("reprocess", help="re-run Snakemake on only the shots whose results are missing or "
                                         "incomplete (failed or unfinished), plus the project report",
                       description="Re-run Snakemake on the results of only the failed or unfinished shots. "
                                   + after)
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER, metavar="-- SNAKEMAKE_ARGS")
    p.set_defaults(func=cmd_reprocess)


def build_parser() -> argparse.ArgumentParser:
    """The ``vdub`` argument parser with one subcommand per pipeline stage."""
    parser = argparse.ArgumentParser(prog="vdub", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    def add(name: str, func: Callable[[argparse.Namespace], None], help_: str, settings: bool = True):
        p = sub.add_parser(name, help=help_, description=help_)
        if name != "demo":
            _common(p, settings)
        p.set_defaults(func=func)
        return p

    p = add("ingest-actor", cmd_ingest_actor, "decode the actor footage (it defines the shot's fps and length)")
    for name in ("actor-video", "out-actor", "out-json"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p = add("ingest-dubber", cmd_ingest_dubber, "conform the dubber take to the actor's fps and length, extract "
                                                "the dubbed audio")
    for name in ("actor-json", "dubber-video", "out-dubber", "out-audio", "out-info"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--audio", type=str, default="", help="explicit dubbed audio (default: the dubber's track)")

    p = add("face-geometry", cmd_face_geometry, "track the 478-point face mesh through a frames file")
    p.add_argument("--frames", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)

    p = add("reference", cmd_reference, "score frames and pick the actor's reference and the dubber's neutral")
    for name in ("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--override", type=int, default=None, help="actor frame index to use instead of the best")

    p = add("virtual-dubber", cmd_virtual_dubber, "render the virtual dubber (builtin or liveportrait backend, "
                                                  "from the settings' 'backend')")
    for name in ("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "reference", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--info", type=Path, default=None,
                   help="ingest info JSON (the actor's frame rate); required by the liveportrait backend")

    p = add("virtual-dubber-sheet", cmd_virtual_dubber_sheet,
            "contact sheet PNG: dubber | virtual dubber | actor reference for a few frames", settings=False)
    for name in ("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "vd-frames", "reference", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--frames", type=int, default=6, help="how many frames to show (default 6)")

    p = add("align", cmd_align, "smooth meshes, rigidly align the virtual dubber to the actor, render, composite")
    for name in ("actor-frames", "actor-mesh", "vd-frames", "vd-mesh", "dubber-mesh", "out-aligned",
                 "out-composite", "out-mesh", "out-qa", "out-plot"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("actor-crops", cmd_actor_crops, "stable head crops and soft head/eyes/mouth masks of the actor frames")
    for name in ("actor-frames", "actor-mesh", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("masks", cmd_masks, "composite crops and masks in the actor's crop boxes, bundled with the actor's")
    for name in ("actor-crops", "composite-frames", "aligned-mesh", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("self-pairs", cmd_self_pairs, "the self-reenactment pairs: the actor's reference driven by the actor's "
                                          "own track, composited as at inference, against the real frames")
    for name in ("actor-frames", "actor-mesh", "actor-crops", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--override", type=int, default=None, help="actor reference frame index to use instead of the best")

    p = add("train-swapper", cmd_train_swapper, "train the identity-swapping network (resumes after a kill)")
    for name in ("crops", "out-model", "out-losses"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--init", type=Path, default=None, help="model to fine-tune from (the actor's model)")
    p.add_argument("--self-pairs", type=Path, default=None,
                   help="self_pairs.npz: its held-out frames are left out, its pairs mixed in (train.self_pair_share)")

    p = sub.add_parser("train-actor", help="train the per-actor model on the actor crops of all its shots",
                       description="train the per-actor model on the actor crops of all its shots")
    p.add_argument("--actor", required=True, help="actor id (named in every error)")
    p.add_argument("--settings", type=_settings, default={}, help="stage settings as a JSON object")
    p.add_argument("--crops", type=Path, nargs="+", required=True, help="actor_crops.npz of each of its shots")
    for name in ("out-model", "out-losses"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--init", type=Path, default=None, help="model to start from (the generic pretrained one)")
    p.add_argument("--self-pairs", type=Path, nargs="*", default=[],
                   help="self_pairs.npz of each shot, in the order of --crops")
    p.set_defaults(func=cmd_train_actor)

    p = sub.add_parser("pretrain", help="generic pretraining of the swapper on a folder of face images",
                       description="generic pretraining of the swapper on a folder of face images")
    p.add_argument("--settings", type=_settings, default={}, help="stage settings as a JSON object")
    p.add_argument("--faces", type=Path, required=True, help="folder of face images (jpg, png, webp, bmp)")
    for name in ("out-model", "out-losses"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.set_defaults(func=cmd_pretrain)

    p = add("reenact", cmd_reenact, "swap the composite crops through the actor decoder and paste the head back "
                                    "(settings: the reenact block and the preset's paste 'detail')")
    for name in ("actor-frames", "composite-frames", "crops", "model", "out-swapped", "out-frames"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("train-sr", cmd_train_sr, "train the identity-specific upscaler on the actor's frames and score it "
                                      "on held-out frames")
    for name in ("actor-frames", "crops", "swapper", "out-model", "out-losses", "out-holdout"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("super-resolution", cmd_super_resolution, "upscale the swapped heads and paste them into the full "
                                                      "frame")
    for name in ("actor-frames", "composite-frames", "crops", "model", "swapped", "out-frames"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("mux", cmd_mux, "encode the frames at the actor's fps and mux the dubbed audio")
    for name in ("frames", "audio", "info", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)

    p = add("evaluate", cmd_evaluate, "the shot's metric table (PSNR, SSIM, LPIPS, FID against the actor; LMD "
                                      "against the dubber; flicker; identity) for actor, composite, reenact, output")
    for name in ("actor-frames", "composite-frames", "reenact-frames", "output-frames", "actor-mesh", "dubber-mesh",
                 "crops", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--model", type=Path, default=None, help="the shot's swapper: scores the held-out self-reenactment "
                                                            "pairs (with --self-pairs)")
    p.add_argument("--self-pairs", type=Path, default=None, help="the shot's self_pairs.npz")

    p = add("demo", cmd_demo, "synthesise the embedded demo's actor and dubber clips (labelled synthetic)")
    p.add_argument("--out-actor", type=Path, required=True)
    p.add_argument("--out-dubber", type=Path, required=True)

    _add_report_commands(sub, add)
    _add_operator_commands(sub)
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
