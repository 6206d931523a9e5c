# What the stage files share: wildcard constraints, the targets (all_outputs), a job's shot, a stage's settings.
# A stage's own helpers sit in its file; parse-time checks are in validate.smk, paths in paths.smk.

# json, os and shlex serve the stage files too (every included file shares one namespace).
import json
import os
import re
import shlex

from vdub.reporting.run_status import PROJECT_RESULTS, shot_results


wildcard_constraints:
    shot="|".join(re.escape(s) for s in SHOTS),
    actor="|".join(re.escape(a) for a in ACTORS),
    role="actor|dubber|virtual_dubber",
    reel="|".join(re.escape(r) for r in REELS) or "(?!)",


def all_outputs(wildcards):
    """Every shot's dubbed video, matte, metrics, contact sheets and preview (and master), every reel's
    conform, and the project report."""
    masters = [MASTER.format(shot=s) for s in SHOTS] if config["finishing"]["master"] != "none" else []
    conformed = [t.format(reel=r) for r in REELS for t in (CONFORMED_VIDEO, CONFORMED_DIALOGUE, CONFORMED_TIMELINE)]
    return [f for s in SHOTS for f in shot_results(s)] + masters + conformed + list(PROJECT_RESULTS)


def shot_of(wildcards):
    return SHOTS[wildcards.shot]


def reference_override(wildcards):
    """``--override N`` when samples.yaml fixes the reference frame, else nothing."""
    ref = shot_of(wildcards).reference_frame
    return "" if ref is None else f"--override {int(ref)}"


def settings(*sections, **extra):
    """A stage's settings as one JSON string (the rule's params: a change re-runs the stage)."""
    merged = {}
    for section in sections:
        merged.update(config[section])
    merged.update(extra)
    return json.dumps(merged, sort_keys=True)
