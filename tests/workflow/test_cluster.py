"""Cluster operation against a real Slurm (started by `.ci/slurm up`; CI does).

One two-shot project of one actor (woman_bluewall, warm start) goes through
`snakemake --profile <profiles/slurm with the local partition>` as operators run it. The
profile's job groups make a shot three Slurm jobs (``prep_<shot>``, ``learn_<shot>``,
``finish_<shot>``) instead of one per rule; only shot `bad`'s actor side is prepared locally
first (as if a previous run had done it):

* shot `good` (dubber man_office) is dubbed in three Slurm jobs (sacct), plus the actor's
  model and the report; the GPU group asks for the (fake) GPU, the others do not;
* its learn job is preempted mid-training (`scontrol requeue`, as Slurm preempts: SIGTERM,
  then the job runs again) and the swapper resumes from the step it was stopped at;
* shot `bad` has a corrupt dubber video (it probes as a video, but no stream decodes): its
  prep job fails three times (two retries, each with more memory), `good` still completes,
  and `vdub status` names the rule that failed inside the group job and its log;
* once the file is fixed, `vdub reprocess` runs only `bad`'s three jobs (and the report),
  whose training starts from the actor's model trained in the first run;
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
#: What runs locally before the Slurm run: `bad`'s actor side (its prep job then fails on the dubber alone).
LOCAL_TARGETS = ("work/bad/actor_crops.npz", "work/bad/self_pairs.npz")
#: The profile's job groups: each a Slurm job per shot.
GROUPS = ("prep", "learn", "finish")
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
    profile["cores"] = cpus  # a group job as wide as the node
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
    """Whether the plugin's job comment is the shot's: a group job's (``rule_<group>_<shot>_<its rules>``)
    or an ungrouped rule's (``rule_<rule>_wildcards_<values joined by _>``)."""
    if any(comment.startswith(f"rule_{group}_{shot_id}_") for group in GROUPS):
        return True
    values = comment.partition("_wildcards_")[2]
    return values == shot_id or values.startswith(f"{shot_id}_")


def group_of(comment: str) -> str:
    """The group job (``prep_good``) or rule (``train_actor``) a job comment names."""
    for group in GROUPS:
        if comment.startswith(f"rule_{group}_"):
            return next(f"{group}_{shot_id}" for shot_id in ("good", "bad") if of_shot(comment, shot_id))
    return comment.removeprefix("rule_").partition("_wildcards_")[0]


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
    """Requeue the shot's learn job once its swapper has passed ``min_step`` (a checkpoint exists)."""
    log = project / "logs" / shot_id / "train_swapper.log"
    resume = project / "work" / shot_id / "swapper" / "model.pt.resume"
    while proc.poll() is None:
        queue = subprocess.run(["squeue", "-h", "-o", "%i|%k|%T"], capture_output=True, text=True).stdout
        job = next((ln.split("|")[0] for ln in queue.splitlines()
                    if ln.split("|")[1].startswith(f"rule_learn_{shot_id}_") and ln.endswith("|RUNNING")), None)
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
    # A few steps where the steps do not matter; the shot's fine-tune long enough to be preempted at step 30,
    # and stopped by its first score past step 50 that gains nothing (the rule's own numbers are the trained
    # project's to show).
    config = plumbing_numbers(yaml.safe_load((project / "config.yaml").read_text()))
    preview = config["presets"]["preview"]
    preview["train"].update(checkpoint_every=25, log_every=5, stop={"every": 25, "patience": 1, "margin": 0.05,
                                                                   "min_steps": 50})
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


def planned_jobs(dry_run: str) -> dict[str, list[str]]:
    """The Slurm jobs a dry run (``-n``) under the profile lists: group id (``prep_good``) or ungrouped rule
    (``train_actor``) -> the rules it runs. ``all`` runs nothing and is left out."""
    jobs: dict[str, list[str]] = {}
    current = None
    for line in dry_run.splitlines():
        group = re.search(r"Group job (\S+) \(jobs", line)
        if group:
            current = jobs.setdefault(group.group(1), [])
        elif re.match(r"^    rule \S+:$", line) and current is not None:
            current.append(line.split()[1].rstrip(":"))
        elif re.match(r"^(local)?rule \S+:$", line):
            name = line.split()[1].rstrip(":")
            current = None
            if name != "all" and not line.startswith("local"):
                jobs.setdefault(name, []).append(name)
    return jobs


def vdub(cluster: dict, command: str, *snakemake_args: str, options: tuple[str, ...] = ()
         ) -> subprocess.CompletedProcess:
    """``vdub <command> <options> -- <the run's Snakemake arguments> <snakemake_args>``."""
    return subprocess.run([sys.executable, "-m", "vdub", command, *options, "--", *cluster["args"], *snakemake_args],
                          capture_output=True, text=True, env=cluster["env"])


def job_outputs(dry_run: str) -> list[str]:
    """The output files of every job a dry run (``-n``) lists."""
    return [f.strip() for line in dry_run.splitlines() if line.startswith("    output: ")
            for f in line.removeprefix("    output: ").split(",")]


def test_good_shot_is_dubbed_through_slurm_in_three_jobs(cluster):
    from vdub.media.video import probe_video

    project = cluster["project"]
    assert cluster["returncode"] != 0, "a failed shot must make the run's exit status non-zero"
    info = probe_video(project / "results" / "good" / "dubbed.mp4")
    assert info.n_frames == N_FRAMES and info.has_audio
    metrics = json.loads((project / "results" / "good" / "metrics.json").read_text())
    assert metrics["frames"] == N_FRAMES and metrics["psnr_outside_head"] > 60
    jobs = sacct_jobs(cluster["since"])
    completed = [j for j in jobs if j["State"] == "COMPLETED"]
    # Every Slurm job the dry run planned for `good` and the actor's model ran, once; the report waits on `bad`.
    planned = cluster["planned"]
    expected = {"prep_good", "learn_good", "finish_good", "train_actor"}
    assert expected <= set(planned), sorted(planned)
    assert sorted(group_of(j["Comment"]) for j in completed) == sorted(expected), [j["Comment"] for j in completed]
    # A shot's 21 rules are three cluster jobs.
    good_rules = sum(len(planned[g]) for g in ("prep_good", "learn_good", "finish_good"))
    good_jobs = {j["JobID"] for j in jobs if of_shot(j["Comment"], "good")}
    assert len(good_jobs) == 3 and good_rules >= 20, (good_jobs, good_rules)
    assert set(planned["learn_good"]) == {"train_swapper", "reenact", "train_sr", "super_resolution"}
    assert {"mux", "evaluate", "matte"} <= set(planned["finish_good"]), planned["finish_good"]
    gpu = {group_of(j["Comment"]): "gres/gpu=1" in j["AllocTRES"] for j in completed}
    assert gpu == {"prep_good": False, "learn_good": True, "finish_good": False, "train_actor": True}, gpu
    cpus = {group_of(j["Comment"]): j["AllocTRES"] for j in completed}
    print(f"shot good: {good_rules} rule jobs in {len(good_jobs)} Slurm jobs; allocations {cpus}; local preparation "
          f"{cluster['local_seconds']:.0f} s, then through Slurm: {cluster['seconds']:.0f} s, {len(jobs)} Slurm jobs")


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
    jobs = [j for j in sacct_jobs(cluster["since"]) if group_of(j["Comment"]) == "prep_bad"]
    assert [j["State"] for j in jobs] == ["FAILED"] * 3, jobs  # the job and its two retries
    memory = [int(j["ReqMem"].removesuffix("M")) for j in jobs]
    assert memory == [memory[0], 2 * memory[0], 3 * memory[0]], jobs
    project = cluster["project"]
    log = project / "logs" / "bad" / "ingest_dubber.log"
    assert "shot 'bad'" in log.read_text() and "bad take.mp4" in log.read_text()
    status = vdub(cluster, "status")
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
    assert rows["good"].split()[1] == "done", status.stdout
    # The group job failed as a whole; status names the rule that failed in it (its cluster log says which).
    assert rows["bad"].split()[1] == "failed" and "rule ingest_dubber" in rows["bad"], status.stdout
    assert "logs/bad/ingest_dubber.log" in rows["bad"] and "rule face_geometry" not in rows["bad"], status.stdout
    assert vdub(cluster, "status", options=("--failed",)).stdout.split() == ["bad"]


@pytest.fixture(scope="module")
def reprocessed(cluster):
    """The bad take replaced by a good file, then `vdub reprocess` through Slurm."""
    project = cluster["project"]
    shutil.copy(MEDIA / "dubber_man_office.mp4", cluster["bad_take"])
    good_results = {f: f.stat().st_mtime_ns for f in (project / "results" / "good").iterdir()}
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
    for done_before in ("ingest_actor", "actor_crops", "train_actor"):
        assert done_before not in counts, counts
    proc = reprocessed["proc"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert probe_video(project / "results" / "bad" / "dubbed.mp4").n_frames == N_FRAMES
    comments = {j["Comment"] for j in sacct_jobs(reprocessed["since"])}
    assert sorted(map(group_of, comments)) == ["finish_bad", "learn_bad", "prep_bad", "report"], comments
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
