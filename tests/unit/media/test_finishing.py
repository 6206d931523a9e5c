"""The finishing deliverables: a lossless matte and a ProRes master with alpha, audio and timecode."""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from vdub.core.io import load_frames, save_frames
from vdub.media.finishing import stack_frame, stack_stage, write_master, write_matte
from vdub.media.timecode import source_timecode
from vdub.metrics.image import psnr

T, H, W = 6, 48, 64


def decode(path: Path, pix_fmt: str, channels: int) -> np.ndarray:
    """Every frame of ``path`` as raw ``pix_fmt``: T x H x W (x channels); Y'CbCr read as the BT.709 it is tagged."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", "scale=in_color_matrix=bt709:in_range=tv",
                          "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8)
    return frames.reshape(-1, H, W) if channels == 1 else frames.reshape(-1, H, W, channels)


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-count_frames", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.fixture
def shot(tmp_path):
    """Smooth RGB frames (codec-friendly), a matte with a soft edge, 1 s of 48 kHz audio."""
    yy, xx = np.mgrid[0:H, 0:W]
    frames = np.stack([np.stack([(xx * 3 + t * 10) % 256, (yy * 4) % 256, np.full_like(xx, 90 + t)], -1)
                       for t in range(T)]).astype(np.uint8)
    mattes = np.stack([np.clip((20 - np.hypot(yy - 24, xx - 32 - t)) * 40, 0, 255) for t in range(T)]).astype(np.uint8)
    audio = tmp_path / "audio.wav"
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(48000)
        w.writeframes((np.sin(np.arange(48000) / 20) * 8000).astype(np.int16).tobytes())
    return frames, mattes, audio


def test_matte_is_lossless_grey_at_the_exact_rate(shot, tmp_path):
    _, mattes, _ = shot
    assert write_matte(mattes, tmp_path / "matte.mov", "30000/1001") == T
    np.testing.assert_array_equal(decode(tmp_path / "matte.mov", "gray", 1), mattes)
    stream = probe(tmp_path / "matte.mov")["streams"][0]
    assert stream["pix_fmt"] == "gray" and stream["r_frame_rate"] == "30000/1001" and int(stream["nb_read_frames"]) == T


def test_prores_4444_master_carries_alpha_audio_and_timecode(shot, tmp_path):
    frames, mattes, audio = shot
    master = tmp_path / "master.mov"
    assert write_master(frames, mattes, master, "25", "prores_4444", audio_path=audio, timecode="01:00:10:05") == T
    info = probe(master)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    sound = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert video["codec_name"] == "prores" and video["pix_fmt"].startswith("yuva444p")
    assert (video["width"], video["height"], video["r_frame_rate"], int(video["nb_read_frames"])) == (W, H, "25/1", T)
    assert sound["codec_name"] == "pcm_s24le"
    assert source_timecode(master) == "01:00:10:05"
    rgba = decode(master, "rgba", 4)
    assert np.abs(rgba[..., 3].astype(int) - mattes).max() <= 1  # 16-bit alpha, back to 8 bits
    assert min(psnr(rgba[t, ..., :3], frames[t]) for t in range(T)) > 50  # 10-bit 4:4:4: near lossless


def test_prores_422hq_master_has_no_alpha(shot, tmp_path):
    frames, mattes, _ = shot
    write_master(frames, mattes, tmp_path / "hq.mov", "24000/1001", "prores_422hq")
    video = probe(tmp_path / "hq.mov")["streams"][0]
    assert video["pix_fmt"] == "yuv422p10le" and video["profile"] == "HQ" and video["r_frame_rate"] == "24000/1001"
    assert source_timecode(tmp_path / "hq.mov") is None


def test_master_rejects_a_matte_of_another_shape(shot, tmp_path):
    frames, mattes, _ = shot
    with pytest.raises(ValueError, match="matte"):
        write_master(frames, mattes[:-1], tmp_path / "m.mov", "25", "prores_4444")
    assert not (tmp_path / "m.mov").exists()


def test_master_of_a_shot_range_carries_the_timecode_of_its_first_frame(shot, tmp_path):
    from vdub.core.io import save_frames, save_json
    from vdub.media.finishing import master_stage

    frames, mattes, audio = shot
    save_frames(tmp_path / "frames.npy", frames)
    np.save(tmp_path / "matte.npy", mattes)
    timecoded, plain = tmp_path / "reel.mov", tmp_path / "plain.mov"
    for path, extra in ((timecoded, ["-timecode", "10:00:00:00"]), (plain, [])):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=4",
                        "-c:v", "mpeg4", *extra, str(path)], check=True)
    save_json(tmp_path / "info.json", {"fps_str": "25/1", "actor_range": [30, 30 + T]})  # frames 30-35 of the reel
    for actor, expected in ((timecoded, "10:00:01:05"), (plain, "00:00:01:05")):
        master_stage("s1", tmp_path / "frames.npy", tmp_path / "matte.npy", audio, tmp_path / "info.json", actor,
                     tmp_path / "master.mov", "prores_422hq")
        assert source_timecode(tmp_path / "master.mov") == expected


def test_stack_takes_each_shots_own_face(tmp_path):
    """A two-shot's second dub onto the first's picture: the base where its matte is 0, its own where 255."""
    rng = np.random.default_rng(0)
    base, own = (rng.integers(0, 256, (3, 40, 60, 3), np.uint8) for _ in range(2))
    base_matte = np.zeros((3, 40, 60), np.uint8)
    base_matte[:, :, :30] = 255
    matte = np.zeros((3, 40, 60), np.uint8)
    matte[:, 10:30, 35:55] = 255
    matte[:, 10:30, 34] = 128  # a soft edge
    for name, array in (("base", base), ("own", own)):
        save_frames(tmp_path / f"{name}.npy", array)
    np.save(tmp_path / "base_matte.npy", base_matte)
    np.save(tmp_path / "matte.npy", matte)
    stack_stage("b", tmp_path / "base.npy", tmp_path / "base_matte.npy", tmp_path / "own.npy", tmp_path / "matte.npy",
                tmp_path / "out.npy", tmp_path / "out_matte.npy")
    out, out_matte = load_frames(tmp_path / "out.npy"), load_frames(tmp_path / "out_matte.npy")
    np.testing.assert_array_equal(out[matte == 0], base[matte == 0])
    np.testing.assert_array_equal(out[matte == 255], own[matte == 255])
    edge = out[:, 10:30, 34].astype(int)
    expected = np.round((base[:, 10:30, 34].astype(float) * 127 + own[:, 10:30, 34].astype(float) * 128) / 255)
    assert np.abs(edge - expected).max() <= 1
    np.testing.assert_array_equal(out_matte, np.maximum(base_matte, matte))
    first = base[0]
    assert stack_frame(first, own[0], np.zeros((40, 60), np.uint8)) is first
