"""The sample sheet's checks that probe its files: where a shot's cut goes back into its reel."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdub.core.errors import ShotError
from vdub.core.samples import parse_samples
from vdub.media.sample_checks import probe_input_videos


def _clip(path: Path, frames: int, rate: int = 25, timecode: str | None = None, audio: bool = False,
          size: str = "64x48") -> str:
    import subprocess

    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-shortest"]
    subprocess.run(["ffmpeg", "-v", "error", *inputs, "-frames:v", str(frames), "-c:v", "libx264",
                    *(["-timecode", timecode] if timecode else []), str(path)], check=True)
    return path.name


def test_cuts_are_checked_in_their_reel_before_any_job(tmp_path, monkeypatch):
    """Where a shot's cut goes is checked against its reel: inside it, at its rate, not over another's cut.
    Ranges of one camera source may overlap (two events of one take), their cuts in the reel may not."""
    monkeypatch.chdir(tmp_path)
    reel, camera = _clip(tmp_path / "reel.mov", 60, timecode="10:00:00:00"), _clip(tmp_path / "A001.mov", 100)
    camera30, take = _clip(tmp_path / "A002.mov", 100, rate=30), _clip(tmp_path / "take.mp4", 25, audio=True)
    wide = _clip(tmp_path / "A003.mov", 100, size="128x48")
    base = {"actor": "a", "dubber_video": take}
    one = {**base, "id": "s1", "actor_video": camera, "actor_in": 10, "actor_out": 40, "handles": 5,
           "reel_video": reel, "reel_in": "10:00:00:10"}  # its cut: reel frames 10-29
    two = {**base, "id": "s2", "actor_video": camera, "actor_in": 20, "actor_out": 50, "handles": 5,
           "reel_video": reel, "reel_in": 30}  # the same camera frames, another place in the reel
    probe_input_videos(parse_samples({"shots": [one, two]}, tmp_path))
    for bad, message in (
            ({**base, "id": "s3", "actor_video": reel, "actor_in": 25, "actor_out": 35},
             r"shot 's3'.*its cut \(frames 25-34 of the reel\) overlaps shot 's1' \(10-29\)"),
            ({**two, "reel_in": 45}, r"shot 's2'.*reel\.mov.*its cut \(20 frames from reel_in 45\) ends at frame 65, "
                                     r"past the reel's 60 frames"),
            ({**two, "actor_video": camera30}, r"shot 's2'.*reel\.mov.*the reel is 25/1 fps, 64x48; the shot's "
                                               r"actor video A002\.mov 30/1 fps, 64x48: its cut cannot go back in"),
            ({**two, "actor_video": wide}, r"shot 's2'.*the reel is 25/1 fps, 64x48; the shot's actor video "
                                           r"A003\.mov 25/1 fps, 128x48")):
        with pytest.raises(ShotError, match=message):
            probe_input_videos(parse_samples({"shots": [one, bad]}, tmp_path))


def test_probes_are_kept_across_starts_by_file_version(tmp_path, monkeypatch):
    """A second start reads its probes from the cache; a replaced file, a new link to it or a changed cache
    format is probed again, a file that fails is never kept, a corrupt cache is ignored."""
    import json
    import os

    from vdub.media import probe_cache
    from vdub.media.probe_cache import ProbeCache

    monkeypatch.chdir(tmp_path)
    camera, take = _clip(tmp_path / "A001.mov", 20), _clip(tmp_path / "take.mp4", 10, audio=True)
    shots = parse_samples({"shots": [{"id": "s1", "actor": "a", "actor_video": camera, "dubber_video": take}]},
                          tmp_path)
    calls = []
    probe = probe_cache.probe_video
    monkeypatch.setattr(probe_cache, "probe_video", lambda f, shot=None: calls.append(Path(f).name) or probe(f, shot))
    first = ProbeCache(tmp_path / "probes.json")
    probe_input_videos(shots, cache=first)
    first.save()
    assert sorted(calls) == ["A001.mov", "take.mp4"]
    again = ProbeCache(tmp_path / "probes.json")
    probe_input_videos(shots, cache=again)
    assert calls == ["A001.mov", "take.mp4"] and (again.hits, again.misses) == (2, 0)
    info = again.video(camera)
    assert (info.n_frames, info.path) == (20, camera)
    os.symlink(tmp_path / camera, tmp_path / "link.mov")  # the same bytes under another name: no probe
    assert again.video("link.mov").path == "link.mov" and len(calls) == 2
    _clip(tmp_path / "A001.new.mov", 30)
    os.replace(tmp_path / "A001.new.mov", tmp_path / camera)  # a replaced take: probed again
    assert again.video(camera).n_frames == 30 and calls[-1] == "A001.mov"
    (tmp_path / "bad.mov").write_bytes(b"not a video")
    for _ in range(2):
        with pytest.raises(ShotError, match="bad.mov"):
            again.video("bad.mov", shot="s9")
    assert calls[-2:] == ["bad.mov", "bad.mov"]
    again.save()
    assert not any("bad.mov" in key for key in json.loads((tmp_path / "probes.json").read_text())["entries"])
    (tmp_path / "probes.json").write_text("{not json")
    assert ProbeCache(tmp_path / "probes.json").video(take).has_audio
