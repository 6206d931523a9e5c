# Parse-time checks, before any job: config, preset, sample sheet (and stills of actors), LivePortrait, pretraining
# faces, GPEN, LPIPS, FID.
# Defines what they check: PRESET, SHOTS, REELS, ACTORS, PRETRAIN_FACES, PRETRAIN_IMAGES, GPEN_WEIGHTS (and
# SHOT_WILDCARD, the shots' wildcard pattern).

import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vdub.core.errors import ShotError
from vdub.core.samples import SHOT_WILDCARD, check_input_files, load_samples, reels
from vdub.face.actor_still import check_actor_stills
from vdub.face.config import FaceMeshConfig
from vdub.media.probe_cache import PROBE_CACHE, ProbeCache
from vdub.media.sample_checks import probe_input_videos
from vdub.virtual_dubber.config import LivePortraitConfig
from vdub.virtual_dubber.liveportrait import LivePortraitNotInstalled, check_installation

validate(config, schema="../config/schema.yaml")

if config["preset"] not in config["presets"]:
    raise WorkflowError(f"config: preset '{config['preset']}' is not one of {sorted(config['presets'])}")
PRESET = config["presets"][config["preset"]]

# The embedded demo's clips are made by rule demo_input, so they need not exist yet.
DEMO_INPUTS = {DEMO_ACTOR_VIDEO, DEMO_DUBBER_VIDEO}

try:
    SHOTS = {shot.id: shot for shot in load_samples(config["samples"])}
    check_input_files(list(SHOTS.values()), generated=DEMO_INPUTS)
    # Probes are kept across starts by file version: a film's thousands of files are probed once, not at
    # every `snakemake -n`, `vdub status` or reprocessing round.
    _probes = ProbeCache(PROBE_CACHE)
    try:
        probe_input_videos(list(SHOTS.values()), generated=DEMO_INPUTS, cache=_probes)
    finally:
        _probes.save()
    # A still of the actor must show one face: MediaPipe looks, as the actor's tracking will (about 1 s).
    check_actor_stills(list(SHOTS.values()), FaceMeshConfig.from_config(config["face_mesh"], "face_mesh"))
except ShotError as err:
    raise WorkflowError(f"samples: {err}") from None
# The reels that shots are ranges of: each is conformed (rule conform).
REELS = reels(list(SHOTS.values()))

# Shots rendered by LivePortrait need its checkout and weights: a missing file fails now,
# naming the shots, not when the first virtual_dubber job starts hours into a batch.
LIVEPORTRAIT_SHOTS = sorted(
    s for s, shot in SHOTS.items() if (shot.virtual_dubber or config["virtual_dubber"]) == "liveportrait"
)
if LIVEPORTRAIT_SHOTS:
    try:
        check_installation(LivePortraitConfig.from_dict(config["liveportrait"]))
    except (LivePortraitNotInstalled, ValueError) as err:
        names = ", ".join(f"'{s}'" for s in LIVEPORTRAIT_SHOTS)
        raise WorkflowError(
            f"virtual_dubber: shot{'s' if len(LIVEPORTRAIT_SHOTS) > 1 else ''} {names} "
            f"use{'' if len(LIVEPORTRAIT_SHOTS) > 1 else 's'} the liveportrait backend, but {err}"
        ) from None


ACTORS = sorted({shot.actor for shot in SHOTS.values()})

# Generic pretraining (the paper's CelebA-HQ stage) on a folder of face images, if given.
PRETRAIN_FACES = config["pretrain_faces"]
PRETRAIN_IMAGES = []
if PRETRAIN_FACES:
    from vdub.reenactment.pretraining_faces import face_images

    if not os.path.isdir(PRETRAIN_FACES):
        raise WorkflowError(f"pretrain_faces: {PRETRAIN_FACES}: not a folder")
    PRETRAIN_IMAGES = [str(p) for p in face_images(PRETRAIN_FACES)]
    if len(PRETRAIN_IMAGES) < 2:
        raise WorkflowError(
            f"pretrain_faces: {PRETRAIN_FACES}: needs face images (jpg, png, webp, bmp), "
            f"found {len(PRETRAIN_IMAGES)}"
        )

# Released GPEN weights for the gpen SR backend, if given: checked before any job starts.
GPEN_WEIGHTS = config["gpen_weights"]
if GPEN_WEIGHTS and not os.path.isfile(GPEN_WEIGHTS):
    raise WorkflowError(f"gpen_weights: {GPEN_WEIGHTS}: file not found (expected GPEN-BFR-512.pth from yangxy/GPEN)")

# Weights of the evaluation's LPIPS / FID networks, when configured: checked before any job starts.
for _key in ("lpips_weights", "fid_weights"):
    if config["evaluation"][_key] and not os.path.isfile(config["evaluation"][_key]):
        raise WorkflowError(f"evaluation.{_key}: {config['evaluation'][_key]}: file not found")
