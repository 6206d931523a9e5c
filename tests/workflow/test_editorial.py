"""From the editor's timeline to a dubbed reel, as an operator runs it: a reel cut from the shared clips
(one shot a faceless wall) and the EDL written for it, two of its events from a camera source given
beside it; `vdub sheet` writes the sample sheet (those two as ranges of the source with handles),
Snakemake dubs the shots and conforms the reel. The conformed reel has the source's frame count, rate and
timecode; outside the dubbed shots its frames are the source's bit for bit (FFV1, lossless), inside
they are the shots' output frames, none shifted; its timeline opens in OpenTimelineIO's tools. A new
take re-runs only its shot and the assembly.

The same batch holds the shots at the edges of what a batch may hold: 1-, 2- and 3-frame clips, a
3-frame range of the reel, and the faceless wall, each delivered (the wall with the actor's picture
unchanged, a warning and a line in the report). Training is cut to a few steps: this checks what is
delivered where, not the picture (the shared trained project does)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import (
    MEDIA,
    PLUMBING_RUN,
    REEL_SHOTS,
    REEL_TIMECODE,
    job_counts,
    make_project,
    make_reel,
    needs_media,
    plumbing_numbers,
    snakemake,
)

from vdub.core.io import load_frames
from vdub.media.timecode import source_timecode
from vdub.media.video import probe_video, read_frames
from vdub.metrics.image import psnr

NAMES = ("sc01_anna.mov", "sc01_wall.mov", "sc02_ben.mov", "sc03_anna.mov", "sc04_carl.mov")
TAKES = {"sc01_anna": "dubber_woman_plain.mp4", "sc01_wall": "dubber_man_office.mp4",
         "sc02_ben": "dubber_man_office.mp4", "sc04_carl": "dubber_woman_plain.mp4"}  # sc03_anna: no take yet


#: Events cut from the camera source A001 (the glasses clip, in the reel's geometry, from 02:00:00:00).
CAMERA = {"sc01_anna": 0, "sc04_carl": 4}
HANDLES = {"sc01_anna": (0, 5), "sc04_carl": (5, 5)}  # sc01_anna starts at the source's first frame
RANGE_3 = (120, 123)  # a 3-frame shot of the reel, inside the event that has no take (sc03_anna)


def _timecode(frame: int, hour: int = 1) -> str:
    return f"{hour:02d}:00:{frame // 30:02d}:{frame % 30:02d}"


def _camera_source(path: Path) -> None:
    """A001: the glasses clip's first 360 frames as the reel shows them (480x480, 30 fps), timecode 02:00:00:00."""
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_glasses_man.mp4"), "-vf",
                    "trim=end_frame=360,setpts=PTS-STARTPTS,scale=480:480,setsar=1,fps=30", "-an", "-c:v", "libx264",
                    "-crf", "14", "-pix_fmt", "yuv420p", "-timecode", "02:00:00:00", str(path)], check=True)


@pytest.mark.slow
@pytest.mark.media
@needs_media
def test_edit_list_to_a_conformed_reel_with_every_shot_delivered(tmp_path):
    ranges = make_reel(tmp_path / "reel.mov")
    edl = ["TITLE: VDUB TEST REEL", "FCM: NON-DROP FRAME", ""]
    for k, ((start, end), name, (_, first, _)) in enumerate(zip(ranges, NAMES, REEL_SHOTS), 1):
        if k - 1 in CAMERA.values():
            source = f"A001     V     C        {_timecode(first, 2)} {_timecode(first + end - start, 2)}"
        else:
            source = f"AX       V     C        00:00:00:00 {_timecode(end - start, hour=0)}"
        edl += [f"{k:03d}  {source} {_timecode(start)} {_timecode(end)}", f"* FROM CLIP NAME: {name}", ""]
    (tmp_path / "cut.edl").write_text("\n".join(edl))
    (tmp_path / "camera").mkdir()
    _camera_source(tmp_path / "camera" / "A001.mov")
    (tmp_path / "takes").mkdir()
    for shot, clip in TAKES.items():
        shutil.copy(MEDIA / clip, tmp_path / "takes" / f"{shot}_fr.mp4")
    make_project(tmp_path, [])
    config = plumbing_numbers(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    config["conform"]["codec"] = "ffv1"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    sheet = subprocess.run([sys.executable, "-m", "vdub", "sheet", "--reel", str(tmp_path / "reel.mov"), "--actor",
                            "anna", "--edit-list", str(tmp_path / "cut.edl"), "--takes", "takes/{name}_fr.mp4",
                            "--sources", str(tmp_path / "camera"), "--handles", "5",
                            "--out", str(tmp_path / "samples.yaml")], capture_output=True, text=True)
    assert sheet.returncode == 0, sheet.stderr
    assert "event 4 'sc03_anna.mov' (frames 115-159): no dubber take" in sheet.stderr
    assert "does not look like" not in sheet.stderr  # the camera source is the events' own
    shots = yaml.safe_load((tmp_path / "samples.yaml").read_text())["shots"]
    assert [s["id"] for s in shots] == list(TAKES)
    assert {s["id"]: (s["actor_video"], s.get("handles")) for s in shots} == {
        "sc01_anna": ("camera/A001.mov", [0, 5]), "sc01_wall": ("reel.mov", None), "sc02_ben": ("reel.mov", None),
        "sc04_carl": ("camera/A001.mov", [5, 5])}
    clips = _add_edge_shots(tmp_path, shots)

    snakemake(tmp_path, *PLUMBING_RUN)

    _check_edge_shots(tmp_path, clips)

    source_info = probe_video(tmp_path / "reel.mov")
    reel = tmp_path / "results" / "conformed" / "reel.mov"
    info = probe_video(reel)
    assert (info.n_frames, info.fps_str, info.display_width, info.display_height) == (
        source_info.n_frames, "30/1", 480, 480)
    assert source_timecode(reel) == REEL_TIMECODE
    source = np.stack(list(read_frames(source_info)))
    result = np.stack(list(read_frames(info)))
    dubbed = np.zeros(len(source), bool)
    for (start, end), name in zip(ranges, NAMES):
        shot = name.removesuffix(".mov")
        if shot not in TAKES:
            continue
        dubbed[start:end] = True
        head, tail = HANDLES.get(shot, (0, 0))
        output = load_frames(tmp_path / "work" / shot / "sr" / "frames.npy")
        assert len(output) == head + end - start + tail  # dubbed with its handles
        np.testing.assert_array_equal(result[start:end], output[head:head + end - start])  # its cut, at its place
        review = np.stack(list(read_frames(probe_video(tmp_path / "results" / shot / "dubbed.mp4"))))
        # Within the review file's own H.264 loss (measured 40.2-45.4 dB on these shots).
        assert min(psnr(a, b) for a, b in zip(result[start:end], review[head:])) > 38
    dubbed[slice(*RANGE_3)] = True
    np.testing.assert_array_equal(result[slice(*RANGE_3)], load_frames(tmp_path / "work" / "range_3" / "sr" /
                                                                       "frames.npy"))
    np.testing.assert_array_equal(result[~dubbed], source[~dubbed])  # the rest: the source's, none shifted
    wall = slice(*ranges[1])  # the faceless passage: delivered with the reel's own picture
    np.testing.assert_array_equal(result[wall], source[wall])
    # The timeline opens in OpenTimelineIO's own tool and lists each shot.
    stat = subprocess.run([str(Path(sys.executable).parent / "otiostat"),
                           str(tmp_path / "results" / "conformed" / "reel.otio")], capture_output=True, text=True)
    assert stat.returncode == 0 and "parsed: True" in stat.stdout, stat.stderr
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(str(tmp_path / "results" / "conformed" / "reel.otio"))
    clips = {c.name: c for c in timeline.video_tracks()[0]}
    in_reel = ["sc01_anna", "sc01_wall", "sc02_ben", "range_3", "sc04_carl"]  # the reel's order
    assert [n for n in clips if not n.startswith("reel ")] == in_reel
    # A shot's clip is its cut of its dubbed file; the handles around it are there to trim into.
    assert {n: clips[n].source_range.start_time.to_frames() for n in in_reel} == {
        n: HANDLES.get(n, (0, 0))[0] for n in in_reel}

    # A new take for one shot: only that shot's dubber side, the assembly and the report run again.
    shutil.copy(MEDIA / "dubber_woman_plain.mp4", tmp_path / "takes" / "sc02_ben_fr.mp4")
    dry = snakemake(tmp_path, "--cores", "2", "-n").stdout
    counts = job_counts(dry)
    assert counts.get("conform") == 1 and counts.get("ingest_dubber") == 1 and "ingest_actor" not in counts, counts
    jobs = {line.split("wildcards:")[1].strip() for line in dry.splitlines() if "wildcards:" in line}
    assert jobs <= {"shot=sc02_ben", "shot=sc02_ben, role=dubber", "shot=sc02_ben, role=virtual_dubber",
                    "reel=reel"}, jobs


def _add_edge_shots(project: Path, shots: list[dict]) -> dict[str, Path]:
    """Append to the sheet 1-, 2- and 3-frame clips of the glasses man and a 3-frame range of the reel."""
    clips = {}
    for n in (1, 2, 3):
        clips[f"frames_{n}"] = project / f"actor_{n}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_glasses_man.mp4"), "-frames:v", str(n),
                        "-c:v", "libx264", "-crf", "12", "-c:a", "aac", str(clips[f"frames_{n}"])], check=True)
    dubber = str(MEDIA / "dubber_woman_plain.mp4")
    shots += [{"id": shot, "actor": "carl", "actor_video": str(clip), "dubber_video": dubber}
              for shot, clip in clips.items()]
    # A range of the reel: three frames from its middle, no intermediate clip, conformed back in place.
    shots.append({"id": "range_3", "actor": "anna", "actor_video": "reel.mov", "actor_in": RANGE_3[0],
                  "actor_out": RANGE_3[1], "dubber_video": dubber})
    (project / "samples.yaml").write_text(yaml.safe_dump({"shots": shots}))
    return clips


def _check_edge_shots(project: Path, clips: dict[str, Path]) -> None:
    """Every short shot is delivered at its length with audio; the range decoded frame-accurately; the wall
    shot passed through unchanged, with the warning and the report's line."""
    import json

    for shot, clip in clips.items():
        info = probe_video(project / "results" / shot / "dubbed.mp4")
        assert info.n_frames == probe_video(clip).n_frames and info.has_audio, shot
        assert json.loads((project / "results" / shot / "metrics.json").read_text())["frames"] == info.n_frames
    assert probe_video(project / "results" / "range_3" / "dubbed.mp4").n_frames == 3
    reel = np.stack(list(read_frames(probe_video(project / "reel.mov"), max_frames=RANGE_3[1])))
    np.testing.assert_array_equal(load_frames(project / "work" / "range_3" / "ingest" / "actor.npy"),
                                  reel[RANGE_3[0]:])
    wall = project / "work" / "sc01_wall"
    np.testing.assert_array_equal(load_frames(wall / "sr" / "frames.npy"), load_frames(wall / "ingest" / "actor.npy"))
    assert not load_frames(wall / "sr" / "matte.npy").any()
    assert "no face in any actor frame" in (project / "logs" / "sc01_wall" / "reference.log").read_text()
    assert "no face in any actor frame</strong>" in (project / "results" / "report.html").read_text()
