"""The workflow's file paths, relative to the project folder: one name each, spelled once here.

The rules (``rules/paths.smk`` imports these names) and ``vdub status`` (:mod:`vdub.reporting.run_status`) read
the same templates. Templates in ``{shot}`` (a shot's files), ``{actor}`` (an actor's model), ``{role}`` (a face
mesh) or ``{reel}`` (a conformed reel); plain strings, filled with ``str.format``.
"""

WORK = "work/{shot}"  # a shot's intermediate files
RESULTS = "results/{shot}"  # a shot's results

# The embedded demo's clips (demo_input).
DEMO_ACTOR_VIDEO = "resources/demo/actor.mp4"
DEMO_DUBBER_VIDEO = "resources/demo/dubber.mp4"

# ingest_actor, ingest_dubber: decoded frames, the dubbed audio, the shot's timeline.
ACTOR_FRAMES = f"{WORK}/ingest/actor.npy"
ACTOR_INFO = f"{WORK}/ingest/actor.json"
DUBBER_FRAMES = f"{WORK}/ingest/dubber.npy"
DUBBED_AUDIO = f"{WORK}/ingest/audio.wav"
SHOT_INFO = f"{WORK}/ingest/info.json"

# face_geometry: the face mesh of each role (actor, dubber, virtual_dubber).
MESH = f"{WORK}/mesh/{{role}}.npz"
ACTOR_MESH = MESH.replace("{role}", "actor")
DUBBER_MESH = MESH.replace("{role}", "dubber")
VD_MESH = MESH.replace("{role}", "virtual_dubber")

# visibility: the occluders in front of the actor's face and the dub weight per frame.
OCCLUDERS = f"{WORK}/visibility/occluders.npy"
VISIBILITY = f"{WORK}/visibility/visibility.npz"

# reference, virtual_dubber, align.
REFERENCE = f"{WORK}/reference.json"
VD_FRAMES = f"{WORK}/virtual_dubber.npy"
ALIGNED = f"{WORK}/align/aligned.npy"
COMPOSITE = f"{WORK}/align/composite.npy"
ALIGNED_MESH = f"{WORK}/align/mesh.npz"
QA = f"{WORK}/align/qa.json"
QA_PLOT = f"{WORK}/align/qa.png"

# actor_crops, masks, self_pairs: the swapper's training data.
ACTOR_CROPS = f"{WORK}/actor_crops.npz"
CROPS = f"{WORK}/crops.npz"
SELF_PAIRS = f"{WORK}/self_pairs.npz"

# pretrain, train_actor, train_swapper: the generic, the per-actor and the per-shot model.
PRETRAIN_MODEL = "work/pretrain/swapper/model.pt"
PRETRAIN_LOSSES = "work/pretrain/swapper/losses.csv"
ACTOR_MODEL = "work/actors/{actor}/swapper/model.pt"
ACTOR_LOSSES = "work/actors/{actor}/swapper/losses.csv"
SWAPPER_MODEL = f"{WORK}/swapper/model.pt"
SWAPPER_LOSSES = f"{WORK}/swapper/losses.csv"

# reenact: the network's heads and the pasted frames.
SWAPPED = f"{WORK}/reenact/swapped.npy"
REENACT_FRAMES = f"{WORK}/reenact/frames.npy"

# train_sr, super_resolution: the upscaler and the output frames.
SR_MODEL = f"{WORK}/sr/model.pt"
SR_LOSSES = f"{WORK}/sr/losses.csv"
SR_HOLDOUT = f"{WORK}/sr/holdout.json"
OUTPUT_FRAMES = f"{WORK}/sr/frames.npy"
MATTE_FRAMES = f"{WORK}/sr/matte.npy"

# stack: a shot composited onto another's delivered picture (samples.yaml over): both dubbed.
STACKED_FRAMES = f"{WORK}/stack/frames.npy"
STACKED_MATTE = f"{WORK}/stack/matte.npy"

# Frames file of each variant of a shot: the roles of face_geometry, the panels the side-by-side
# preview can show (config report.preview_panels).
FRAMES = {
    "actor": ACTOR_FRAMES,
    "dubber": DUBBER_FRAMES,
    "virtual_dubber": VD_FRAMES,
    "composite": COMPOSITE,
    "reenact": REENACT_FRAMES,
    "output": OUTPUT_FRAMES,
}

# The results: mux, matte, master, evaluate, the contact sheets, the preview and the project report.
DUBBED_VIDEO = f"{RESULTS}/dubbed.mp4"
MATTE = f"{RESULTS}/matte.mov"
MASTER = f"{RESULTS}/master.mov"
METRICS = f"{RESULTS}/metrics.json"
QC_THUMBNAILS = f"{WORK}/qc_thumbnails.npz"  # the worst frame of each QC range, for the report
VD_SHEET = f"{RESULTS}/virtual_dubber_sheet.png"
OUTPUT_SHEET = f"{RESULTS}/output_sheet.png"
SIDE_BY_SIDE = f"{RESULTS}/side_by_side.mp4"
REPORT_HTML = "results/report.html"

# A reel's conform: the reel with its dubbed shots in place, its dialogue stem, its timeline.
CONFORMED_VIDEO = "results/conformed/{reel}.mov"
CONFORMED_DIALOGUE = "results/conformed/{reel}.dialogue.wav"
CONFORMED_TIMELINE = "results/conformed/{reel}.otio"

# What rule all asks of every shot (the master only when finishing.master asks for one), of the project and of
# every conformed reel: what `vdub status` reads a shot's state from and `vdub reprocess` asks for.
SHOT_RESULTS = (DUBBED_VIDEO, MATTE, METRICS, VD_SHEET, OUTPUT_SHEET, SIDE_BY_SIDE)
PROJECT_RESULTS = (REPORT_HTML,)
REEL_RESULTS = (CONFORMED_VIDEO, CONFORMED_DIALOGUE, CONFORMED_TIMELINE)
