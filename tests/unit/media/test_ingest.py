"""Tests of the ingest stage: frame-rate conform, audio extraction, probing and decoding.

Synthetic clips are made with ffmpeg's lavfi generators in tmp_path; real clips come from
../shared/media (tests marked ``media`` skip when it is absent).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from support import MEDIA, needs_media

from vdub.core.errors import ShotError
from vdub.media.audio import extract_audio, is_silent, loudness_dbfs
from vdub.media.config import IngestConfig
from vdub.media.ingest import conform_indices, run_ingest, stretch_factor, take_indices
from vdub.media.video import probe_video, read_frames, write_video

media = pytest.mark.media


def ffmpeg_run(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
        return data, w.getframerate()


def make_clip(path: Path, size: str = "64x48", rate: str = "30", frames: int = 10, extra: tuple[str, ...] = ()) -> Path:
    ffmpeg_run("-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}", "-frames:v", str(frames),
               "-c:v", "libx264", "-pix_fmt", "yuv420p", *extra, str(path))
    return path


# --- conform_indices -------------------------------------------------------------------

def test_resample_25_to_30_known_values():
    idx = conform_indices(183, 25, 12, 30, "resample")
    # output frame i is at i/30 s; the dubber frame on screen then is floor(i * 25 / 30)
    assert idx.tolist() == [0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9]
    assert idx[6] == 5  # 0.2 s -> dubber frame 5 exactly (float arithmetic gives 4.999...)
    assert idx.dtype == np.int64


def test_resample_30_to_25_skips_frames():
    assert conform_indices(100, 30, 7, 25, "resample").tolist() == [0, 1, 2, 3, 4, 6, 7]


def test_resample_identity_also_for_ntsc_rates():
    n = 100_000
    assert np.array_equal(conform_indices(n, 30, n, 30, "resample"), np.arange(n))
    ntsc = conform_indices(n, "30000/1001", n, Fraction(30000, 1001), "resample")
    assert np.array_equal(ntsc, np.arange(n))
    # a float rate is snapped to the same rational
    assert np.array_equal(conform_indices(n, 30000 / 1001, n, "30000/1001", "resample"), np.arange(n))


def test_resample_shorter_take_holds_last_frame_longer_take_is_cut():
    short = conform_indices(10, 30, 20, 30, "resample")
    assert short[:10].tolist() == list(range(10)) and (short[10:] == 9).all()
    assert conform_indices(100, 30, 20, 30, "resample").tolist() == list(range(20))
    # 25 fps take of 2 s (50 frames) under a 3 s shot at 30 fps: held from t = 2 s (frame 60)
    held = conform_indices(50, 25, 90, 30, "resample")
    assert held[59] == 49 and (held[60:] == 49).all() and held[58] == 48


def test_stretch_maps_endpoints_and_is_monotonic():
    idx = conform_indices(183, 25, 199, 30, "stretch")
    assert idx[0] == 0 and idx[-1] == 182
    assert (np.diff(idx) >= 0).all() and np.diff(idx).max() == 1
    assert conform_indices(10, 30, 4, 30, "stretch").tolist() == [0, 3, 6, 9]
    assert conform_indices(4, 30, 7, 30, "stretch").tolist() == [0, 1, 1, 2, 2, 3, 3]  # round half up
    assert conform_indices(5, 30, 1, 30, "stretch").tolist() == [0]
    assert stretch_factor(183, 25, 199, 30) == pytest.approx(182 / 198 * 30 / 25)


def test_conform_rejects_bad_arguments():
    with pytest.raises(ValueError):
        conform_indices(0, 25, 10, 30, "resample")
    with pytest.raises(ValueError, match="policy"):
        conform_indices(10, 25, 10, 30, "trim")


def test_ingest_config_from_dict():
    cfg = IngestConfig.from_dict({"conform": "stretch", "max_frames": 12})
    assert cfg.conform == "stretch" and cfg.max_frames == 12 and cfg.audio_sample_rate == 48000
    with pytest.raises(ValueError, match="confrom"):
        IngestConfig.from_dict({"confrom": "stretch"})
    with pytest.raises(ValueError):
        IngestConfig.from_dict({"silent_audio": "ignore"})


# --- audio -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sine_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "sine 1s.wav"
    ffmpeg_run("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1", str(path))
    return path


def test_extract_audio_trims_to_exact_samples(sine_wav, tmp_path):
    out = tmp_path / "trim.wav"
    assert extract_audio(sine_wav, out, 7 / 30, sample_rate=48000) == 11200
    data, rate = read_wav(out)
    assert rate == 48000 and data.shape == (11200, 2)
    assert np.abs(data).max() > 1000


def test_extract_audio_pads_with_zeros(sine_wav, tmp_path):
    out = tmp_path / "pad.wav"
    assert extract_audio(sine_wav, out, 2.5, sample_rate=48000, channels=1) == 120000
    data, rate = read_wav(out)
    assert data.shape == (120000, 1)
    # the 1 s source covers the first 48000 samples (a few more for resampler ringing)
    assert np.abs(data[1000:47000]).mean() > 1000
    assert not data[48100:].any()


def test_extract_audio_without_audio_stream_names_shot_and_file(tmp_path):
    clip = make_clip(tmp_path / "mute.mp4")
    with pytest.raises(ShotError) as err:
        extract_audio(clip, tmp_path / "x.wav", 1.0, shot="sh010")
    assert "sh010" in str(err.value) and str(clip) in str(err.value) and "no audio" in str(err.value)
    assert not (tmp_path / "x.wav").exists()


@media
@needs_media
def test_silence_detection_on_real_tracks():
    assert loudness_dbfs(MEDIA / "dubber_woman_plain.mp4") < -50
    assert is_silent(MEDIA / "dubber_woman_plain.mp4")
    speech = loudness_dbfs(MEDIA / "dub_audio_en.wav")
    assert -40 < speech < -10
    assert not is_silent(MEDIA / "dub_audio_en.wav")


# --- probing and decoding ----------------------------------------------------------------

@media
@needs_media
def test_probe_non_square_pixels():
    info = probe_video(MEDIA / "actor_glasses_man.mp4", shot="sh1")
    assert (info.width, info.height) == (512, 480)
    assert info.sar == pytest.approx(15 / 16) and info.sar_str == "15:16"
    assert (info.display_width, info.display_height) == (480, 480)
    assert info.fps == 30 and info.fps_str == "30/1" and info.n_frames == 587
    assert info.rotation == 0 and info.has_audio and info.audio_sample_rate == 44100
    assert probe_video(MEDIA / "dubber_man_office.mp4").fps_str == "25/1"


@media
@needs_media
def test_read_frames_display_geometry_and_count():
    info = probe_video(MEDIA / "actor_glasses_man.mp4")
    n = 0
    for frame in read_frames(info):
        assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8
        n += 1
    assert n == 587
    # SAR correction squeezes the coded width (it does not crop): the display frame equals
    # the coded frame resampled to 480 columns.
    display = next(read_frames(info, max_frames=1)).astype(float)
    coded = next(read_frames(info, size=(512, 480), max_frames=1)).astype(float)
    cols = (np.arange(480) + 0.5) * 512 / 480 - 0.5
    squeezed = np.stack([np.stack([np.interp(cols, np.arange(512), coded[y, :, c]) for c in range(3)], -1)
                         for y in range(480)])
    assert np.abs(squeezed - display).mean() < 3.0
    assert len(list(read_frames(info, max_frames=5))) == 5


def test_probe_bad_files_name_shot_and_path(tmp_path):
    missing = tmp_path / "no such.mp4"
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    audio_only = tmp_path / "voice.wav"
    ffmpeg_run("-f", "lavfi", "-i", "sine=duration=0.2", str(audio_only))
    for path, why in [(missing, "not found"), (empty, "empty"), (text, "ffprobe"), (audio_only, "no video stream")]:
        with pytest.raises(ShotError) as err:
            probe_video(path, shot="sh042")
        message = str(err.value)
        assert "sh042" in message and str(path) in message and why in message, message
        assert err.value.shot == "sh042" and err.value.path == str(path)


def test_paths_with_spaces_quotes_and_colons(tmp_path):
    clip = make_clip(tmp_path / "plain.mp4", frames=3)
    odd = tmp_path / "-take 2: \"final\" 'v1'.mp4"
    shutil.copy(clip, odd)
    info = probe_video(odd)
    assert info.n_frames == 3 and len(list(read_frames(info))) == 3


def _rotated_clip(tmp_path: Path) -> tuple[Path, Path]:
    plain = make_clip(tmp_path / "plain.mp4", size="64x48", frames=5)
    rotated = tmp_path / "rotated.mp4"
    try:  # ffmpeg >= 6 sets the display matrix with an input option
        ffmpeg_run("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated))
    except subprocess.CalledProcessError:  # older ffmpeg: the mov muxer reads the rotate tag
        ffmpeg_run("-i", str(plain), "-c", "copy", "-metadata:s:v", "rotate=90", str(rotated))
    return plain, rotated


def test_rotation_metadata_gives_rotated_display_frames(tmp_path):
    plain, rotated = _rotated_clip(tmp_path)
    raw = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(rotated)],
                                    capture_output=True, check=True).stdout)["streams"][0]
    if not raw.get("side_data_list") and "rotate" not in raw.get("tags", {}):
        pytest.skip("this ffmpeg could not write rotation metadata")
    info = probe_video(rotated)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (64, 48) and (info.display_width, info.display_height) == (48, 64)
    frames = list(read_frames(info))
    assert len(frames) == 5 and frames[0].shape == (64, 48, 3)
    upright = next(read_frames(probe_video(plain))).astype(int)
    # the rotation field follows ffprobe's counter-clockwise convention, as ffmpeg applies it
    expected = np.rot90(upright, k=info.rotation // 90)
    assert np.abs(frames[0].astype(int) - expected).mean() < 1.0
    assert np.abs(frames[0].astype(int) - np.rot90(upright, k=-info.rotation // 90)).mean() > 20


def test_truncated_stream_yields_decodable_frames(tmp_path):
    whole = make_clip(tmp_path / "whole.ts", size="128x96", frames=30, extra=("-f", "mpegts"))
    cut = tmp_path / "cut.ts"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    frames = list(read_frames(probe_video(cut)))
    assert 5 <= len(frames) < 30 and frames[0].shape == (96, 128, 3)


# --- write_video --------------------------------------------------------------------------

def _gradient_frames(n: int, height: int, width: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(n):
        frame = np.empty((height, width, 3), np.uint8)
        frame[..., 0] = xx * 255 // width
        frame[..., 1] = yy * 255 // height
        frame[..., 2] = (t * 7) % 256
        frames.append(frame)
    return frames


def test_write_video_round_trip_with_audio(sine_wav, tmp_path):
    frames = _gradient_frames(30, 48, 64)
    wav = tmp_path / "a.wav"
    extract_audio(sine_wav, wav, 30 * 1001 / 30000)
    out = tmp_path / "out dir" / "dubbed.mp4"
    assert write_video(iter(frames), out, "30000/1001", audio_path=wav) == 30
    info = probe_video(out)
    assert (info.display_width, info.display_height) == (64, 48)
    assert info.fps_str == "30000/1001" and info.n_frames == 30 and info.has_audio
    back = np.stack(list(read_frames(info)))
    assert back.shape == (30, 48, 64, 3)
    # colour matrix of encode and decode agree (a BT.601/709 mismatch shifts colours by ~10)
    assert np.abs(back.astype(int) - np.stack(frames)).mean() < 3.0
    assert [p.name for p in out.parent.iterdir()] == ["dubbed.mp4"]  # no temporary left behind


def test_write_video_odd_size_pads_by_one_pixel(tmp_path):
    frames = _gradient_frames(4, 49, 65)
    out = tmp_path / "odd.mp4"
    write_video(frames, out, 25)
    info = probe_video(out)
    assert (info.width, info.height) == (66, 50) and info.n_frames == 4
    back = next(read_frames(info)).astype(int)
    assert np.abs(back[:49, :65] - frames[0]).mean() < 3.0
    assert np.abs(back[49, :65] - back[48, :65]).mean() < 3.0  # replicated edge, not black


def test_write_video_odd_size_exact_keeps_the_size(tmp_path):
    frames = _gradient_frames(4, 49, 65)
    out = tmp_path / "odd.mp4"
    write_video(frames, out, 25, odd_size="exact")
    info = probe_video(out)
    assert (info.width, info.height) == (65, 49) and info.n_frames == 4
    assert np.abs(next(read_frames(info)).astype(int) - frames[0]).mean() < 3.0


@media
@needs_media
def test_odd_sized_shot_comes_out_at_its_exact_size_and_length(tmp_path):
    """A 1279x719 actor clip (derived from a real one): ingest and mux keep its geometry and frame count."""
    from vdub.media.ingest import ingest_actor
    from vdub.media.mux import mux

    clip = tmp_path / "odd clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(MEDIA / "actor_woman_bluewall.mp4"), "-frames:v", "20",
                    "-vf", "scale=1279:719", "-c:v", "libx264", "-pix_fmt", "yuv444p", "-an", str(clip)], check=True)
    frames, meta = tmp_path / "actor.npy", tmp_path / "actor.json"
    ingest_actor("odd", clip, frames, meta)
    assert np.load(frames, mmap_mode="r").shape == (20, 719, 1279, 3)
    fps_str = json.loads(meta.read_text())["actor"]["fps_str"]
    info = tmp_path / "info.json"  # what mux reads of ingest_dubber's info
    info.write_text(json.dumps({"fps_str": fps_str}))
    audio = tmp_path / "dub.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=0.6", str(audio)],
                   check=True)
    out = tmp_path / "dubbed.mp4"
    mux("odd", frames, audio, info, out)
    result = probe_video(out)
    assert (result.display_width, result.display_height, result.n_frames) == (1279, 719, 20)
    assert result.fps_str == fps_str


# --- run_ingest on real clips ------------------------------------------------------------

@media
@needs_media
def test_run_ingest_25fps_dubber_onto_30fps_actor(tmp_path):
    out = {k: tmp_path / f"{k}{ext}" for k, ext in
           [("actor", ".npy"), ("dubber", ".npy"), ("audio", ".wav"), ("info", ".json")]}
    info = run_ingest("bluewall_01", MEDIA / "actor_woman_bluewall.mp4", MEDIA / "dubber_man_office.mp4", None,
                      out["actor"], out["dubber"], out["audio"], out["info"], IngestConfig(max_frames=45))
    actor = np.load(out["actor"], mmap_mode="r")
    dubber = np.load(out["dubber"], mmap_mode="r")
    assert actor.shape == (45, 700, 700, 3) and dubber.shape == (45, 512, 512, 3)
    audio, rate = read_wav(out["audio"])
    assert rate == 48000 and audio.shape == (45 * 48000 // 30, 2)  # exactly 45/30 s
    saved = json.loads(out["info"].read_text())
    assert saved["n_frames"] == 45 and saved["fps_str"] == "30/1" and saved["conform"] == "resample"
    assert saved["dubber_indices"][6] == 5 and saved["dubber_indices"][-1] == 36
    assert saved["audio"]["from"] == "dubber" and not saved["audio"]["silent"]
    assert info["dubber"]["fps_str"] == "25/1"
    # output frame i holds exactly the dubber's decoded frame idx[i]
    source = list(read_frames(probe_video(MEDIA / "dubber_man_office.mp4"), max_frames=37))
    for i in (0, 1, 6, 7, 44):
        assert np.array_equal(dubber[i], source[saved["dubber_indices"][i]])
    first_actor = next(read_frames(probe_video(MEDIA / "actor_woman_bluewall.mp4"), max_frames=1))
    assert np.array_equal(actor[0], first_actor)


@media
@needs_media
def test_run_ingest_silent_dub(tmp_path, caplog):
    outs = [tmp_path / n for n in ("a.npy", "d.npy", "a.wav", "i.json")]
    args = ("plain_03", MEDIA / "actor_woman_bluewall.mp4", MEDIA / "dubber_woman_plain.mp4", None, *outs)
    with pytest.raises(ShotError) as err:
        run_ingest(*args, IngestConfig(max_frames=3))
    assert "plain_03" in str(err.value) and "dubber_woman_plain.mp4" in str(err.value)
    # Nothing of the dubber half exists; the actor half does not depend on the take and completed.
    assert not any(p.exists() for p in outs[1:]) and outs[0].exists()
    with caplog.at_level(logging.WARNING, logger="vdub.media.ingest"):
        info = run_ingest(*args, IngestConfig(max_frames=3, silent_audio="warn"))
    assert info["audio"]["silent"] and "silent" in caplog.text
    # an explicit audio file replaces the dubber's silent track
    info = run_ingest(*args[:3], MEDIA / "dub_audio_en.wav", *outs, IngestConfig(max_frames=3))
    assert info["audio"]["from"] == "explicit" and not info["audio"]["silent"]


@needs_media
def test_ingest_actor_decodes_a_shot_range_frame_accurately(tmp_path):
    """A shot as frames [61, 75) of a clip, by frame numbers and by the timecodes of a timecoded copy: the
    same frames bit for bit as decoding the clip from its start, with no intermediate clip."""
    from vdub.core.io import load_frames
    from vdub.media.ingest import ingest_actor

    clip = MEDIA / "actor_woman_bluewall.mp4"  # 30 fps
    whole = np.stack(list(read_frames(probe_video(clip), max_frames=75)))
    info = ingest_actor("r1", clip, tmp_path / "a.npy", tmp_path / "a.json", actor_in=61, actor_out=75)
    np.testing.assert_array_equal(load_frames(tmp_path / "a.npy"), whole[61:75])
    assert info["range"] == [61, 75] and info["n_full"] == info["n_frames"] == 14
    timecoded = tmp_path / "reel.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-timecode", "01:00:00:00",
                    str(timecoded)], check=True)
    info = ingest_actor("r1", timecoded, tmp_path / "b.npy", tmp_path / "b.json", max_frames=10,
                        actor_in="01:00:02:01", actor_out="01:00:02:15")
    np.testing.assert_array_equal(load_frames(tmp_path / "b.npy"), whole[61:71])  # max_frames cuts the range
    assert info["range"] == [61, 75] and info["n_full"] == 14 and info["n_frames"] == 10


def test_take_indices_start_the_take_at_the_cut():
    """With (head, tail) handles the take's first frame is shown at the cut's first frame and held before it;
    resample runs on into the tail, stretch fits the take to the cut and holds its last frame over the tail."""
    resample = take_indices(20, 25, 30, 30, "resample", (5, 4))
    np.testing.assert_array_equal(resample[:6], 0)
    np.testing.assert_array_equal(resample[5:], conform_indices(20, 25, 25, 30, "resample"))
    stretch = take_indices(20, 25, 30, 30, "stretch", (5, 4))
    np.testing.assert_array_equal(stretch[5:26], conform_indices(20, 25, 21, 30, "stretch"))
    assert stretch[25] == 19 and (stretch[26:] == 19).all() and (stretch[:5] == 0).all()
    np.testing.assert_array_equal(take_indices(20, 25, 30, 30, "resample"), conform_indices(20, 25, 30, 30, "resample"))


@needs_media
def test_a_shot_with_handles_gets_its_take_and_audio_from_the_cut_on(tmp_path):
    """Frames [55, 80) of a clip with handles (5, 3): the dubber's first frame held over the head handle, then
    the take from the cut's first frame on as without handles; the audio silent over the head handle and the
    same samples as the cut's own after it."""
    from vdub.media.ingest import ingest_actor, ingest_dubber

    clip, take = MEDIA / "actor_woman_bluewall.mp4", MEDIA / "dubber_man_office.mp4"
    results = {}
    for name, span, handles in (("cut", (60, 77), (0, 0)), ("handles", (55, 80), (5, 3))):
        folder = tmp_path / name
        folder.mkdir()
        ingest_actor(name, clip, folder / "a.npy", folder / "a.json", actor_in=span[0], actor_out=span[1],
                     handles=handles)
        info = ingest_dubber(name, folder / "a.json", take, None, folder / "d.npy", folder / "d.wav",
                             folder / "i.json")
        results[name] = info["dubber_indices"], read_wav(folder / "d.wav")[0], np.load(folder / "d.npy")
    (cut_idx, cut_audio, cut_frames), (idx, audio, frames) = results["cut"], results["handles"]
    assert (idx[:6] == 0).all() and list(idx[5:5 + 17]) == list(cut_idx)
    np.testing.assert_array_equal(frames[5:22], cut_frames)
    head = 5 * 48000 // 30
    assert not audio[:head].any() and len(audio) == 25 * 48000 // 30
    np.testing.assert_array_equal(audio[head:head + len(cut_audio)], cut_audio)
