"""Cluster operation against a real Slurm (started by `.ci/slurm up`; CI does).

One two-shot project of one actor (woman_bluewall, warm start) goes through
`snakemake --profile <profiles/slurm with the local partition>` as operators run it. The
preparation that needs no cluster (decoding, face meshes, virtual dubber, alignment, crops,
self-pairs) runs locally first; the rest goes through Slurm:

* shot `good` (dubber man_office) is dubbed; every job the Slurm run had left to do went
  through Slurm (sacct), the GPU rules with the (fake) GPU, the others without;
* its training job is preempted mid-run (`scontrol requeue`, as Slurm preempts: SIGTERM,
  then the job runs again) and resumes from the step it was stopped at;
* shot `bad` has a corrupt dubber video (it probes as a video, but no stream decodes): its
  `ingest_dubber` fails three times (two retries, each with more memory), `good` still
  completes, and `vdub status` names the rule and the log;
* once the file is fixed (and its preparation run locally), `vdub reprocess` runs only
  `bad`, whose training starts from the actor's model trained in the first run;
* a new take of `good`'s dubber schedules only `good`'s dubber-side jobs.

Without a reachable Slurm these tests skip (in CI, VDUB_CI=1, a skip is a failure: tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support import MEDIA, REPO, corrupt_copy, job_counts, make_project, plumbing_numbers, snakemake

N_FRAMES = 30
ACTOR = "bluewall"
SITE_KEYS = {"slurm_partition": "local"}  # what a site fills in: here the partition of .ci/slurm
pytestmark = pytest.mark.slow
#: What runs locally before the Slurm run: both shots' actor side and `good`'s dubber side up to its crops.
LOCAL_TARGETS = ("work/good/crops.npz", "work/good/self_pairs.npz", "work/bad/actor_crops.npz",
                 "work/bad/self_pairs.npz")
STATUS_SECONDS = 2
#: `python -m snakemake` with the Slurm executor's status checks every STATUS_SECONDS. The pinned plugin
#: (2.6.0) lengthens its interval by 10 s after every check that finds no finished job, up to 180 s, and
#: has no setting to turn that off: a test run of seconds-long jobs would mostly sleep. The shipped
#: profile is untouched; operators' runs keep the plugin's back-off, which spares a busy cluster.
SNAKEMAKE_POLLING = (
    "import sys; import snakemake_executor_plugin_slurm as slurm; "
    f"slurm.Executor.next_seconds_between_status_checks = property(lambda self: {STATUS_SECONDS}, "
    "lambda self, value: None); from snakemake.cli import main; sys.argv[0] = 'snakemake'; main()")


def _slurm_up() -> bool:
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.split()[:1] in (["idle"], ["mixed"], ["allocated"])


def ci_profile(folder: Path) -> Path:
    """profiles/slurm with the site values of this one-node cluster, written to ``folder``.

    Everything else (resources per rule, retries, GPU requests, keep-going) is the shipped
    profile's: threads are capped at the node's CPUs, memory requests scaled down to what a
    preview job needs, and status polling made quick.
    """
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    cpus = os.cpu_count() or 2
    profile["default-resources"] = dict(profile["default-resources"], mem_mb="1500 * attempt",
                                        runtime="30 * attempt", **SITE_KEYS)
    profile["set-threads"] = {rule: min(int(n), cpus) for rule, n in profile["set-threads"].items()}
    for resources in profile["set-resources"].values():
        if "mem_mb" in resources:
            resources["mem_mb"] = "3000 * attempt"
        if "runtime" in resources:
            resources["runtime"] = "30 * attempt"
    profile.update({"jobs": 4, "latency-wait": 5, "slurm-init-seconds-before-status-checks": STATUS_SECONDS,
                    "seconds-between-status-checks": STATUS_SECONDS})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def shot(shot_id: str, dubber: Path) -> dict:
    return {"id": shot_id, "actor": ACTOR, "actor_video": str(MEDIA / "actor_woman_bluewall.mp4"),
            "dubber_video": str(dubber)}


def of_shot(comment: str, shot_id: str) -> bool:
    """Whether the plugin's job comment (``rule_<rule>_wildcards_<values joined by _>``) is the shot's."""
    values = comment.partition("_wildcards_")[2]
    return values == shot_id or values.startswith(f"{shot_id}_")


def sacct_jobs(since: str) -> list[dict]:
    """Every job (each requeue and retry its own row) since ``since``, from Slurm's accounting."""
    fields = ["JobID", "JobName", "State", "Comment", "ReqMem", "AllocTRES"]
    out = subprocess.run(["sacct", "-X", "-D", "-n", "-P", "-S", since, "-o", ",".join(fields)],
                         capture_output=True, text=True, check=True).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]


def _step_of(log: Path) -> int:
    """The last training step a swapper log reports (0 before the first)."""
    steps = re.findall(r"step (\d+)/", log.read_text(errors="replace")) if log.is_file() else []
    return int(steps[-1]) if steps else 0


def preempt_when_training(project: Path, shot_id: str, proc: subprocess.Popen, min_step: int) -> dict:
    """Requeue the shot's training job once it has passed ``min_step`` (a checkpoint exists)."""
    log = project / "logs" / shot_id / "train_swapper.log"
    resume = project / "work" / shot_id / "swapper" / "model.pt.resume"
    while proc.poll() is None:
        queue = subprocess.run(["squeue", "-h", "-o", "%i|%k|%T"], capture_output=True, text=True).stdout
        job = next((ln.split("|")[0] for ln in queue.splitlines()
                    if ln.split("|")[1] == f"rule_train_swapper_wildcards_{shot_id}" and ln.endswith("|RUNNING")),
                   None)
        step = _step_of(log)
        if job and resume.is_file() and step >= min_step:
            subprocess.run(["scontrol", "requeue", job], check=True)
            # Slurm holds a requeued job for about two minutes (BeginTime) before it may
            # start again; releasing it now keeps the test short and changes nothing else.
            for _ in range(120):
                time.sleep(1)
                state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T|%r"], capture_output=True,
                                       text=True).stdout.strip()
                if state == "PENDING|BeginTime":
                    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
                    break
            return {"job": job, "step": step}
        time.sleep(0.5)
    raise AssertionError("the workflow ended before its training job could be preempted")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not MEDIA.is_dir():
        pytest.skip(f"shared clips not found at {MEDIA}")
    if not _slurm_up():
        pytest.skip("no Slurm cluster answers (sinfo); `sudo .ci/slurm up` starts one on this machine")
    project = tmp_path_factory.mktemp("cluster")
    bad_take = project / "bad take.mp4"  # a space in the path: passed to jobs quoted
    corrupt_copy(MEDIA / "dubber_man_office.mp4", bad_take)
    make_project(project, [shot("good", MEDIA / "dubber_man_office.mp4"), shot("bad", bad_take)],
                 warm_start=True, max_frames=N_FRAMES)
    # A few steps where the steps do not matter; the shot's fine-tune long enough to be preempted at step 30.
    config = plumbing_numbers(yaml.safe_load((project / "config.yaml").read_text()))
    preview = config["presets"]["preview"]
    preview["train"].update(checkpoint_every=25, log_every=5)
    preview["warm_start"].update(actor_iterations=20, finetune_iterations=200)
    preview["sr"].update(iterations=10, checkpoint_every=5)
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    profile = ci_profile(project / "profile")
    started = time.monotonic()
    snakemake(project, "--cores", "2", *LOCAL_TARGETS)
    local_seconds = time.monotonic() - started

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    args = ["-s", str(REPO / "Snakefile"), "-d", str(project), "--configfile", str(project / "config.yaml"),
            "--profile", str(profile)]
    planned = planned_jobs(subprocess.run([sys.executable, "-m", "snakemake", *args, "-n"], capture_output=True,
                                          text=True, env=env, check=True).stdout)
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    started = time.monotonic()
    with open(project / "run.log", "w") as out:
        # Snakemake waits for its running jobs on SIGTERM: `timeout -k` makes sure it ends.
        proc = subprocess.Popen(["timeout", "-k", "30", "1500", sys.executable, "-c", SNAKEMAKE_POLLING, *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
        preempted = preempt_when_training(project, "good", proc, min_step=30)
        returncode = proc.wait()
    return {"project": project, "args": args, "env": env, "since": since, "returncode": returncode,
            "seconds": time.monotonic() - started, "local_seconds": local_seconds, "planned": planned,
            "preempted": preempted, "bad_take": bad_take, "output": (project / "run.log").read_text(errors="replace")}


def planned_jobs(dry_run: str) -> list[str]:
    """The jobs a dry run (``-n``) lists, named as the Slurm plugin comments them (``rule_<rule>_wildcards_<v>``)."""
    jobs: list[list[str]] = []
    for line in dry_run.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            jobs.append([line.split()[1].rstrip(":"), ""])
        elif line.startswith("    wildcards: ") and jobs:
            jobs[-1][1] = "_".join(kv.split("=", 1)[1] for kv in line.removeprefix("    wildcards: ").split(", "))
    return [f"rule_{rule}_wildcards_{values}" if values else f"rule_{rule}" for rule, values in jobs]


def vdub(cluster: dict, command: str, *snakemake_args: str, options: tuple[str, ...] = ()
         ) -> subprocess.CompletedProcess:
    """``vdub <command> <options> -- <the run's Snakemake arguments> <snakemake_args>``."""
    return subprocess.run([sys.executable, "-m", "vdub", command, *options, "--", *cluster["args"], *snakemake_args],
                          capture_output=True, text=True, env=cluster["env"])


def job_outputs(dry_run: str) -> list[str]:
    """The output files of every job a dry run (``-n``) lists."""
    return [f.strip() for line in dry_run.splitlines() if line.startswith("    output: ")
            for f in line.removeprefix("    output: ").split(",")]


def test_good_shot_is_dubbed_through_slurm(cluster):
    from vdub.media.video import probe_video

    project = cluster["project"]
    assert cluster["returncode"] != 0, "a failed shot must make the run's exit status non-zero"
    info = probe_video(project / "results" / "good" / "dubbed.mp4")
    assert info.n_frames == N_FRAMES and info.has_audio
    metrics = json.loads((project / "results" / "good" / "metrics.json").read_text())
    assert metrics["frames"] == N_FRAMES and metrics["psnr_outside_head"] > 60
    jobs = sacct_jobs(cluster["since"])
    # Every job the run had left for `good` and the actor's model (its dry run's list) ran as a Slurm job;
    # what ran locally before did not run again.
    expected = {comment for comment in cluster["planned"] if not of_shot(comment, "bad")} - {"rule_all", "rule_report"}
    completed = {j["Comment"] for j in jobs if j["State"] == "COMPLETED"}
    assert completed == expected, (sorted(completed ^ expected), sorted(expected))
    assert "rule_train_swapper_wildcards_good" in expected and "rule_mux_wildcards_good" in expected, expected
    local = {"ingest_actor", "actor_face_geometry", "face_geometry", "visibility", "align", "masks", "self_pairs"}
    assert not local & {re.sub(r"_wildcards_.*$", "", c).removeprefix("rule_") for c in completed}, completed
    gpu = {j["Comment"]: "gres/gpu=1" in j["AllocTRES"] for j in jobs if j["State"] == "COMPLETED"}
    assert gpu["rule_train_swapper_wildcards_good"] and gpu["rule_train_sr_wildcards_good"], gpu
    assert gpu[f"rule_train_actor_wildcards_{ACTOR}"] and gpu["rule_super_resolution_wildcards_good"], gpu
    assert not gpu["rule_mux_wildcards_good"] and not gpu["rule_evaluate_wildcards_good"], gpu
    print(f"local preparation {cluster['local_seconds']:.0f} s; then through Slurm: {cluster['seconds']:.0f} s, "
          f"{len(jobs)} Slurm jobs")


def test_preempted_training_resumes_from_its_checkpoint(cluster):
    project, preempted = cluster["project"], cluster["preempted"]
    runs = [j for j in sacct_jobs(cluster["since"]) if j["JobID"] == preempted["job"]]
    assert [j["State"] for j in runs] == ["REQUEUED", "COMPLETED"], runs
    log = (project / "logs" / "good" / "train_swapper.log").read_text()
    resumed = re.search(r"resumed from \S+model\.pt\.resume at step (\d+)", log)
    assert resumed, log[-3000:]
    # The SIGTERM handler saved the step it was at, not only the last periodic checkpoint.
    assert int(resumed.group(1)) >= preempted["step"], (resumed.group(0), preempted)
    assert f"from work/actors/{ACTOR}/swapper/model.pt" in log
    assert not (project / "work" / "good" / "swapper" / "model.pt.resume").exists()


def test_corrupt_take_fails_alone_with_growing_retries_and_is_reported(cluster):
    jobs = [j for j in sacct_jobs(cluster["since"]) if j["Comment"] == "rule_ingest_dubber_wildcards_bad"]
    assert [j["State"] for j in jobs] == ["FAILED"] * 3, jobs  # the job and its two retries
    assert [j["ReqMem"] for j in jobs] == ["1500M", "3000M", "4500M"], jobs
    project = cluster["project"]
    log = project / "logs" / "bad" / "ingest_dubber.log"
    assert "shot 'bad'" in log.read_text() and "bad take.mp4" in log.read_text()
    status = vdub(cluster, "status")
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
    assert rows["good"].split()[1] == "done", status.stdout
    assert rows["bad"].split()[1] == "failed" and "rule ingest_dubber" in rows["bad"], status.stdout
    assert "logs/bad/ingest_dubber.log" in rows["bad"], status.stdout
    assert vdub(cluster, "status", options=("--failed",)).stdout.split() == ["bad"]


@pytest.fixture(scope="module")
def reprocessed(cluster):
    """The bad take replaced by a good file, its preparation run locally, then `vdub reprocess` through Slurm."""
    project = cluster["project"]
    shutil.copy(MEDIA / "dubber_man_office.mp4", cluster["bad_take"])
    good_results = {f: f.stat().st_mtime_ns for f in (project / "results" / "good").iterdir()}
    snakemake(project, "--cores", "2", "work/bad/crops.npz")
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    dry = vdub(cluster, "reprocess", "-n", "--quiet", "rules")
    proc = vdub(cluster, "reprocess")
    return {"dry": dry, "proc": proc, "since": since, "good_results": good_results}


def test_reprocess_runs_only_the_fixed_shot_warm_started(cluster, reprocessed):
    from vdub.media.video import probe_video

    project = cluster["project"]
    dry = reprocessed["dry"]
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout)
    assert counts.get("train_swapper") == 1 and counts.get("report") == 1, counts
    for done_before in ("ingest_actor", "actor_crops", "train_actor", "ingest_dubber"):
        assert done_before not in counts, counts
    proc = reprocessed["proc"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert probe_video(project / "results" / "bad" / "dubbed.mp4").n_frames == N_FRAMES
    comments = {j["Comment"] for j in sacct_jobs(reprocessed["since"])}
    assert comments and all(of_shot(c, "bad") or c == "rule_report" for c in comments), comments
    for path, mtime in reprocessed["good_results"].items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was rebuilt"
    log = (project / "logs" / "bad" / "train_swapper.log").read_text()
    assert f"from work/actors/{ACTOR}/swapper/model.pt" in log, log[-2000:]
    status = vdub(cluster, "status")
    assert [line.split()[1] for line in status.stdout.splitlines()[1:]] == ["done", "done"], status.stdout


def test_new_take_reschedules_only_that_shots_dubber_side(cluster, reprocessed):
    project = cluster["project"]
    take = project / "good new take.mp4"
    shutil.copy(MEDIA / "dubber_man_office.mp4", take)
    samples = yaml.safe_load((project / "samples.yaml").read_text())
    samples["shots"][0]["dubber_video"] = str(take)
    (project / "samples.yaml").write_text(yaml.safe_dump(samples))
    dry = snakemake(project, "-n", "--cores", "2", "-p")
    jobs = job_counts(snakemake(project, "-n", "--cores", "2", "--quiet", "rules").stdout)
    assert jobs.get("ingest_dubber") == 1 and jobs.get("train_swapper") == 1 and jobs.get("face_geometry") == 2, jobs
    for actor_side in ("ingest_actor", "actor_face_geometry", "visibility", "actor_crops", "train_actor"):
        assert actor_side not in jobs, jobs
    outputs = job_outputs(dry.stdout)
    assert outputs and not [f for f in outputs if "/bad/" in f], outputs
    training = next(ln for ln in dry.stdout.splitlines() if "vdub train-swapper --shot good" in ln)
    assert f"--init work/actors/{ACTOR}/swapper/model.pt" in training, training
