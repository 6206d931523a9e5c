# Personalized visual dubbing (Jeon et al.): virtual dubber -> full-head identity swap ->
# identity-specific super-resolution, per shot. See README.md.

import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

try:
    import vdub
except ModuleNotFoundError as err:
    if err.name != "vdub":
        raise
    raise WorkflowError(
        f"vdub is not installed for {sys.executable}: run ./install.sh, then .venv/bin/snakemake (or activate .venv)"
    ) from None


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# envs/*.yaml install this checkout (`-e ${VDUB_ROOT}`): Snakemake gives conda a copy of the
# env file in .snakemake/conda, so a relative path there would not lead back here.
os.environ.update(VDUB_ROOT=workflow.basedir)

# The rules run `python -m vdub`. With no conda env or container per rule, that python must be
# the one running Snakemake (it imports vdub, checked above), also when Snakemake was started as
# .venv/bin/snakemake without activating the venv: its folder goes first on the jobs' PATH.
if not {m.name for m in workflow.deployment_settings.deployment_method} & {"CONDA", "APPTAINER"}:
    _bin = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != _bin:
        os.environ.update(PATH=os.pathsep.join([_bin, os.environ.get("PATH", "")]))

# The image of every rule under `--sdm apptainer` (containers/; null: none).
if config.get("container"):

    container: config["container"]


include: "rules/paths.smk"
include: "rules/validate.smk"
include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/ingest.smk"
include: "rules/face_geometry.smk"
include: "rules/visibility.smk"
include: "rules/reference.smk"
include: "rules/virtual_dubber.smk"
include: "rules/align.smk"
include: "rules/crops_and_masks.smk"
include: "rules/self_pairs.smk"
include: "rules/swapper.smk"
include: "rules/reenact.smk"
include: "rules/sr.smk"
include: "rules/stack.smk"
include: "rules/mux.smk"
include: "rules/finishing.smk"
include: "rules/conform.smk"
include: "rules/evaluate.smk"
include: "rules/reporting.smk"


rule all:
    default_target: True
    input:
        all_outputs,
