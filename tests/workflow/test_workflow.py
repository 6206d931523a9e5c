"""The whole workflow, run by Snakemake as an operator runs it.

* ``--lint`` is clean and a dry run lists every stage for every shot;
* the full DAG at preview settings on a real pair from ../shared/media (the first 2.5 s of
  actor_woman_bluewall.mp4 driven by dubber_man_office.mp4, 30 vs 25 fps) produces a dubbed
  shot with the actor's geometry, frame rate and length, the dubbed audio, a mouth that
  follows the dubber, and the rest of the frame untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import MEDIA, REPO, job_counts, make_project, needs_media, snakemake

STAGES = ["ingest_actor", "ingest_dubber", "face_geometry", "reference", "virtual_dubber", "virtual_dubber_sheet",
          "align", "actor_crops", "masks", "self_pairs", "train_swapper", "reenact", "train_sr", "super_resolution",
          "mux", "matte", "evaluate", "output_sheet", "side_by_side"]
N_FRAMES = 75  # 2.5 s of the 30 fps actor
TIMECODE = "01:00:10:00"


def real_shot(shot_id: str) -> dict:
    return {"id": shot_id, "actor": "woman_bluewall", "actor_video": str(MEDIA / "actor_woman_bluewall.mp4"),
            "dubber_video": str(MEDIA / "dubber_man_office.mp4")}


@needs_media
def test_lint_and_dry_run_list_every_stage_for_every_shot(tmp_path):
    make_project(tmp_path, [real_shot("shot_a"), real_shot("shot_b")])
    lint = snakemake(tmp_path, "--lint", check=False)
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    dry = snakemake(tmp_path, "-n", "--cores", "2", "--quiet", "rules")
    out = dry.stdout + dry.stderr
    for stage in STAGES:
        expected = 3 * 2 if stage == "face_geometry" else 2  # actor, dubber, virtual dubber per shot
        line = next((ln for ln in out.splitlines() if ln.split()[:1] == [stage]), None)
        assert line is not None, f"{stage} missing from the dry run:\n{out}"
        assert int(line.split()[1]) == expected, line


@needs_media
def test_warm_start_trains_one_model_per_actor(tmp_path):
    other = dict(real_shot("shot_c"), actor="glasses_man", actor_video=str(MEDIA / "actor_glasses_man.mp4"))
    make_project(tmp_path, [real_shot("shot_a"), real_shot("shot_b"), other], warm_start=True)
    counts = job_counts(snakemake(tmp_path, "-n", "--cores", "2", "--quiet", "rules").stdout)
    assert counts["train_actor"] == 2 and counts["train_swapper"] == 3 and counts["actor_crops"] == 3, counts
    make_project(tmp_path, [real_shot("shot_a"), real_shot("shot_b"), other], warm_start=False)
    counts = job_counts(snakemake(tmp_path, "-n", "--cores", "2", "--quiet", "rules").stdout)
    assert "train_actor" not in counts and counts["train_swapper"] == 3, counts


@needs_media
def test_pretraining_feeds_the_first_training_of_each_chain(tmp_path):
    import cv2

    faces = tmp_path / "faces"
    faces.mkdir()
    for i in range(3):
        cv2.imwrite(str(faces / f"face{i}.png"), np.full((64, 64, 3), 90 + i, np.uint8))
    shots = [real_shot("shot_a"), real_shot("shot_b")]
    for warm_start, first in ((True, "train_actor"), (False, "train_swapper")):
        make_project(tmp_path, shots, warm_start=warm_start, pretrain_faces=str(faces))
        dry = snakemake(tmp_path, "-n", "--cores", "2", "-p")
        out = dry.stdout
        assert job_counts(snakemake(tmp_path, "-n", "--cores", "2", "--quiet", "rules").stdout)["pretrain"] == 1
        commands = [ln for ln in out.splitlines() if f"vdub {first.replace('_', '-')} " in ln]
        assert commands and all("--init work/pretrain/swapper/model.pt" in c for c in commands), commands
    make_project(tmp_path, shots, pretrain_faces=str(tmp_path / "nowhere"))
    proc = snakemake(tmp_path, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0 and "pretrain_faces" in proc.stdout + proc.stderr


def test_bad_shot_id_is_rejected_before_any_job(tmp_path):
    make_project(tmp_path, [{"id": "my shot", "actor": "a", "actor_video": "a.mp4", "dubber_video": "d.mp4"}])
    proc = snakemake(tmp_path, "-n", "--cores", "1", check=False)
    assert proc.returncode != 0
    assert "invalid shot id" in proc.stdout + proc.stderr and "my shot" in proc.stdout + proc.stderr


def test_missing_input_is_rejected_before_any_job(tmp_path):
    make_project(tmp_path, [{"id": "s1", "actor": "a", "actor_video": str(tmp_path / "nope.mp4"),
                             "dubber_video": str(tmp_path / "nope2.mp4")}])
    proc = snakemake(tmp_path, "-n", "--cores", "1", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "shot 's1'" in text and "nope.mp4" in text and "not found" in text
    assert not (tmp_path / "work").exists()


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    if not MEDIA.is_dir():
        pytest.skip(f"shared clips not found at {MEDIA}")
    workdir = tmp_path_factory.mktemp("project")
    # The actor file with a timecode (a stream copy: the same frames), for the finishing master. Outside
    # the project, so that the tests' copies of the project name the same input file.
    actor = tmp_path_factory.mktemp("media") / "actor_tc.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_woman_bluewall.mp4"), "-map", "0", "-c", "copy",
                    "-timecode", TIMECODE, str(actor)], check=True)
    make_project(workdir, [dict(real_shot("bluewall_office"), actor_video=str(actor))], max_frames=N_FRAMES)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["finishing"]["master"] = "prores_4444"
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.mark.slow
def test_dubbed_shot_matches_actor_geometry_fps_and_length(real_run):
    from vdub.media.video import probe_video

    actor = probe_video(MEDIA / "actor_woman_bluewall.mp4")
    out = probe_video(real_run / "results" / "bluewall_office" / "dubbed.mp4")
    assert (out.display_width, out.display_height) == (actor.display_width, actor.display_height)
    assert out.n_frames == N_FRAMES
    assert out.frame_rate == actor.frame_rate
    assert out.has_audio
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                                       "stream=duration", "-of", "json", str(real_run / "results" / "bluewall_office"
                                                                            / "dubbed.mp4")],
                                      capture_output=True, text=True, check=True).stdout)
    assert float(probe["streams"][0]["duration"]) == pytest.approx(N_FRAMES / 30, abs=0.05)


def decode_all(path: Path, pix_fmt: str, shape: tuple[int, ...]) -> np.ndarray:
    """Every frame of a file as raw ``pix_fmt`` (Y'CbCr read as the BT.709 the outputs are tagged)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", "scale=in_color_matrix=bt709:in_range=tv",
                          "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, *shape)


@pytest.mark.slow
def test_matte_and_master_are_frame_accurate_with_the_dubbed_shot(real_run):
    from vdub.core.io import load_frames
    from vdub.media.timecode import source_timecode
    from vdub.metrics.image import psnr

    results, work = real_run / "results" / "bluewall_office", real_run / "work" / "bluewall_office"
    actor, output = load_frames(work / "ingest" / "actor.npy"), load_frames(work / "sr" / "frames.npy")
    h, w = actor.shape[1:3]
    matte = decode_all(results / "matte.mov", "gray", (h, w))
    # Lossless, and where it is 0 the output is the actor's decoded frame bit for bit.
    np.testing.assert_array_equal(matte, load_frames(work / "sr" / "matte.npy"))
    zero = matte == 0
    np.testing.assert_array_equal(output[zero], actor[zero])
    assert 0.005 < (~zero).mean() < 0.5, (~zero).mean()  # the head, not the frame
    # The master: ProRes 4444 with the matte as alpha, the dubbed audio, the actor's timecode.
    master = results / "master.mov"
    streams = json.loads(subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json",
                                         str(master)], capture_output=True, text=True, check=True).stdout)["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    assert video["codec_name"] == "prores" and video["pix_fmt"].startswith("yuva444p")
    assert (video["width"], video["height"], video["r_frame_rate"]) == (w, h, "30/1")
    assert int(video["nb_read_frames"]) == N_FRAMES
    assert any(s["codec_type"] == "audio" and s["codec_name"] == "pcm_s24le" for s in streams)
    assert source_timecode(master) == TIMECODE
    rgba = decode_all(master, "rgba", (h, w, 4))
    dubbed = decode_all(results / "dubbed.mp4", "rgb24", (h, w, 3))
    assert len(rgba) == len(dubbed) == N_FRAMES
    assert np.abs(rgba[..., 3].astype(int) - matte).max() <= 1
    for t in range(N_FRAMES):
        assert psnr(rgba[t, ..., :3], output[t]) > 45, t  # near lossless
        # Frame-accurate with the review file: each master frame is closest to the same dubbed.mp4 frame.
        near = {k: psnr(rgba[t, ..., :3], dubbed[k]) for k in (t - 1, t, t + 1) if 0 <= k < N_FRAMES}
        assert max(near, key=near.get) == t, (t, near)


@pytest.mark.slow
def test_mouth_follows_dubber_and_rest_is_untouched(real_run):
    from vdub.core.io import load_frames, load_npz
    from vdub.face.crop import uncrop
    from vdub.metrics.image import psnr

    metrics = json.loads((real_run / "results" / "bluewall_office" / "metrics.json").read_text())
    table = metrics["table"]
    # The network's input (aligned virtual dubber composited on the actor frame) carries the
    # dubber's mouth: clearly closer to it than the original actor's mouth.
    assert table["composite"]["lmd"] < 0.85 * table["actor"]["lmd"], table
    assert table["composite"]["mouth_corr"] > 0.8, table
    # Outside the head nothing changed (before encoding: bit-exact up to the mask's soft edge).
    assert metrics["psnr_outside_head"] > 60, metrics
    # The pasted head's skin has the actor's colour (CIE76 of the Lab means; < 2: not visible).
    assert table["output"]["head_delta_e"] < 2, table
    # The head is no less steady than the footage (motion-compensated flicker above the nose).
    assert table["output"]["flicker"] <= 1.2 * table["actor"]["flicker"], table
    # Every metric is a number or reported unavailable with its reason.
    for variant, row in table.items():
        for metric, value in row.items():
            assert value is not None or metric in metrics["unavailable"], (variant, metric)

    work = real_run / "work" / "bluewall_office"
    actor = load_frames(work / "ingest" / "actor.npy")
    output = load_frames(work / "sr" / "frames.npy")
    crops = load_npz(work / "crops.npz")
    aligned = load_npz(work / "align" / "mesh.npz")
    from vdub.face import landmarks as lm
    from vdub.face.warp import polygon_mask

    diffs, outside = [], []
    for t in range(0, N_FRAMES, 5):
        mouth = polygon_mask(actor.shape[1:3], aligned["points"][t, lm.OUTER_LIPS, :2]) > 0.5
        diffs.append(np.abs(output[t].astype(float) - actor[t].astype(float))[mouth].mean())
        head = uncrop(crops["composite_masks"][t, 0].astype(np.float32) / 255, crops["boxes"][t], actor.shape[1:3])
        outside.append(psnr(actor[t], output[t], head < 1e-3))
    assert np.mean(diffs) > 8, "the output's mouth region is a copy of the actor's"
    assert min(outside) > 60, "pixels outside the head mask changed"

    # Not garbage: the decoded video is close to the actor outside the head (encoder noise only).
    from vdub.media.video import probe_video, read_frames

    decoded = np.stack(list(read_frames(probe_video(real_run / "results" / "bluewall_office" / "dubbed.mp4"))))
    far = np.zeros(actor.shape[1:3], bool)
    far[:, :120] = True  # left strip of the frame: blue wall, far from the head
    assert psnr(decoded[10], np.asarray(actor[10]), far) > 35


@pytest.mark.slow
def test_geometry_qa_on_real_pair(real_run):
    work = real_run / "work" / "bluewall_office" / "align"
    qa = json.loads((work / "qa.json").read_text())
    assert qa["aligned_frames"] == N_FRAMES
    assert qa["frames_without_face"] == {"actor": [], "dubber": [], "virtual_dubber": []}
    # The virtual dubber sits on the actor's skull to within 1.5% of the inter-ocular distance.
    assert qa["residual_iod_median"] < 0.015, qa["residual_iod_median"]
    for role in ("actor", "dubber"):
        assert qa["jitter"][role]["reduction"] >= 0.5, (role, qa["jitter"][role]["raw_px"],
                                                        qa["jitter"][role]["smoothed_px"])
    assert len(qa["residual_iod"]) == N_FRAMES and len(qa["scale"]) == N_FRAMES
    assert (work / "qa.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_output_mouth_follows_dubber(real_run):
    """The dubbed shot itself, not only the network's input, carries the dubber's mouth with the actor's face."""
    metrics = json.loads((real_run / "results" / "bluewall_office" / "metrics.json").read_text())
    table = metrics["table"]
    out, composite, actor = table["output"], table["composite"], table["actor"]
    assert out["lmd"] < 0.85 * actor["lmd"], table
    assert out["mouth_corr"] >= 0.7, table
    assert out["lmd"] <= 1.2 * composite["lmd"], table
    assert out["identity"] <= 0.35, table
    assert out["psnr"] >= composite["psnr"] - 1.5, table
    assert out["flicker"] <= 1.2 * actor["flicker"], table


@pytest.mark.slow
def test_the_repair_beats_the_composite_on_held_out_self_reenactment(real_run):
    """Frames never trained on: the network's pasted repair is closer to the real actor than its input."""
    held = json.loads((real_run / "results" / "bluewall_office" / "metrics.json").read_text())["self_reenactment"]
    assert len(held["frames"]) >= 5, held
    assert held["repaired"]["psnr"] > held["composite"]["psnr"], held


@pytest.mark.slow
def test_project_report_shows_the_shot_table(real_run):
    html = (real_run / "results" / "report.html").read_text()
    assert "bluewall_office" in html and "http://" not in html and "https://" not in html
    for variant in ("actor", "composite", "reenact", "output"):
        assert f"<th>{variant}</th>" in html or f">{variant}<" in html, variant
    assert "data:video/mp4;base64," in html and "data:image/" in html


@pytest.mark.slow
def test_new_dubber_take_leaves_the_actor_side_alone(real_run, tmp_path):
    """A dubber delivers a new take: only the shot's dubber-dependent jobs are scheduled."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(real_run, project, symlinks=True)  # copy2 keeps mtimes: the copy is up to date
    take = tmp_path / "new take.mp4"
    shutil.copy(MEDIA / "dubber_man_office.mp4", take)
    samples = yaml.safe_load((project / "samples.yaml").read_text())
    samples["shots"][0]["dubber_video"] = str(take)
    (project / "samples.yaml").write_text(yaml.safe_dump(samples))
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["samples"] = str(project / "samples.yaml")
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = job_counts(snakemake(project, "-n", "--cores", "2", "--quiet", "rules").stdout)
    assert jobs.get("ingest_dubber") == 1 and jobs.get("virtual_dubber") == 1, jobs
    for actor_side in ("ingest_actor", "actor_crops", "self_pairs"):
        assert actor_side not in jobs, jobs
    assert jobs.get("face_geometry") == 2, jobs  # dubber and virtual dubber, not the actor


@pytest.mark.slow
def test_a_changed_number_reruns_only_what_depends_on_it(real_run, tmp_path):
    """Snakemake's params trigger, used deliberately: each stage's params carry only its own numbers."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(real_run, project, symlinks=True)
    base = yaml.safe_load((project / "config.yaml").read_text())
    paste_side = {"super_resolution", "mux", "matte", "master", "evaluate", "output_sheet", "side_by_side", "report"}
    for change, expected in (
            (lambda c: c["reenact"].update(colour_window=5), paste_side | {"reenact"}),
            (lambda c: c["presets"]["preview"]["sr"].update(iterations=200), paste_side | {"train_sr"}),
            (lambda c: c["mux"].update(crf=20), {"mux", "report"}),
            (lambda c: c["finishing"].update(master="prores_422hq"), {"master"})):
        config = json.loads(json.dumps(base))
        change(config)
        (project / "config.yaml").write_text(yaml.safe_dump(config))
        jobs = job_counts(snakemake(project, "-n", "--cores", "2", "--quiet", "rules").stdout)
        assert set(jobs) - {"all", "total"} == expected, jobs


@pytest.mark.slow
def test_rerun_is_a_no_op_and_benchmarks_exist(real_run):
    proc = snakemake(real_run, "-n", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    for stage in STAGES:
        names = [f"face_geometry_{r}" for r in ("actor", "dubber", "virtual_dubber")] if stage == "face_geometry" \
            else [stage]
        for name in names:
            bench = real_run / "benchmarks" / "bluewall_office" / f"{name}.tsv"
            assert bench.is_file(), bench
            header, row = bench.read_text().splitlines()[:2]
            assert header.split("\t")[0] == "s" and float(row.split("\t")[0]) > 0


@pytest.mark.slow
@needs_media
def test_faceless_and_one_to_three_frame_shots_are_delivered(tmp_path):
    """Every shot of a batch is delivered: 1-, 2- and 3-frame shots render (one of them a range of a longer
    source), and a shot whose actor never shows a face gets the actor's picture unchanged with the dubbed
    audio, a warning and a line in the report."""
    from vdub.core.io import load_frames
    from vdub.media.video import probe_video, read_frames

    clips = {}
    for n in (1, 2, 3):
        clips[f"frames_{n}"] = tmp_path / f"actor_{n}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_glasses_man.mp4"), "-frames:v", str(n),
                        "-c:v", "libx264", "-crf", "12", "-c:a", "aac", str(clips[f"frames_{n}"])], check=True)
    clips["faceless"] = tmp_path / "wall.mp4"  # the wall beside the actor: no face in any frame
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_woman_bluewall.mp4"), "-t", "1", "-vf",
                    "crop=200:200:0:0", "-c:v", "libx264", "-crf", "12", "-c:a", "aac", str(clips["faceless"])],
                   check=True)
    dubber = str(MEDIA / "dubber_woman_plain.mp4")
    shots = [{"id": shot, "actor": "wall" if shot == "faceless" else "glasses_man", "actor_video": str(clip),
              "dubber_video": dubber} for shot, clip in clips.items()]
    # A shot as a range of a longer source: three frames from its middle, no intermediate clip.
    shots.append({"id": "range_3", "actor": "glasses_man", "actor_video": str(MEDIA / "actor_glasses_man.mp4"),
                  "actor_in": 200, "actor_out": 203, "dubber_video": dubber})
    make_project(tmp_path, shots)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["presets"]["preview"]["train"]["iterations"] = 20  # the point is that they render, not how well
    config["presets"]["preview"]["sr"]["iterations"] = 20
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--cores", "2")
    for shot, clip in clips.items():
        info = probe_video(tmp_path / "results" / shot / "dubbed.mp4")
        assert info.n_frames == probe_video(clip).n_frames and info.has_audio, shot
        metrics = json.loads((tmp_path / "results" / shot / "metrics.json").read_text())
        assert metrics["frames"] == info.n_frames, shot
    source = probe_video(MEDIA / "actor_glasses_man.mp4")
    assert probe_video(tmp_path / "results" / "range_3" / "dubbed.mp4").n_frames == 3
    np.testing.assert_array_equal(load_frames(tmp_path / "work" / "range_3" / "ingest" / "actor.npy"),
                                  np.stack(list(read_frames(source, max_frames=203)))[200:])
    work = tmp_path / "work" / "faceless"
    np.testing.assert_array_equal(load_frames(work / "sr" / "frames.npy"), load_frames(work / "ingest" / "actor.npy"))
    assert not load_frames(work / "sr" / "matte.npy").any()
    assert "no face in any actor frame" in (tmp_path / "logs" / "faceless" / "reference.log").read_text()
    assert "no face in any actor frame</strong>" in (tmp_path / "results" / "report.html").read_text()


@pytest.mark.slow
def test_embedded_demo_runs_without_shared_media(tmp_path):
    """The README's main command: plain `snakemake` on the shipped samples.yaml (no ../shared needed)."""
    import shutil

    from vdub.media.video import probe_video

    project = tmp_path / "checkout"
    project.mkdir()
    for item in ("Snakefile", "rules", "config", "profiles", "envs", "samples.yaml"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "all"], cwd=project, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-6000:]
    info = probe_video(project / "results" / "demo" / "dubbed.mp4")
    assert info.has_audio and info.n_frames == 72 and (info.display_width, info.display_height) == (320, 320)
    comment = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of",
                              "default=nw=1:nk=1", str(project / "resources" / "demo" / "actor.mp4")],
                             capture_output=True, text=True, check=True).stdout
    assert "SYNTHETIC" in comment


def test_venv_snakemake_runs_jobs_without_activation(tmp_path):
    """`.venv/bin/snakemake` with the venv not on PATH: the jobs' `python -m vdub` is still the venv's."""
    import shutil

    bin_dir = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != bin_dir)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path}
    shutil.copy(REPO / "samples.yaml", tmp_path / "samples.yaml")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text()) | {"samples": str(tmp_path / "samples.yaml")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([str(bin_dir / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "resources/demo/actor.mp4"],
                          capture_output=True, text=True, env=env)
    log = (tmp_path / "logs" / "demo_input.log")
    assert proc.returncode == 0, f"{proc.stderr[-4000:]}\n{log.read_text() if log.exists() else ''}"
    assert (tmp_path / "resources" / "demo" / "actor.mp4").stat().st_size > 0


def test_file_that_is_not_a_video_is_rejected_before_any_job(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is a text file, not a video\n")
    make_project(tmp_path, [{"id": "s1", "actor": "a", "actor_video": str(bad), "dubber_video": str(bad)}])
    proc = snakemake(tmp_path, "-n", "--cores", "1", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "shot 's1'" in text and "notes.mp4" in text
    assert not (tmp_path / "work").exists()


@needs_media
def test_gpen_weights_are_checked_and_become_an_input_of_super_resolution(tmp_path):
    make_project(tmp_path, [real_shot("shot_a")])
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["preset"] = "paper"
    config["gpen_weights"] = str(tmp_path / "GPEN-BFR-512.pth")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    missing = snakemake(tmp_path, "-n", check=False)
    message = missing.stdout + missing.stderr
    assert missing.returncode != 0 and "gpen_weights" in message and "file not found" in message, message
    (tmp_path / "GPEN-BFR-512.pth").write_bytes(b"weights")
    dry = snakemake(tmp_path, "-n", "--printshellcmds", "--cores", "2")
    sr_command = next(line for line in dry.stdout.splitlines() if "vdub train-sr" in line)
    assert str(tmp_path / "GPEN-BFR-512.pth") in sr_command and '"backend": "gpen"' in sr_command
