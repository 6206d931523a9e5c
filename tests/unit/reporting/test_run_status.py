"""`vdub status` / `vdub reprocess`: shot states from Snakemake's summary and run log."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from support import MEDIA, REPO, corrupt_copy, make_project, needs_media

from vdub.reporting import run_status

SUMMARY_HEADER = "output_file\tdate\trule\tlog-file(s)\tstatus\tplan"


def summary(rows: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    """A parsed summary from {file: (status, plan)}, through the real parser."""
    lines = [SUMMARY_HEADER] + [f"{f}\t-\trule\t-\t{status}\t{plan}" for f, (status, plan) in rows.items()]
    return run_status.parse_summary("Building DAG of jobs...\n" + "\n".join(lines))


def results(shot: str, status: str = "ok", plan: str = "no update") -> dict[str, tuple[str, str]]:
    return {f: (status, plan) for f in run_status.shot_results(shot)}


SLURM_LOG = ".snakemake/slurm_logs/rule_ingest_dubber/bad/7.log"
ERROR_BLOCK = f"""\
[Tue Nov 24 08:09:43 2026]
Error in rule ingest_dubber:
    message: None
    jobid: 2
    input: work/bad/ingest/actor.json, bad take.mp4
    output: work/bad/ingest/dubber.npy, work/bad/ingest/audio.wav, work/bad/ingest/info.json
    log: logs/bad/ingest_dubber.log, {SLURM_LOG} (check log file(s) for error details)
    shell:
        python -m vdub ingest-dubber --shot bad
        (command exited with non-zero exit code)
Logfile logs/bad/ingest_dubber.log:
"""


def test_error_blocks_give_rule_outputs_and_logs():
    (error,) = run_status.parse_errors("Select jobs to execute...\n" + ERROR_BLOCK + "Error in rule")
    assert error.rule == "ingest_dubber" and error.message == "None"
    assert error.outputs == ["work/bad/ingest/dubber.npy", "work/bad/ingest/audio.wav", "work/bad/ingest/info.json"]
    assert error.logs == ["logs/bad/ingest_dubber.log", SLURM_LOG]


GROUP_LOG = ".snakemake/slurm_logs/group_prep_bad_align_face_geometry_ingest_dubber_masks_reference_.../319.log"
#: A failed group job as Snakemake 9.27 logs it under the Slurm profile (cut from a real run of
#: tests/workflow/test_cluster.py): the block lists every rule of the group, then repeats each indented.
GROUP_ERROR_BLOCK = f"""\
[Sat Dec  5 05:15:44 2026]
    message: Error in group prep_bad
    log: /project/{GROUP_LOG} (check log file(s) for error details)
    jobs:
        rule face_geometry:
            jobid: 36
            output: work/bad/mesh/virtual_dubber.npz
            log: logs/bad/face_geometry_virtual_dubber.log (check log file(s) for error details)
        rule align:
            jobid: 31
            output: work/bad/align/aligned.npy, work/bad/align/composite.npy, work/bad/align/mesh.npz
            log: logs/bad/align.log (check log file(s) for error details)
        rule ingest_dubber:
            jobid: 33
            output: work/bad/ingest/dubber.npy, work/bad/ingest/audio.wav, work/bad/ingest/info.json
            log: logs/bad/ingest_dubber.log (check log file(s) for error details)
Logfile /project/{GROUP_LOG}:
================================================================================
    [Sat Dec  5 05:15:44 2026]
    Error in rule align:
        message: None
        jobid: 31
        output: work/bad/align/aligned.npy, work/bad/align/composite.npy, work/bad/align/mesh.npz
        log: logs/bad/align.log (check log file(s) for error details)
"""
#: The group job's own log (the cluster job's output): the rule that failed inside it.
GROUP_JOB_LOG = """\
[Sat Dec  5 05:15:41 2026]
Error in rule ingest_dubber:
    message: None
    jobid: 0
    input: work/bad/ingest/actor.json, bad take.mp4
    output: work/bad/ingest/dubber.npy, work/bad/ingest/audio.wav, work/bad/ingest/info.json
    log: logs/bad/ingest_dubber.log (check log file(s) for error details)
Shutting down, this might take some time.
"""


def test_a_failed_group_job_is_narrowed_to_the_rule_that_failed_in_it(tmp_path):
    text = GROUP_ERROR_BLOCK.replace("/project/", f"{tmp_path}/")
    errors = run_status.parse_errors(text)
    assert [e.rule for e in errors] == ["face_geometry", "align", "ingest_dubber"]
    assert {e.group for e in errors} == {"prep_bad"} and errors[2].logs == ["logs/bad/ingest_dubber.log"]
    assert errors[1].outputs == [f"work/bad/align/{f}" for f in ("aligned.npy", "composite.npy", "mesh.npz")]
    assert errors[0].group_logs == [f"{tmp_path}/{GROUP_LOG}"]
    # Without the group job's log every rule of the group stays named; with it, only the one that failed.
    assert run_status.failed_in_groups(errors, tmp_path) == errors
    (tmp_path / GROUP_LOG).parent.mkdir(parents=True)
    (tmp_path / GROUP_LOG).write_text(GROUP_JOB_LOG)
    (failed,) = run_status.failed_in_groups(errors, tmp_path)
    assert failed.rule == "ingest_dubber" and failed.message == "Error in group prep_bad"
    # --show-failed-logs copies the group job's log into Snakemake's: the same failure is listed once.
    shown = run_status.parse_errors(text + f"Logfile {tmp_path}/{GROUP_LOG}:\n" + GROUP_JOB_LOG)
    assert [e.rule for e in run_status.failed_in_groups(shown, tmp_path)] == ["ingest_dubber"]
    rows = {**results("good"), **results("bad", "missing", "update pending")}
    states = {s.shot: s for s in run_status.shot_states(summary(rows), run_status.failed_in_groups(shown, tmp_path))}
    assert states["bad"].state == "failed" and states["good"].state == "done"
    assert "rule ingest_dubber, log: logs/bad/ingest_dubber.log" in run_status.format_states(list(states.values()))


def test_states_of_done_failed_unfinished_and_outdated_shots():
    rows = {**results("done_shot"), **results("stale", plan="update pending"),
            **results("broken", status="missing", plan="update pending"),
            **results("waiting", status="missing", plan="update pending"),
            "work/actors/anna/swapper/model.pt": ("ok", "no update")}
    rows["results/killed/dubbed.mp4"] = ("incomplete", "update pending")
    errors = run_status.parse_errors(ERROR_BLOCK.replace("/bad/", "/broken/"))
    states = {s.shot: s for s in run_status.shot_states(summary(rows), errors)}
    assert {k: s.state for k, s in states.items()} == {
        "broken": "failed", "done_shot": "done", "killed": "incomplete", "stale": "outdated", "waiting": "incomplete"}
    assert states["broken"].errors[0].logs[0] == "logs/broken/ingest_dubber.log"
    table = run_status.format_states(list(states.values()))
    assert "rule ingest_dubber, log: logs/broken/ingest_dubber.log" in table
    targets = run_status.reprocess_targets(list(states.values()))
    assert {t.split("/")[1] for t in targets} == {"broken", "killed", "waiting", "report.html"}
    assert run_status.reprocess_targets([states["done_shot"], states["stale"]]) == []


def test_errors_of_other_shots_and_non_shot_paths_are_not_attributed():
    assert run_status.shot_of_path("work/actors/anna/swapper/model.pt") is None
    assert run_status.shot_of_path("/abs/project/results/sc01/dubbed.mp4") == "sc01"
    errors = run_status.parse_errors(ERROR_BLOCK)
    (state,) = run_status.shot_states(summary(results("other", status="missing", plan="update pending")), errors)
    assert state.state == "incomplete" and not state.errors


def test_not_a_summary_is_refused():
    with pytest.raises(ValueError, match="snakemake --summary"):
        run_status.parse_summary("Building DAG of jobs...\nNothing to be done.")


@needs_media
def test_status_names_the_failed_shot_and_its_log_after_a_real_run(tmp_path):
    """Two shots; one dubber video is corrupt: Snakemake's own records say which and where."""
    bad = tmp_path / "bad take.mp4"
    corrupt_copy(MEDIA / "dubber_man_office.mp4", bad)
    shots = [{"id": s, "actor": "a", "actor_video": str(MEDIA / "actor_woman_bluewall.mp4"), "dubber_video": str(d)}
             for s, d in (("good", MEDIA / "dubber_man_office.mp4"), ("bad", bad))]
    make_project(tmp_path, shots, max_frames=10)
    args = ["-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    run = subprocess.run([sys.executable, "-m", "snakemake", *args, "--cores", "2", "work/good/ingest/info.json",
                          "work/bad/ingest/info.json"], capture_output=True, text=True)
    assert run.returncode != 0 and (tmp_path / "work/good/ingest/info.json").is_file()
    for _ in range(2):  # a second call must not read the first one's --summary log as the run
        status = subprocess.run([sys.executable, "-m", "vdub", "status", "--", *args], capture_output=True, text=True)
        assert status.returncode == 0, status.stderr
        rows = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
        assert rows["bad"].split()[1] == "failed" and "logs/bad/ingest_dubber.log" in rows["bad"], status.stdout
        assert rows["good"].split()[1] == "incomplete", status.stdout
    assert "shot 'bad'" in (tmp_path / "logs/bad/ingest_dubber.log").read_text()
    samples = yaml.safe_load((tmp_path / "samples.yaml").read_text())
    assert [s["id"] for s in samples["shots"]] == ["good", "bad"]


def test_a_conformed_reel_waiting_on_a_failed_shot_is_reprocessed_with_it():
    """The reel's conform never ran while one of its shots failed: it is listed as `reel <id>`, incomplete,
    and reprocessing asks for it with the failed shot; a failed conform is that reel's failure."""
    reel = {f"results/conformed/{name}": ("missing", "update pending") for name in ("r1.mov", "r1.dialogue.wav",
                                                                                     "r1.otio")}
    rows = {**results("done_shot"), **results("broken", status="missing", plan="update pending"), **reel}
    errors = run_status.parse_errors(ERROR_BLOCK.replace("/bad/", "/broken/"))
    states = {s.shot: s for s in run_status.shot_states(summary(rows), errors)}
    assert {k: s.state for k, s in states.items()} == {"broken": "failed", "done_shot": "done",
                                                       "reel r1": "incomplete"}
    targets = run_status.reprocess_targets(list(states.values()))
    assert set(targets) == {*run_status.shot_results("broken"), *reel, "results/report.html"}
    conform_error = ERROR_BLOCK.replace("rule ingest_dubber", "rule conform").replace(
        "output: work/bad/ingest/dubber.npy, work/bad/ingest/audio.wav, work/bad/ingest/info.json",
        "output: results/conformed/r1.mov, results/conformed/r1.dialogue.wav, results/conformed/r1.otio")
    rows = {**results("done_shot"), **reel}
    states = {s.shot: s for s in run_status.shot_states(summary(rows), run_status.parse_errors(conform_error))}
    assert states["reel r1"].state == "failed" and states["reel r1"].errors[0].rule == "conform"
    assert states["done_shot"].state == "done"
    (line,) = [x for x in run_status.format_states(list(states.values())).splitlines() if x.startswith("reel r1")]
    assert line.split()[2:5] == ["failed", "rule", "conform,"]
