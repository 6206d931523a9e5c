"""The conformed reel on a small synthetic reel: every frame outside the shots is the reel's, bit for bit
(lossless FFV1), every frame inside is the shot's; the reel's length, rate and timecode; the dubbed audio at
its place; a timeline OpenTimelineIO's own tools open, listing each shot."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from vdub.core.errors import ShotError
from vdub.core.io import save_frames, save_json
from vdub.editorial.conform import conform
from vdub.media.timecode import source_timecode
from vdub.media.video import probe_video, read_frames

T, H, W, FPS, RATE = 60, 48, 64, 25, 48000


def _wav(path: Path, n_frames: int, value: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes(np.full((round(n_frames / FPS * RATE), 2), value, np.int16).tobytes())


def _shot(folder: Path, shot: str, start: int, n: int, colour: tuple[int, int, int]):
    work = folder / shot
    work.mkdir()
    save_json(work / "actor.json", {"range": [start, start + n], "n_frames": n})
    save_frames(work / "frames.npy", np.broadcast_to(np.array(colour, np.uint8), (n, H, W, 3)).copy())
    _wav(work / "audio.wav", n, 1000 * len(shot))
    (work / "dubbed.mp4").write_bytes(b"review file")
    return shot, work / "actor.json", work / "frames.npy", work / "audio.wav", work / "dubbed.mp4"


@pytest.fixture
def reel(tmp_path):
    path = tmp_path / "reel.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate={FPS}",
                    "-frames:v", str(T), "-c:v", "libx264", "-crf", "20", "-timecode", "10:00:00:00", str(path)],
                   check=True)
    return path


def test_conformed_reel_is_the_reel_with_the_shots_in_place(reel, tmp_path):
    shots = [_shot(tmp_path, "b", 30, 15, (0, 200, 0)), _shot(tmp_path, "a", 10, 10, (200, 0, 0))]
    out = tmp_path / "out"
    conform("reel", reel, shots, out / "conformed.mov", out / "dialogue.wav", out / "conformed.otio", "ffv1")
    source = np.stack(list(read_frames(probe_video(reel))))
    result_info = probe_video(out / "conformed.mov")
    result = np.stack(list(read_frames(result_info)))
    assert result.shape == source.shape and result_info.fps_str == f"{FPS}/1"
    assert source_timecode(out / "conformed.mov") == "10:00:00:00"
    inside = np.zeros(T, bool)
    inside[10:20] = inside[30:45] = True
    np.testing.assert_array_equal(result[~inside], source[~inside])  # lossless: bit for bit, no frame shifted
    assert (result[10:20] == (200, 0, 0)).all() and (result[30:45] == (0, 200, 0)).all()
    with wave.open(str(out / "dialogue.wav")) as w:
        stem = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, 2)
    assert len(stem) == T / FPS * RATE
    per_frame = stem[:, 0].reshape(T, -1)
    assert (per_frame[10:20] == 1000).all() and (per_frame[30:45] == 1000).all() and not per_frame[~inside].any()
    # The timeline: OpenTimelineIO's tools open it; each shot is a clip at its place, the reel between.
    bin_dir = Path(sys.executable).parent
    stat = subprocess.run([str(bin_dir / "otiostat"), str(out / "conformed.otio")], capture_output=True, text=True,
                          check=True).stdout
    # Picture: reel 0-9, a, reel 20-29, b, reel 45-59; dialogue: a and b between gaps.
    assert "parsed: True" in stat and "number of clips: 7" in stat and "total duration: RationalTime(60, 25)" in stat
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(str(out / "conformed.otio"))
    assert otio.opentime.to_timecode(timeline.global_start_time, FPS) == "10:00:00:00"
    picture = [(c.name, c.range_in_parent().start_time.to_frames(), c.media_reference.target_url)
               for c in timeline.video_tracks()[0]]
    source, dubbed = reel.as_uri(), {shot: (tmp_path / shot / "dubbed.mp4").as_uri() for shot in "ab"}
    assert picture == [("reel 0-9", 0, source), ("a", 10, dubbed["a"]), ("reel 20-29", 20, source),
                       ("b", 30, dubbed["b"]), ("reel 45-59", 45, source)]
    edl = tmp_path / "conformed.edl"  # and it converts to an EDL listing each shot at its record position
    subprocess.run([str(bin_dir / "otioconvert"), "-i", str(out / "conformed.otio"), "-o", str(edl)], check=True)
    events = [line.split() for line in edl.read_text().splitlines() if line[:3].isdigit()]
    assert [e[-2:] for e in events] == [["00:00:00:00", "00:00:00:10"], ["00:00:00:10", "00:00:00:20"],
                                        ["00:00:00:20", "00:00:01:05"], ["00:00:01:05", "00:00:01:20"],
                                        ["00:00:01:20", "00:00:02:10"]]


def test_overlapping_shots_are_refused_naming_both(reel, tmp_path):
    shots = [_shot(tmp_path, "a", 10, 10, (200, 0, 0)), _shot(tmp_path, "b", 15, 10, (0, 200, 0))]
    with pytest.raises(ShotError, match=r"shot 'b': .*reel\.mov: frames 15-24 of the reel overlap shot 'a' \(10-19\)"):
        conform("reel", reel, shots, tmp_path / "c.mov", tmp_path / "d.wav", tmp_path / "c.otio", "ffv1")
    assert not (tmp_path / "c.mov").exists()


def test_a_shot_with_handles_goes_in_without_them_at_its_reel_position(reel, tmp_path):
    """A shot of 20 frames of a camera source with handles (3, 2), put back at reel timecode 10:00:01:10 (frame
    35): its frames 3-17 fill reel frames 35-49, its audio from frame 3 on lies there on the stem, and its
    timeline clip is that cut of its dubbed file, whose handles stay available to trim into. A preview of 10
    frames of it goes in as its first 7 cut frames."""
    work = tmp_path / "c"
    work.mkdir()
    save_json(work / "actor.json", {"range": [100, 120], "n_frames": 20, "handles": [3, 2]})
    frames = np.zeros((20, H, W, 3), np.uint8)
    frames[..., 0] = 10 * np.arange(20)[:, None, None]  # each frame tells its index
    save_frames(work / "frames.npy", frames)
    with wave.open(str(work / "audio.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(RATE)
        w.writeframes(np.repeat(np.arange(20, dtype=np.int16) + 1, 2 * RATE // FPS).tobytes())
    (work / "dubbed.mp4").write_bytes(b"review file")
    shot = ("c", work / "actor.json", work / "frames.npy", work / "audio.wav", work / "dubbed.mp4")
    out = tmp_path / "out"
    conform("reel", reel, [shot], out / "r.mov", out / "d.wav", out / "r.otio", "ffv1", {"c": "10:00:01:10"})
    result = np.stack(list(read_frames(probe_video(out / "r.mov"))))
    source = np.stack(list(read_frames(probe_video(reel))))
    np.testing.assert_array_equal(result[35:50], frames[3:18])
    np.testing.assert_array_equal(np.delete(result, range(35, 50), 0), np.delete(source, range(35, 50), 0))
    with wave.open(str(out / "d.wav")) as w:
        per_frame = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(T, -1)
    assert (per_frame[35:50] == np.arange(4, 19)[:, None]).all() and not np.delete(per_frame, range(35, 50), 0).any()
    import opentimelineio as otio

    timeline = otio.adapters.read_from_file(str(out / "r.otio"))
    clip = next(c for c in timeline.video_tracks()[0] if c.name == "c")
    assert (clip.range_in_parent().start_time.to_frames(), clip.source_range.start_time.to_frames(),
            clip.source_range.duration.to_frames(), clip.available_range().duration.to_frames()) == (35, 3, 15, 20)

    save_json(work / "actor.json", {"range": [100, 120], "n_frames": 10, "handles": [3, 2]})  # a preview
    save_frames(work / "frames.npy", frames[:10])
    conform("reel", reel, [shot], out / "p.mov", out / "p.wav", out / "p.otio", "ffv1", {"c": 35})
    preview = np.stack(list(read_frames(probe_video(out / "p.mov"))))
    np.testing.assert_array_equal(preview[35:42], frames[3:10])
    np.testing.assert_array_equal(preview[42:], source[42:])
