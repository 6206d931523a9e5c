"""The stage subcommands: one per workflow rule, each parsing its files and settings and calling its
stage function (imported when the subcommand runs: a stage's environment need not hold the others' packages).

``--settings`` is the stage's settings dataclass (:mod:`vdub.workflow.settings`) as JSON, read back by the
command line before the command runs (``a.settings``): every number is the config's, none is a default here."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

from vdub.cli.arguments import add_settings_option, frame_or_timecode
from vdub.core.errors import ShotError
from vdub.workflow.settings import (
    ActorCropsSettings,
    AlignSettings,
    BuiltinDubberSettings,
    EvaluateSettings,
    FaceGeometrySettings,
    IngestActorSettings,
    IngestDubberSettings,
    LivePortraitDubberSettings,
    MasksSettings,
    MasterSettings,
    MuxSettings,
    PretrainSettings,
    ReenactSettings,
    ReferenceSettings,
    SelfPairsSettings,
    SheetSettings,
    SuperResolutionSettings,
    TrainSuperResolutionSettings,
    TrainSwapperSettings,
    VisibilitySettings,
    dubber_settings,
)

log = logging.getLogger("vdub")


def cmd_ingest_actor(a: argparse.Namespace) -> None:
    from vdub.media.ingest import ingest_actor

    s: IngestActorSettings = a.settings
    ingest_actor(a.shot, a.actor_video, a.out_actor, a.out_json, max_frames=s.max_frames, actor_in=a.actor_in,
                 actor_out=a.actor_out, handles=tuple(a.handles))


def cmd_ingest_dubber(a: argparse.Namespace) -> None:
    from vdub.media.ingest import ingest_dubber

    s: IngestDubberSettings = a.settings
    ingest_dubber(a.shot, a.actor_json, a.dubber_video, a.audio or None, a.out_dubber, a.out_audio, a.out_info,
                  s.ingest)


def cmd_face_geometry(a: argparse.Namespace) -> None:
    from vdub.face.stages import face_geometry

    s: FaceGeometrySettings = a.settings
    if (a.actor_face is None) != (s.face_identity is None):
        raise ShotError(a.shot, a.actor_face, "--actor-face and the settings' face_identity go together (rule "
                                              "actor_face_geometry passes both for a shot with an actor_face)")
    follow = None
    if (a.follow_mesh is None) != (a.follow_reference is None):
        raise ShotError(a.shot, a.follow_mesh or a.follow_reference, "--follow-mesh and --follow-reference go together")
    if a.follow_mesh is not None:
        from vdub.face.stages import reference_box

        follow = reference_box(a.follow_mesh, a.follow_reference)
    face_geometry(a.shot, a.frames, a.out, s.face_mesh, a.actor_face, s.face_identity, follow=follow)


def cmd_visibility(a: argparse.Namespace) -> None:
    from vdub.face.stages import visibility

    s: VisibilitySettings = a.settings
    visibility(a.shot, a.actor_frames, a.actor_mesh, a.out_occluders, a.out_visibility, s.visibility)


def cmd_reference(a: argparse.Namespace) -> None:
    from vdub.virtual_dubber.stages import reference

    s: ReferenceSettings = a.settings
    reference(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.override, a.out, s.reference,
              visibility=a.visibility)


def cmd_virtual_dubber(a: argparse.Namespace) -> None:
    from vdub.virtual_dubber.stages import copy_frames, is_faceless

    s: BuiltinDubberSettings | LivePortraitDubberSettings = a.settings
    if is_faceless(a.reference):  # no actor face in the shot: nothing to drive, the actor's frames pass
        copy_frames(a.actor_frames, a.out)
        return
    if isinstance(s, LivePortraitDubberSettings):
        from vdub.virtual_dubber.liveportrait import run_liveportrait

        if a.info is None:
            raise ShotError(a.shot, None, "--info (the ingest info JSON) is required by the liveportrait backend")
        run_liveportrait(a.shot, a.actor_frames, a.dubber_frames, a.reference, a.info, a.out, s.liveportrait)
        return

    from vdub.virtual_dubber.stages import virtual_dubber

    virtual_dubber(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.reference, a.out,
                   s.builtin_dubber, s.smoothing, visibility=a.visibility)


def cmd_virtual_dubber_sheet(a: argparse.Namespace) -> None:
    from vdub.reporting.stages import virtual_dubber_sheet

    s: SheetSettings = a.settings
    virtual_dubber_sheet(a.shot, a.actor_frames, a.actor_mesh, a.dubber_frames, a.dubber_mesh, a.vd_frames,
                         a.reference, a.out, s.sheet_frames)


def cmd_align(a: argparse.Namespace) -> None:
    from vdub.virtual_dubber.stages import align

    s: AlignSettings = a.settings
    align(a.shot, a.actor_frames, a.actor_mesh, a.vd_frames, a.vd_mesh, a.dubber_mesh, a.out_aligned,
          a.out_composite, a.out_mesh, a.out_qa, a.out_plot, s.align, s.smoothing, occluders=a.occluders,
          visibility=a.visibility)


def cmd_actor_crops(a: argparse.Namespace) -> None:
    from vdub.reenactment.stages import actor_crops

    s: ActorCropsSettings = a.settings
    actor_crops(a.shot, a.actor_frames, a.actor_mesh, a.out, s.crop_size, s.masks, occluders=a.occluders)


def cmd_masks(a: argparse.Namespace) -> None:
    from vdub.reenactment.stages import masks

    s: MasksSettings = a.settings
    masks(a.shot, a.actor_crops, a.composite_frames, a.aligned_mesh, a.out, s.masks)


def cmd_self_pairs(a: argparse.Namespace) -> None:
    from vdub.reenactment.stages import self_pairs

    s: SelfPairsSettings = a.settings
    self_pairs(a.shot, a.actor_frames, a.actor_mesh, a.actor_crops, a.override, a.out, s.self_reenactment,
               s.builtin_dubber, s.align, s.smoothing, s.face_mesh, s.masks, s.reference, visibility=a.visibility)


def cmd_train_swapper(a: argparse.Namespace) -> None:
    from vdub.reenactment.stages import train_swapper

    s: TrainSwapperSettings = a.settings
    train_swapper(a.shot, a.crops, a.out_model, a.out_losses, s.swapper, s.train, s.losses, init_model=a.init,
                  self_pairs=a.self_pairs, stop=s.stop, detail=s.paste_detail)


def cmd_train_actor(a: argparse.Namespace) -> None:
    from vdub.reenactment.stages import train_actor

    if a.self_pairs and len(a.self_pairs) != len(a.crops):
        raise SystemExit(f"train-actor: --self-pairs names {len(a.self_pairs)} files for {len(a.crops)} --crops")
    s: TrainSwapperSettings = a.settings
    train_actor(a.actor, a.crops, a.out_model, a.out_losses, s.swapper, s.train, s.losses, init_model=a.init,
                self_pairs=a.self_pairs, stop=s.stop, detail=s.paste_detail)


def cmd_pretrain(a: argparse.Namespace) -> None:
    from vdub.reenactment.stages import pretrain

    s: PretrainSettings = a.settings
    pretrain(a.faces, a.out_model, a.out_losses, s.swapper, s.train, s.losses, s.masks)


def cmd_reenact(a: argparse.Namespace) -> None:
    from vdub.reenactment.stages import reenact

    s: ReenactSettings = a.settings
    reenact(a.shot, a.actor_frames, a.composite_frames, a.crops, a.model, a.out_swapped, a.out_frames, s.paste,
            occluders=a.occluders, visibility=a.visibility)


def cmd_train_sr(a: argparse.Namespace) -> None:
    from vdub.super_resolution.stages import train_super_resolution

    s: TrainSuperResolutionSettings = a.settings
    train_super_resolution(a.shot, a.actor_frames, a.crops, a.swapper, a.out_model, a.out_losses, a.out_holdout,
                           s.sr, s.holdout_every, s.stop)


def cmd_super_resolution(a: argparse.Namespace) -> None:
    from vdub.super_resolution.stages import super_resolution

    s: SuperResolutionSettings = a.settings
    super_resolution(a.shot, a.actor_frames, a.composite_frames, a.crops, a.model, a.swapped, a.out_frames, s.paste,
                     out_matte=a.out_matte, occluders=a.occluders, visibility=a.visibility)


def cmd_mux(a: argparse.Namespace) -> None:
    from vdub.media.mux import mux

    s: MuxSettings = a.settings
    mux(a.shot, a.frames, a.audio, a.info, a.out, crf=s.crf, odd_size=s.odd_size)


def cmd_matte(a: argparse.Namespace) -> None:
    from vdub.media.finishing import matte_stage

    matte_stage(a.shot, a.matte, a.info, a.out)


def cmd_master(a: argparse.Namespace) -> None:
    from vdub.media.finishing import master_stage

    s: MasterSettings = a.settings
    master_stage(a.shot, a.frames, a.matte, a.audio, a.info, a.actor_video, a.out, s.master)


def cmd_evaluate(a: argparse.Namespace) -> None:
    from vdub.evaluation.stages import evaluate

    s: EvaluateSettings = a.settings
    frames = {"actor": a.actor_frames, "composite": a.composite_frames, "reenact": a.reenact_frames,
              "output": a.output_frames}
    evaluate(a.shot, frames, a.actor_mesh, a.dubber_mesh, a.crops, a.out, a.out_qc_thumbnails, s.face_mesh,
             s.evaluation, s.qc, s.paste, model_path=a.model, pairs_path=a.self_pairs, visibility_path=a.visibility)


def cmd_stack(a: argparse.Namespace) -> None:
    from vdub.media.finishing import stack_stage

    stack_stage(a.shot, a.base_frames, a.base_matte, a.frames, a.matte, a.out_frames, a.out_matte)


def cmd_demo(a: argparse.Namespace) -> None:
    from vdub.demo import make_demo

    make_demo(a.out_actor, a.out_dubber)


def add_visibility_options(p: argparse.ArgumentParser) -> None:
    """The rule visibility's files, for the stages that paste the dub (without them: no occluders, no fades)."""
    p.add_argument("--occluders", type=Path, default=None,
                   help="occluders.npy of the rule visibility: the actor's pixels kept in front of the dub")
    p.add_argument("--visibility", type=Path, default=None,
                   help="visibility.npz of the rule visibility: the dub's weight per frame (fades)")


def add_clean_frames_option(p: argparse.ArgumentParser) -> None:
    """The rule visibility's file, for the stages that pick actor frames to render the virtual dubber from."""
    p.add_argument("--visibility", type=Path, default=None,
                   help="visibility.npz of the rule visibility: the reference frame and the inner mouths come from "
                        "frames with nothing in front of the face")


def add_stage_commands(sub: argparse._SubParsersAction, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the stage subcommands to ``sub``, most through ``add(name, func, help, settings=None, paths=())``
    (``settings``: how the stage reads its ``--settings``)."""
    p = add("ingest-actor", cmd_ingest_actor, "decode the actor footage, or the shot's range of it (it defines the "
                                              "shot's fps and length)",
            settings=IngestActorSettings.from_json, paths=("actor-video", "out-actor", "out-json"))
    for option, what in (("in", "first frame"), ("out", "frame after the last")):
        p.add_argument(f"--actor-{option}", type=frame_or_timecode, default=None,
                       help=f"the shot's {what} in the actor video: a frame number, or a timecode HH:MM:SS:FF "
                            "in the file's timecode space (default: the video's start / end)")
    p.add_argument("--handles", type=int, nargs=2, default=(0, 0), metavar=("HEAD", "TAIL"),
                   help="frames at the head and tail of the shot outside the editor's cut (default: 0 0)")
    p = add("ingest-dubber", cmd_ingest_dubber, "conform the dubber take to the actor's fps and length, extract "
                                                "the dubbed audio",
            settings=IngestDubberSettings.from_json,
            paths=("actor-json", "dubber-video", "out-dubber", "out-audio", "out-info"))
    p.add_argument("--audio", type=str, default="", help="explicit dubbed audio (default: the dubber's track)")

    p = add("face-geometry", cmd_face_geometry, "track the 478-point face mesh through a frames file",
            settings=FaceGeometrySettings.from_json, paths=("frames", "out"))
    p.add_argument("--actor-face", type=Path, default=None,
                   help="a still of the actor: among several faces, follow the one most like it (needs the "
                        "settings' face_identity)")
    p.add_argument("--follow-mesh", type=Path, default=None,
                   help="the actor's mesh: with --follow-reference, take the face where the actor's is in the "
                        "reference frame (the virtual dubber's frames)")
    p.add_argument("--follow-reference", type=Path, default=None, help="the reference stage's JSON")

    add("visibility", cmd_visibility, "find hands and objects in front of the actor's face and the dub's weight per "
                                      "frame (faded out where the mouth is covered, the head turned, the face lost "
                                      "or too small)",
        settings=VisibilitySettings.from_json,
        paths=("actor-frames", "actor-mesh", "out-occluders", "out-visibility"))

    p = add("reference", cmd_reference, "score frames and pick the actor's reference and the dubber's neutral",
            settings=ReferenceSettings.from_json,
            paths=("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "out"))
    p.add_argument("--override", type=int, default=None, help="actor frame index to use instead of the best")
    add_clean_frames_option(p)

    p = add("virtual-dubber", cmd_virtual_dubber, "render the virtual dubber (builtin or liveportrait backend, "
                                                  "from the settings' 'backend')",
            settings=dubber_settings,
            paths=("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "reference", "out"))
    p.add_argument("--info", type=Path, default=None,
                   help="ingest info JSON (the actor's frame rate); required by the liveportrait backend")
    add_clean_frames_option(p)

    p = add("virtual-dubber-sheet", cmd_virtual_dubber_sheet,
            "contact sheet PNG: dubber | virtual dubber | actor reference for a few frames",
            settings=SheetSettings.from_json,
            paths=("actor-frames", "actor-mesh", "dubber-frames", "dubber-mesh", "vd-frames", "reference", "out"))

    p = add("align", cmd_align, "smooth meshes, rigidly align the virtual dubber to the actor, render, composite",
            settings=AlignSettings.from_json,
            paths=("actor-frames", "actor-mesh", "vd-frames", "vd-mesh", "dubber-mesh", "out-aligned",
                   "out-composite", "out-mesh", "out-qa", "out-plot"))
    add_visibility_options(p)

    p = add("actor-crops", cmd_actor_crops, "stable head crops and soft head/eyes/mouth masks of the actor frames",
            settings=ActorCropsSettings.from_json, paths=("actor-frames", "actor-mesh", "out"))
    p.add_argument("--occluders", type=Path, default=None,
                   help="occluders.npy of the rule visibility: frames with an occluder on the head are no training "
                        "targets")

    add("masks", cmd_masks, "composite crops and masks in the actor's crop boxes, bundled with the actor's",
        settings=MasksSettings.from_json, paths=("actor-crops", "composite-frames", "aligned-mesh", "out"))

    p = add("self-pairs", cmd_self_pairs, "the self-reenactment pairs: the actor's reference driven by the actor's "
                                          "own track, composited as at inference, against the real frames",
            settings=SelfPairsSettings.from_json, paths=("actor-frames", "actor-mesh", "actor-crops", "out"))
    p.add_argument("--override", type=int, default=None, help="actor reference frame index to use instead of the best")
    add_clean_frames_option(p)

    p = add("train-swapper", cmd_train_swapper, "train the identity-swapping network (resumes after a kill)",
            settings=TrainSwapperSettings.from_json, paths=("crops", "out-model", "out-losses"))
    p.add_argument("--init", type=Path, default=None, help="model to fine-tune from (the actor's model)")
    p.add_argument("--self-pairs", type=Path, default=None,
                   help="self_pairs.npz: its held-out frames are left out, its pairs mixed in (train.self_pair_share)")

    p = sub.add_parser("train-actor", help="train the per-actor model on the actor crops of all its shots",
                       description="train the per-actor model on the actor crops of all its shots")
    p.add_argument("--actor", required=True, help="actor id (named in every error)")
    add_settings_option(p, TrainSwapperSettings.from_json)
    p.add_argument("--crops", type=Path, nargs="+", required=True, help="actor_crops.npz of each of its shots")
    for name in ("out-model", "out-losses"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.add_argument("--init", type=Path, default=None, help="model to start from (the generic pretrained one)")
    p.add_argument("--self-pairs", type=Path, nargs="*", default=[],
                   help="self_pairs.npz of each shot, in the order of --crops")
    p.set_defaults(func=cmd_train_actor)

    p = sub.add_parser("pretrain", help="generic pretraining of the swapper on a folder of face images",
                       description="generic pretraining of the swapper on a folder of face images")
    add_settings_option(p, PretrainSettings.from_json)
    p.add_argument("--faces", type=Path, required=True, help="folder of face images (jpg, png, webp, bmp)")
    for name in ("out-model", "out-losses"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p.set_defaults(func=cmd_pretrain)

    p = add("reenact", cmd_reenact, "swap the composite crops through the actor decoder and paste the head back "
                                    "(settings: the reenact block and the preset's paste 'detail')",
            settings=ReenactSettings.from_json,
            paths=("actor-frames", "composite-frames", "crops", "model", "out-swapped", "out-frames"))
    add_visibility_options(p)

    add("train-sr", cmd_train_sr, "train the identity-specific upscaler on the actor's frames and score it "
                                  "on held-out frames",
        settings=TrainSuperResolutionSettings.from_json,
        paths=("actor-frames", "crops", "swapper", "out-model", "out-losses", "out-holdout"))

    p = add("super-resolution", cmd_super_resolution, "upscale the swapped heads and paste them into the full frame",
            settings=SuperResolutionSettings.from_json,
            paths=("actor-frames", "composite-frames", "crops", "model", "swapped", "out-frames"))
    p.add_argument("--out-matte", type=Path, default=None,
                   help="also write the pasted head's alpha at full resolution (T x H x W uint8 .npy)")
    add_visibility_options(p)

    add("mux", cmd_mux, "encode the frames at the actor's fps and mux the dubbed audio",
        settings=MuxSettings.from_json, paths=("frames", "audio", "info", "out"))

    add("matte", cmd_matte, "encode the matte of the changed pixels losslessly (grey, PNG in .mov)",
        paths=("matte", "info", "out"))

    add("master", cmd_master, "encode the finishing master (ProRes; settings: 'master') with the dubbed audio "
                              "and the actor's timecode",
        settings=MasterSettings.from_json, paths=("frames", "matte", "audio", "info", "actor-video", "out"))

    p = add("evaluate", cmd_evaluate, "the shot's metric table (PSNR, SSIM, LPIPS, FID against the actor; LMD "
                                      "against the dubber; flicker; identity) for actor, composite, reenact, output, "
                                      "and the QC frame ranges with their thumbnails",
            settings=EvaluateSettings.from_json,
            paths=("actor-frames", "composite-frames", "reenact-frames", "output-frames", "actor-mesh", "dubber-mesh",
                   "crops", "out", "out-qc-thumbnails"))
    p.add_argument("--model", type=Path, default=None, help="the shot's swapper: scores the held-out self-reenactment "
                                                            "pairs (with --self-pairs)")
    p.add_argument("--self-pairs", type=Path, default=None, help="the shot's self_pairs.npz")
    p.add_argument("--visibility", type=Path, default=None,
                   help="visibility.npz of the rule visibility: mouth metrics on fully dubbed frames, QC of the "
                        "occluded and faded ranges")

    add("stack", cmd_stack, "a two-shot: this shot's dubbed face composited onto the delivered picture of the shot "
                            "it is 'over' (both dubbed), and the union of their mattes",
        paths=("base-frames", "base-matte", "frames", "matte", "out-frames", "out-matte"))

    add("demo", cmd_demo, "synthesise the embedded demo's actor and dubber clips (labelled synthetic)",
        paths=("out-actor", "out-dubber"))
