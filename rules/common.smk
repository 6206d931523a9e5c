# What the stage files share: wildcard constraints, the targets (all_outputs), a job's shot, a stage's settings.
# A stage's own helpers sit in its file; parse-time checks are in validate.smk, paths in paths.smk.

# json and shlex serve the stage files too (every included file shares one namespace).
import json
import re
import shlex

from vdub.workflow.settings import stage_settings, warm_actors


# A shot is any valid id but the project's own folders under work/ and results/: a pattern, not the
# alternation of every id, which Snakemake would match for each of a film's tens of thousands of files.
wildcard_constraints:
    shot=SHOT_WILDCARD,
    actor="|".join(re.escape(a) for a in ACTORS),
    role="actor|dubber|virtual_dubber",
    reel="|".join(re.escape(r) for r in REELS) or "(?!)",


# The shots of each actor, in id order (the per-actor model's training data).
SHOTS_OF_ACTOR = {actor: [s for s, shot in sorted(SHOTS.items()) if shot.actor == actor] for actor in ACTORS}

# The actors whose shots fine-tune a per-actor model (warm_start: true, or auto and enough shots).
WARM_ACTORS = warm_actors(config, {actor: len(shots) for actor, shots in SHOTS_OF_ACTOR.items()})


def warm(wildcards):
    """Whether the job's shot fine-tunes its actor's model."""
    return shot_of(wildcards).actor in WARM_ACTORS


def warm_settings(stage):
    """``settings`` of a stage whose numbers are the fine-tune's for a warm actor's shot, the shot's own
    training's for the others: an input function of the job's shot."""
    return lambda wildcards: stage_settings({**config, "warm_start": warm(wildcards)}, stage).to_json()


def all_outputs(wildcards):
    """Every shot's dubbed video, matte, metrics, contact sheets and preview (and master), every reel's
    conform, and the project report."""
    masters = [MASTER.format(shot=s) for s in SHOTS] if config["finishing"]["master"] != "none" else []
    conformed = [t.format(reel=r) for r in REELS for t in REEL_RESULTS]
    return [t.format(shot=s) for s in SHOTS for t in SHOT_RESULTS] + masters + conformed + list(PROJECT_RESULTS)


def shot_of(wildcards):
    return SHOTS[wildcards.shot]


def reference_override(wildcards):
    """``--override N`` when samples.yaml fixes the reference frame, else nothing."""
    ref = shot_of(wildcards).reference_frame
    return "" if ref is None else f"--override {int(ref)}"


def actor_face_still(wildcards):
    """The shot's still of the actor, when it has one: an input, so that a new still re-runs the actor's track."""
    still = shot_of(wildcards).actor_face
    return [still] if still else []


def actor_face_option(wildcards):
    """``--actor-face <still>`` for a shot with a still of the actor, else nothing."""
    still = shot_of(wildcards).actor_face
    return f"--actor-face {shlex.quote(still)}" if still else ""


def settings(stage):
    """Rule ``stage``'s settings as the JSON its command reads (the rule's params: a changed number re-runs it).

    Built from the config by vdub.workflow.settings, the one place that knows what each stage takes."""
    return stage_settings(config, stage).to_json()


def shot_settings(stage):
    """``settings`` of a stage whose settings are its shot's own choice: an input function of the job's shot."""
    return lambda wildcards: stage_settings(config, stage, shot_of(wildcards)).to_json()


def follow_inputs(wildcards):
    """The virtual dubber's mesh follows the actor's face in the reference frame: the actor's mesh and the
    reference (none for the dubber's)."""
    if wildcards.role != "virtual_dubber":
        return []
    return [ACTOR_MESH.format(shot=wildcards.shot), REFERENCE.format(shot=wildcards.shot)]


def follow_option(wildcards, input):
    """``--follow-mesh M --follow-reference R`` for the virtual dubber's mesh (see follow_inputs)."""
    if not input.follow:
        return ""
    mesh, reference = input.follow
    return f"--follow-mesh {shlex.quote(mesh)} --follow-reference {shlex.quote(reference)}"


def delivered_frames(shot):
    """The frames a shot delivers: its output, or for a shot `over` another, its output composited onto
    that one's (rule stack)."""
    return (STACKED_FRAMES if SHOTS[shot].over else OUTPUT_FRAMES).format(shot=shot)


def delivered_matte(shot):
    """The matte of delivered_frames(shot)."""
    return (STACKED_MATTE if SHOTS[shot].over else MATTE_FRAMES).format(shot=shot)


#: Each reel shot's files the conform reads, as templates with {shot} (a shot `over` another: conform_inputs).
CONFORM_LAYOUT = {"info": ACTOR_INFO, "frames": OUTPUT_FRAMES, "audio": DUBBED_AUDIO, "dubbed": DUBBED_VIDEO}


def conform_inputs(wildcards):
    """Rule conform's input: every reel shot's files (CONFORM_LAYOUT); a shot `over` another delivers its stacked frames."""
    return [
        delivered_frames(s) if kind == "frames" else template.format(shot=s)
        for s in REELS[wildcards.reel][1]
        for kind, template in CONFORM_LAYOUT.items()
    ]
