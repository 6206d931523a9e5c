"""Bad input (issue 9): unreadable, truncated and stalled files, frame-rate and length
mismatches between actor and dubber, and missing, silent, short or long dubbed audio.

Every clip here is a real clip from ../shared/media or derived from one with ffmpeg in the
test's own folder (cut, scaled, audio dropped or silenced, truncated bytes); the shared
files are only read.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support import MEDIA, REPO, needs_media

from vdub.core.errors import ShotError
from vdub.core.samples import Shot, check_input_files
from vdub.media import audio as vaudio
from vdub.media import process as vprocess
from vdub.media.config import IngestConfig
from vdub.media.ingest import ingest_actor, ingest_dubber
from vdub.media.process import run_ffprobe
from vdub.media.sample_checks import probe_input_videos
from vdub.media.video import probe_video, read_frames

pytestmark = needs_media

ACTOR = MEDIA / "actor_woman_bluewall.mp4"  # 700x700, 30 fps, 199 frames (6.63 s)
STUDIO = MEDIA / "actor_woman_studio.mp4"  # 30 fps, 14.93 s
DUBBER = MEDIA / "dubber_man_office.mp4"  # 512x512, 25 fps, 183 frames (7.32 s), speech 7.31 s
DUB_WAV = MEDIA / "dub_audio_en.wav"  # 44.1 kHz stereo speech, 5.02 s
RATE = 48000  # IngestConfig.audio_sample_rate


def ffmpeg_run(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == RATE and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())


def decode_audio(src: Path) -> np.ndarray:
    """The whole audio track of ``src`` at 48 kHz stereo s16, straight from ffmpeg."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-map", "0:a:0",
                          "-af", f"aresample={RATE}:first_pts=0", "-ac", "2", "-f", "s16le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").reshape(-1, 2)


def envelope(samples: np.ndarray, hop: int = RATE // 100) -> np.ndarray:
    """Mean absolute level of the mono mix per 10 ms."""
    mono = np.abs(samples.astype(np.float64).mean(axis=1))
    n = len(mono) // hop
    return mono[: n * hop].reshape(n, hop).mean(axis=1)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def outputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {"actor_npy": folder / "actor.npy", "actor_json": folder / "actor.json", "dubber_npy": folder / "dubber.npy",
            "wav": folder / "audio.wav", "info": folder / "info.json"}


def run_dubber(out: dict[str, Path], dubber: Path, audio: Path | None, cfg: IngestConfig, shot: str = "s1") -> dict:
    return ingest_dubber(shot, out["actor_json"], dubber, audio, out["dubber_npy"], out["wav"], out["info"], cfg)


def test_actor_range_outside_the_video_is_rejected_before_any_job(derived):
    actor = str(derived["actor_6s"])  # 199 frames
    shot = Shot(id="shot_13", actor="a", actor_video=actor, dubber_video=str(derived["dubber"]), actor_in=150,
                actor_out=250)
    with pytest.raises(ShotError) as err:
        probe_input_videos([shot])
    assert str(err.value) == (f"shot 'shot_13': {actor}: actor range [150, 250) ends at frame 250, past the "
                              f"video's 199 frames"), str(err.value)
    probe_input_videos([replace(shot, actor_out=199)])


@pytest.fixture(scope="module")
def derived(tmp_path_factory) -> dict[str, Path]:
    """Small derived clips: scaled (faster, smaller arrays) and cut; rates and audio kept unless named."""
    d = tmp_path_factory.mktemp("derived")
    small = ("-vf", "scale=96:96", "-c:v", "libx264", "-preset", "ultrafast")
    clips = {
        "actor_6s": d / "actor 6.63s.mp4",  # 199 frames at 30 fps: shorter than the 7.32 s take
        "actor_9s": d / "actor 9s.mp4",  # 270 frames at 30 fps: longer than the take
        "actor_3s": d / "actor 3s.mp4",  # 90 frames: shorter than dub_audio_en.wav
        "dubber": d / "dubber 25fps.mp4",  # the real take, 128x128, real audio untouched
        "dubber_mute": d / "dubber no audio.mp4",
        "dubber_silent": d / "dubber silent.mp4",
        "wav_2s": d / "dub 2s.wav",
    }
    ffmpeg_run("-i", ACTOR, *small, "-an", clips["actor_6s"])
    ffmpeg_run("-i", STUDIO, "-t", "9", *small, "-an", clips["actor_9s"])
    ffmpeg_run("-i", ACTOR, "-t", "3", *small, "-an", clips["actor_3s"])
    ffmpeg_run("-i", DUBBER, "-vf", "scale=128:128", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy",
               clips["dubber"])
    ffmpeg_run("-i", DUBBER, "-c:v", "copy", "-an", clips["dubber_mute"])
    ffmpeg_run("-i", clips["dubber"], "-c:v", "copy", "-af", "volume=0", "-c:a", "aac", clips["dubber_silent"])
    ffmpeg_run("-i", DUB_WAV, "-t", "2", clips["wav_2s"])
    for name, n in (("actor_6s", 199), ("actor_9s", 270), ("actor_3s", 90), ("dubber", 183)):
        assert probe_video(clips[name]).n_frames == n, name
    return clips


@pytest.fixture(scope="module")
def actors(derived, tmp_path_factory) -> dict[str, Path]:
    """ingest_actor run once per derived actor: name -> its actor JSON."""
    done = {}
    for name in ("actor_6s", "actor_9s", "actor_3s"):
        out = outputs(tmp_path_factory.mktemp(name))
        ingest_actor("s1", derived[name], out["actor_npy"], out["actor_json"])
        done[name] = out["actor_json"]
    return done


def with_actor(tmp_path: Path, actor_json: Path) -> dict[str, Path]:
    out = outputs(tmp_path)
    shutil.copy(actor_json, out["actor_json"])
    return out


# --- case 1: unreadable input --------------------------------------------------------------------

_CHECK_AS_USER = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from vdub.core.errors import ShotError
from vdub.core.samples import Shot, check_input_files
shots = [Shot(id="shot_07", actor="a", actor_video=sys.argv[2], dubber_video=sys.argv[3])]
found = []
for lying_access in (False, True):
    if lying_access:  # as os.access does for root and on some network filesystems
        os.access = lambda *args, **kwargs: True
    try:
        check_input_files(shots)
        found.append("accepted")
    except ShotError as err:
        found.append(str(err))
print(json.dumps(found))
"""


def test_unreadable_input_is_rejected_naming_shot_and_path():
    # pytest's tmp folders are private to root: this one must be reachable by 'nobody'.
    folder = Path(tempfile.mkdtemp(prefix="vdub_unreadable_"))
    try:
        folder.chmod(0o755)
        readable = folder / "actor.mp4"
        locked = folder / "take 1.mp4"
        shutil.copy(ACTOR, readable)
        shutil.copy(DUBBER, locked)
        readable.chmod(0o644)
        locked.chmod(0)
        args = [str(REPO / "src"), str(readable), str(locked)]
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("setpriv is needed to drop root privileges")
            # root reads a mode-000 file: it passes here, as it should (the file is readable to root)
            check_input_files([Shot(id="shot_07", actor="a", actor_video=str(readable), dubber_video=str(locked))])
            cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", _CHECK_AS_USER,
                   *args]
        else:
            cmd = [sys.executable, "-c", _CHECK_AS_USER, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        assert proc.returncode == 0, proc.stderr
        plain, lying = json.loads(proc.stdout)
        for message in (plain, lying):
            assert message.startswith("shot 'shot_07': ") and str(locked) in message, message
            assert "dubber_video is not readable" in message, message
        # with os.access answering "yes", the real read still refuses the file
        assert "Permission denied" in lying
    finally:
        for p in folder.iterdir():
            p.chmod(0o644)
        shutil.rmtree(folder)


# --- case 2: truncated mid-stream; stalled inputs -------------------------------------------------

def _mdat_offset(data: bytes) -> int:
    """Byte offset of the mdat box of an mp4 (after ftyp, moov, free with +faststart)."""
    i = 0
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"mdat":
            return i
        i += size
    raise AssertionError("no mdat box")


@pytest.fixture(scope="module")
def truncated(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("truncated")
    faststart = d / "dubber faststart.mp4"
    ffmpeg_run("-i", DUBBER, "-c", "copy", "-movflags", "+faststart", faststart)
    data = faststart.read_bytes()
    start = _mdat_offset(data)
    assert start < len(data) // 10  # the index is at the front: the probe sees all 183 frames
    half, head, plain = d / "dubber half.mp4", d / "dubber head.mp4", d / "dubber plain half.mp4"
    half.write_bytes(data[: len(data) // 2])
    head.write_bytes(data[: start + 8 + 1000])  # the index, and 1000 bytes of the first frame
    original = DUBBER.read_bytes()  # moov at the end: a cut loses the index
    plain.write_bytes(original[: len(original) // 2])
    return {"half": half, "head": head, "plain": plain}


def test_truncated_actor_keeps_decoded_frames_and_warns(truncated, tmp_path, caplog):
    clip = truncated["half"]
    assert probe_video(clip).n_frames == 183
    out = outputs(tmp_path)
    with caplog.at_level(logging.WARNING, logger="vdub.media.ingest"):
        info = ingest_actor("shot_09", clip, out["actor_npy"], out["actor_json"])
    frames = np.load(out["actor_npy"])
    n = info["n_frames"]
    assert 80 <= n <= 100 and info["n_full"] == n and frames.shape == (n, 512, 512, 3)
    # the frames that decoded are the real ones, in order; with B-frames the cut may leave the
    # last one to be a later picture whose neighbours were lost
    original = list(read_frames(probe_video(DUBBER), max_frames=n + 4))
    assert all(np.array_equal(frames[i], original[i]) for i in (0, 1, n // 2, n - 2))
    assert any(np.array_equal(frames[-1], original[j]) for j in range(n - 1, n + 4))
    assert f"shot 'shot_09': {clip}: decoded {n} frames, probe said 183" in caplog.text


def test_truncated_dubber_holds_its_last_decoded_frame(truncated, actors, tmp_path, caplog):
    out = with_actor(tmp_path, actors["actor_6s"])
    with caplog.at_level(logging.WARNING, logger="vdub.media.ingest"):
        info = run_dubber(out, truncated["half"], None, IngestConfig(), shot="shot_09")
    frames = np.load(out["dubber_npy"], mmap_mode="r")
    used = np.asarray(info["dubber_indices"])
    last = int(used.max())
    assert frames.shape[0] == 199 and 80 <= last + 1 <= 100 and used[-1] == last
    match = [r.getMessage() for r in caplog.records if "frames decoded" in r.getMessage()]
    assert match == [f"shot 'shot_09': {truncated['half']}: only {last + 1} of 183 frames decoded; last frame held"]
    assert np.array_equal(frames[-1], frames[int(np.argmax(used == last))])


def test_truncation_without_a_decodable_frame_is_an_error(truncated, tmp_path):
    out = outputs(tmp_path)
    with pytest.raises(ShotError) as err:
        ingest_actor("shot_09", truncated["head"], out["actor_npy"], out["actor_json"])
    message = str(err.value)
    assert message.startswith(f"shot 'shot_09': {truncated['head']}: ") and "no frame decoded" in message, message
    assert not any(tmp_path.iterdir())  # no partial output left behind
    # with the index at the end of the file, a cut file is not a video: rejected before any job
    shot = Shot(id="shot_09", actor="a", actor_video=str(ACTOR), dubber_video=str(truncated["plain"]))
    with pytest.raises(ShotError, match=r"shot 'shot_09': .*dubber plain half\.mp4: ffprobe cannot read it"):
        probe_input_videos([shot])


def test_stalled_input_times_out_naming_the_file(tmp_path, monkeypatch):
    fifo = tmp_path / "stalled take.mp4"
    os.mkfifo(fifo)  # ffmpeg blocks opening it: nobody ever writes
    monkeypatch.setattr(vprocess, "STALL_TIMEOUT_S", 0.5)
    monkeypatch.setattr(vprocess, "PROCESS_TIMEOUT_S", 0.5)
    monkeypatch.setattr(vprocess, "SECONDS_PER_MEDIA_SECOND", 0.0)
    # the audio probe refuses a FIFO (not a regular file); bypass it to reach the decoder
    monkeypatch.setattr(vaudio, "_probe_audio", lambda src, shot: {"duration": "1.0"})
    info = replace(probe_video(DUBBER), path=str(fifo))
    calls = {
        "frames": lambda: list(read_frames(info, shot="shot_11")),
        "probe": lambda: run_ffprobe(fifo, "shot_11"),
        "loudness": lambda: vaudio.loudness_dbfs(fifo, shot="shot_11"),
        "audio": lambda: vaudio.extract_audio(fifo, tmp_path / "a.wav", 1.0, shot="shot_11"),
    }
    for name, call in calls.items():
        start = time.monotonic()
        with pytest.raises(ShotError) as err:
            call()
        elapsed = time.monotonic() - start
        assert elapsed < 5.0, (name, elapsed)
        message = str(err.value)
        assert message.startswith(f"shot 'shot_11': {fifo}: ") and "was stopped" in message, (name, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stalled take.mp4"]  # no temporary WAV left


# --- case 5: frame-rate and duration mismatch -----------------------------------------------------

def _conform_line(caplog) -> str:
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "conform" in r.getMessage()]
    return line


def test_resample_longer_take_is_cut_and_audio_trimmed(derived, actors, tmp_path, caplog):
    out = with_actor(tmp_path, actors["actor_6s"])
    with caplog.at_level(logging.INFO, logger="vdub.media.ingest"):
        info = run_dubber(out, derived["dubber"], None, IngestConfig(conform="resample"))
    assert np.load(out["dubber_npy"], mmap_mode="r").shape[0] == 199 and info["n_frames"] == 199
    assert info["dubber_indices"][-1] == 165  # frame at 198/30 s = 6.6 s of the 25 fps take
    wav = read_wav(out["wav"])
    assert wav.shape == (318400, 2)  # 199 / 30 s
    source = decode_audio(derived["dubber"])
    assert corr(wav[:, 0], source[: len(wav), 0]) > 0.99  # the take's first 6.63 s, in time
    line = _conform_line(caplog)
    for part in ("conform resample", "dubber 25/1 fps, 183 frames (7.32 s)", "actor 30/1 fps, 199 frames (6.63 s)",
                 "last 0.69 s of the take cut", "audio (dubber) 7.31 s, tempo 1.0000, trimmed by 0.68 s"):
        assert part in line, line


def test_resample_shorter_take_holds_frames_and_pads_silence(derived, actors, tmp_path, caplog):
    out = with_actor(tmp_path, actors["actor_9s"])
    with caplog.at_level(logging.INFO, logger="vdub.media.ingest"):
        info = run_dubber(out, derived["dubber"], None, IngestConfig(conform="resample"))
    assert np.load(out["dubber_npy"], mmap_mode="r").shape[0] == 270 and info["dubber_frames_held"] == 50
    assert info["dubber_indices"][219] == 182 and info["dubber_indices"][-1] == 182
    wav = read_wav(out["wav"])
    assert wav.shape == (9 * RATE, 2)
    speech_end = int(7.313 * RATE)
    assert np.abs(wav[:speech_end]).mean() > 300 and not wav[speech_end + 100:].any()  # digital silence
    line = _conform_line(caplog)
    assert "actor 30/1 fps, 270 frames (9.00 s)" in line and "held for 50 frames (1.67 s)" in line, line
    assert "padded with 1.69 s of silence" in line, line


@pytest.mark.parametrize("actor, n", [("actor_6s", 199), ("actor_9s", 270)])
def test_stretch_time_scales_frames_and_audio_onto_the_shot(derived, actors, tmp_path, caplog, actor, n):
    out = with_actor(tmp_path, actors[actor])
    with caplog.at_level(logging.INFO, logger="vdub.media.ingest"):
        info = run_dubber(out, derived["dubber"], None, IngestConfig(conform="stretch"))
    used = np.asarray(info["dubber_indices"])
    assert np.load(out["dubber_npy"], mmap_mode="r").shape[0] == n
    assert used[0] == 0 and used[-1] == 182 and info["dubber_frames_held"] == 0
    tempo = info["audio"]["tempo"]
    assert tempo == pytest.approx(182 / (n - 1) * 30 / 25)
    wav = read_wav(out["wav"])
    assert wav.shape == (round(n / 30 * RATE), 2)
    # The take's speech fills the shot: output time t carries the take's time t * tempo, the
    # time of the dubber frame shown at t (frame i at i/30 s shows dubber frame used[i] at used[i]/25 s).
    hop = RATE // 40  # 25 ms
    out_env, src_env = envelope(wav, hop), envelope(decode_audio(derived["dubber"]), hop)
    t, src_t = np.arange(len(out_env)) / 40, np.arange(len(src_env)) / 40

    def fit(k: float) -> float:  # output envelope vs the take's envelope read k times as fast
        return corr(out_env, np.interp(t * k, src_t, src_env))

    assert fit(tempo) > 0.9 and fit(1.0) < 0.5
    best = max(np.arange(0.6, 1.5, 0.005), key=fit)
    assert abs(best - tempo) < 0.015, (best, tempo)
    frame_times = used / 25
    assert np.abs(frame_times - np.arange(n) / 30 * tempo).max() <= 0.5 / 25 + 1e-9
    assert np.abs(wav[-RATE // 2:]).mean() > 100  # speech to the end, not padding
    line = _conform_line(caplog)
    assert "conform stretch" in line and f"take time-scaled by {7.32 / (n / 30):.4f}" in line, line
    assert f"tempo {tempo:.4f}" in line, line


# --- case 7: missing, silent, short and long dubbed audio -----------------------------------------

def test_dubber_without_audio_and_no_audio_file_is_rejected_before_any_job(derived):
    mute = str(derived["dubber_mute"])
    assert not probe_video(mute).has_audio
    shot = Shot(id="shot_12", actor="a", actor_video=str(ACTOR), dubber_video=mute)
    with pytest.raises(ShotError) as err:
        probe_input_videos([shot])
    assert str(err.value).startswith(f"shot 'shot_12': {mute}: dubber_video has no audio track"), str(err.value)
    probe_input_videos([replace(shot, audio=str(DUB_WAV))])  # an audio file makes the shot complete
    # an 'audio' file without an audio stream is rejected too
    with pytest.raises(ShotError, match=r"shot 'shot_12': .*dubber no audio\.mp4: no audio stream"):
        probe_input_videos([replace(shot, dubber_video=str(DUBBER), audio=mute)])


def test_silent_dubber_audio_errors_or_warns_as_configured(derived, actors, tmp_path, caplog):
    out = with_actor(tmp_path, actors["actor_3s"])
    silent = derived["dubber_silent"]
    with pytest.raises(ShotError) as err:
        run_dubber(out, silent, None, IngestConfig(silent_audio="error"), shot="shot_13")
    message = str(err.value)
    assert message.startswith(f"shot 'shot_13': {silent}: dubbed audio is silent (-inf dBFS"), message
    assert not any(out[k].exists() for k in ("dubber_npy", "wav", "info"))
    with caplog.at_level(logging.WARNING, logger="vdub.media.ingest"):
        info = run_dubber(out, silent, None, IngestConfig(silent_audio="warn"), shot="shot_13")
    assert info["audio"]["silent"] and info["n_frames"] == 90
    assert any(r.levelno == logging.WARNING and f"shot 'shot_13': {silent}: dubbed audio is silent" in r.getMessage()
               for r in caplog.records)
    assert read_wav(out["wav"]).shape == (3 * RATE, 2)


def test_explicit_audio_longer_than_the_shot_is_trimmed(derived, actors, tmp_path, caplog):
    out = with_actor(tmp_path, actors["actor_3s"])  # 3.00 s shot, 5.02 s of audio
    with caplog.at_level(logging.INFO, logger="vdub.media.ingest"):
        info = run_dubber(out, derived["dubber"], DUB_WAV, IngestConfig(conform="stretch"))
    assert info["audio"]["from"] == "explicit" and info["audio"]["tempo"] == 1.0  # used as is, even with stretch
    wav = read_wav(out["wav"])
    assert wav.shape == (3 * RATE, 2)
    assert corr(wav[:, 0], decode_audio(DUB_WAV)[: 3 * RATE, 0]) > 0.99  # the file's first 3 s
    assert "audio (explicit) 5.02 s, tempo 1.0000, trimmed by 2.02 s" in _conform_line(caplog)


def test_explicit_audio_shorter_than_the_shot_is_padded_with_silence(derived, actors, tmp_path, caplog):
    out = with_actor(tmp_path, actors["actor_6s"])  # 6.63 s shot, 2.00 s of audio
    with caplog.at_level(logging.INFO, logger="vdub.media.ingest"):
        run_dubber(out, derived["dubber"], derived["wav_2s"], IngestConfig())
    wav = read_wav(out["wav"])
    assert wav.shape == (318400, 2)
    assert corr(wav[: 2 * RATE, 0], decode_audio(DUB_WAV)[: 2 * RATE, 0]) > 0.99
    assert not wav[2 * RATE + 100:].any()  # digital silence after the file ends
    assert "padded with 4.63 s of silence" in _conform_line(caplog)
    warning = f"{derived['wav_2s']}: audio lasts 2.00 s, the shot needs 6.63 s: padded with silence"
    assert any(warning in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_fifo_input_is_rejected_before_it_is_opened(tmp_path):
    """A FIFO is rejected up front as not a regular file, before anything opens (and blocks on) it."""
    fifo = tmp_path / "take.mp4"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    shot = Shot(id="shot_14", actor="a", actor_video=str(ACTOR), dubber_video=str(fifo))
    with pytest.raises(ShotError, match=r"shot 'shot_14': .*take\.mp4: dubber_video is not a regular file"):
        check_input_files([shot])
