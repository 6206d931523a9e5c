# Helpers shared by the rules: config and sample-sheet validation, wildcard constraints,
# input functions and per-stage settings. Runs once, before any job is scheduled.

import json
import os
import re

import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vdub.core.errors import ShotError
from vdub.virtual_dubber.liveportrait import LivePortraitConfig, LivePortraitNotInstalled, check_installation
from vdub.reporting.run_status import PROJECT_RESULTS, shot_results
from vdub.core.samples import check_input_files, load_samples, probe_input_videos


validate(config, schema="../config/schema.yaml")

if config["preset"] not in config["presets"]:
    raise WorkflowError(f"config: preset '{config['preset']}' is not one of {sorted(config['presets'])}")
PRESET = config["presets"][config["preset"]]

# The embedded demo's clips are made by rule demo_input, so they need not exist yet.
DEMO_INPUTS = {"resources/demo/actor.mp4", "resources/demo/dubber.mp4"}

try:
    SHOTS = {shot.id: shot for shot in load_samples(config["samples"])}
    check_input_files(list(SHOTS.values()), generated=DEMO_INPUTS)
    probe_input_videos(list(SHOTS.values()), generated=DEMO_INPUTS)
except ShotError as err:
    raise WorkflowError(f"samples: {err}") from None

# Shots rendered by LivePortrait need its checkout and weights: a missing file fails now,
# naming the shots, not when the first virtual_dubber job starts hours into a batch.
LIVEPORTRAIT_SHOTS = sorted(s for s, shot in SHOTS.items()
                            if (shot.virtual_dubber or config["virtual_dubber"]) == "liveportrait")
if LIVEPORTRAIT_SHOTS:
    try:
        check_installation(LivePortraitConfig.from_dict(config["liveportrait"]))
    except (LivePortraitNotInstalled, ValueError) as err:
        names = ", ".join(f"'{s}'" for s in LIVEPORTRAIT_SHOTS)
        raise WorkflowError(f"virtual_dubber: shot{'s' if len(LIVEPORTRAIT_SHOTS) > 1 else ''} {names} "
                            f"use{'' if len(LIVEPORTRAIT_SHOTS) > 1 else 's'} the liveportrait backend, but {err}"
                            ) from None


ACTORS = sorted({shot.actor for shot in SHOTS.values()})

# Generic pretraining (the paper's CelebA-HQ stage) on a folder of face images, if given.
PRETRAIN_FACES = config["pretrain_faces"]
PRETRAIN_IMAGES = []
if PRETRAIN_FACES:
    from vdub.reenactment.pretrain import face_images

    if not os.path.isdir(PRETRAIN_FACES):
        raise WorkflowError(f"pretrain_faces: {PRETRAIN_FACES}: not a folder")
    PRETRAIN_IMAGES = [str(p) for p in face_images(PRETRAIN_FACES)]
    if len(PRETRAIN_IMAGES) < 2:
        raise WorkflowError(f"pretrain_faces: {PRETRAIN_FACES}: needs face images (jpg, png, webp, bmp), "
                            f"found {len(PRETRAIN_IMAGES)}")


wildcard_constraints:
    shot="|".join(re.escape(s) for s in SHOTS),
    actor="|".join(re.escape(a) for a in ACTORS),
    role="actor|dubber|virtual_dubber",


def all_outputs(wildcards):
    """Every shot's dubbed video, metrics, contact sheets and preview, and the project report."""
    return [f for s in SHOTS for f in shot_results(s)] + list(PROJECT_RESULTS)


def shot_of(wildcards):
    return SHOTS[wildcards.shot]


def actor_video(wildcards):
    return shot_of(wildcards).actor_video


def dubber_video(wildcards):
    return shot_of(wildcards).dubber_video


def shot_audio(wildcards):
    """The explicit dubbed-audio file as a list (empty: the dubber video's own track)."""
    audio = shot_of(wildcards).audio
    return [audio] if audio else []


def reference_override(wildcards):
    """``--override N`` when samples.yaml fixes the reference frame, else nothing."""
    ref = shot_of(wildcards).reference_frame
    return "" if ref is None else f"--override {int(ref)}"


def dubber_backend(wildcards):
    return shot_of(wildcards).virtual_dubber or config["virtual_dubber"]


def audio_argument(wildcards, input):
    """``--audio <file>`` (shell-quoted) when the shot has an explicit dubbed-audio file."""
    return f"--audio {shlex.quote(input.audio[0])}" if input.audio else ""


def dubber_settings(wildcards):
    """Settings of the virtual-dubber stage: the shot's backend and that backend's settings only.

    Each backend gets only its own numbers, so that changing LivePortrait's settings does not
    re-run builtin shots (nor builtin numbers LivePortrait shots). LivePortrait's sit under
    their own key: its names and the builtin's never meet in one namespace.
    """
    backend = dubber_backend(wildcards)
    if backend == "liveportrait":
        return settings(backend=backend, liveportrait=config["liveportrait"])
    return settings("builtin_dubber", backend=backend, smoothing=config["smoothing"])


def actor_crops_of(wildcards):
    """The actor crops of every shot of one actor (the per-actor model's training data)."""
    return [f"work/{s}/actor_crops.npz" for s, shot in sorted(SHOTS.items()) if shot.actor == wildcards.actor]


def self_pairs_of(wildcards):
    """The self-reenactment pairs of every shot of one actor, in the order of actor_crops_of."""
    return [f"work/{s}/self_pairs.npz" for s, shot in sorted(SHOTS.items()) if shot.actor == wildcards.actor]


# Released GPEN weights for the gpen SR backend, if given: checked before any job starts.
GPEN_WEIGHTS = config["gpen_weights"]
if GPEN_WEIGHTS and not os.path.isfile(GPEN_WEIGHTS):
    raise WorkflowError(f"gpen_weights: {GPEN_WEIGHTS}: file not found (expected GPEN-BFR-512.pth from yangxy/GPEN)")


def gpen_weights():
    """The GPEN weights file as a list, when the preset's SR backend uses it (else empty)."""
    return [GPEN_WEIGHTS] if GPEN_WEIGHTS and PRESET["sr"].get("backend") == "gpen" else []


def sr_settings():
    """SR training's settings: the preset's sr block with the configured GPEN weights.

    The paste gets only the `reenact` block (sr_paste_settings), so that a paste setting never
    retrains the upscaler.
    """
    sr = dict(PRESET["sr"])
    if gpen_weights():
        sr["gpen_weights"] = os.path.abspath(GPEN_WEIGHTS)
    return json.dumps({"crop_size": PRESET["crop_size"], "sr": sr}, sort_keys=True)


def sr_paste_settings():
    """The SR paste's settings: colour matching and stabilisation of the pasted head, and the preset's paste form."""
    return json.dumps({"reenact": config["reenact"], "detail": PRESET["paste"]["detail"]}, sort_keys=True)


# Weights of the evaluation's LPIPS / FID networks, when configured: checked before any job starts.
for _key in ("lpips_weights", "fid_weights"):
    if config["evaluation"][_key] and not os.path.isfile(config["evaluation"][_key]):
        raise WorkflowError(f"evaluation.{_key}: {config['evaluation'][_key]}: file not found")


def evaluation_weights():
    """The configured LPIPS / FID weight files (inputs of evaluate: a new file re-scores)."""
    return [config["evaluation"][k] for k in ("lpips_weights", "fid_weights") if config["evaluation"][k]]


def pretrained_model():
    """The generic pretrained model as a list (empty without `pretrain_faces`)."""
    return ["work/pretrain/swapper/model.pt"] if PRETRAIN_FACES else []


def actor_model_of(wildcards):
    """What the shot's swapper fine-tunes from: the actor's model, else the generic one, else nothing."""
    if config["warm_start"]:
        return [f"work/actors/{SHOTS[wildcards.shot].actor}/swapper/model.pt"]
    return pretrained_model()


def swapper_settings(**train_overrides):
    """Settings of a swapper training rule: the preset's, with some training numbers replaced.

    The losses are the config's `losses` block with the preset's `losses` numbers over it.
    """
    train = {**PRESET["train"], **train_overrides}
    losses = {**config["losses"], **PRESET.get("losses", {})}
    return json.dumps({"crop_size": PRESET["crop_size"], "swapper": PRESET["swapper"], "train": train,
                       "losses": losses}, sort_keys=True)


def init_argument(wildcards, input):
    """``--init <model>`` when the rule starts from another model."""
    return f"--init {shlex.quote(input.init[0])}" if input.init else ""


def settings(*sections, **extra):
    """A stage's settings as one JSON string (the rule's params: a change re-runs the stage)."""
    merged = {}
    for section in sections:
        merged.update(config[section])
    merged.update(extra)
    return json.dumps(merged, sort_keys=True)


def frames_of_role(wildcards):
    return {
        "actor": f"work/{wildcards.shot}/ingest/actor.npy",
        "dubber": f"work/{wildcards.shot}/ingest/dubber.npy",
        "virtual_dubber": f"work/{wildcards.shot}/virtual_dubber.npy",
    }[wildcards.role]


# --- rules/report.smk: the output contact sheet, the side-by-side preview and the project report ---

# Frames file of each panel the side-by-side preview can show (config report.preview_panels).
PANEL_FRAMES = {
    "actor": "work/{shot}/ingest/actor.npy",
    "dubber": "work/{shot}/ingest/dubber.npy",
    "virtual_dubber": "work/{shot}/virtual_dubber.npy",
    "composite": "work/{shot}/align/composite.npy",
    "reenact": "work/{shot}/reenact/frames.npy",
    "output": "work/{shot}/sr/frames.npy",
}


def preview_panel_frames(wildcards):
    """The frames files of the preview's panels, named ``panel_<name>``, in config order."""
    return {f"panel_{p}": PANEL_FRAMES[p].format(shot=wildcards.shot) for p in config["report"]["preview_panels"]}


def preview_panel_arguments(wildcards, input):
    """``--panel name=file`` per panel, left to right, shell-quoted."""
    args = []
    for panel in config["report"]["preview_panels"]:
        frames = input[f"panel_{panel}"]
        args.append(f"--panel {shlex.quote(f'{panel}={frames}')}")
    return " ".join(args)


def report_layout():
    """What the report shows of each shot: kind -> path template ({shot}, {actor}); `vdub report --layout`."""
    layout = {
        "metrics": "results/{shot}/metrics.json",
        "dubbed": "results/{shot}/dubbed.mp4",
        "side_by_side": "results/{shot}/side_by_side.mp4",
        "output_sheet": "results/{shot}/output_sheet.png",
        "vd_sheet": "results/{shot}/virtual_dubber_sheet.png",
        "qa": "work/{shot}/align/qa.json",
        "qa_plot": "work/{shot}/align/qa.png",
        "holdout": "work/{shot}/sr/holdout.json",
        "swapper_losses": "work/{shot}/swapper/losses.csv",
        "sr_losses": "work/{shot}/sr/losses.csv",
    }
    if config["warm_start"]:
        layout["actor_losses"] = "work/actors/{actor}/swapper/losses.csv"
    return layout


def report_inputs(wildcards):
    """Every file the report shows, of every shot."""
    return [t.format(shot=s, actor=shot.actor) for s, shot in sorted(SHOTS.items()) for t in report_layout().values()]


def report_shots(wildcards):
    """``shot=actor`` per shot, shell-quoted: the shots of `vdub report --shots`, one short argument each
    (a single JSON argument of every path would hit the kernel's 128 KiB limit on one argument)."""
    return " ".join(shlex.quote(f"{s}={shot.actor}") for s, shot in sorted(SHOTS.items()))
