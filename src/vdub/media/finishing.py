"""Deliverables for finishing: the matte of the changed pixels and a mezzanine master (rules matte, master).

The review file (``dubbed.mp4``, :mod:`vdub.media.mux`) is 8-bit 4:2:0 H.264 with the edit baked
in. A compositor and a colourist need more: the **matte** says which pixels the pipeline changed
(0: the actor's frame bit for bit, 255: entirely the network's head, the feathered edge between),
so one frame can be fixed by hand; the **master** is the shot at finishing quality. Both have the
actor's display size, frame rate and frame count, frame for frame with ``dubbed.mp4``.

* matte: 8-bit grey in a QuickTime ``.mov`` with the PNG codec: lossless (QuickTime Animation
  was tried: ffmpeg writes its grey as a palette that does not decode back exactly).
* master ``prores_4444``: ProRes 4444 (10-bit 4:4:4) with the matte as its alpha channel;
  ``prores_422hq``: ProRes 422 HQ (10-bit 4:2:2), no alpha. Both in a ``.mov`` with the dubbed
  audio as 24-bit PCM and the actor file's timecode when it has one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import FrameWriter, atomic_path, load_frames, load_json
from vdub.media.process import ffmpeg_url, pipe_frames
from vdub.media.timecode import shifted_timecode, source_timecode
from vdub.media.video import checked_frames

log = logging.getLogger(__name__)

#: Master kinds (config ``finishing.master``) -> prores_ks profile, pixel format, and whether the matte is its alpha.
MASTERS = {
    "prores_4444": ("4444", "yuva444p10le", True),
    "prores_422hq": ("hq", "yuv422p10le", False),
}

#: RGB -> Y'CbCr as the review file does it: BT.709 matrix, video range, tagged to match.
_BT709 = {"colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709", "color_range": "tv"}


def _prores(profile: str, pix_fmt: str) -> dict:
    """ffmpeg output options of a ProRes encode (``prores_ks``) from RGB, BT.709 video range."""
    return {"vcodec": "prores_ks", "profile:v": profile, "vendor": "apl0", **_BT709,
            "vf": f"scale=out_color_matrix=bt709:out_range=tv,format={pix_fmt}"}


#: Codecs of a conformed reel (config ``conform.codec``) -> ffmpeg output options: ProRes 422 HQ, what
#: an editor reads (10-bit 4:2:2, near lossless), or FFV1 lossless RGB (bit for bit, for archive and tests).
REEL_CODECS = {
    "prores_422hq": _prores("hq", "yuv422p10le"),
    "ffv1": {"vcodec": "ffv1", "level": 3, "pix_fmt": "bgr0"},
}


def _encode(frames: Iterable[np.ndarray], path: str | Path, fps: str, in_pix_fmt: str, size: tuple[int, int],
            out_kwargs: dict, audio_path: str | Path | None = None, timecode: str | None = None) -> int:
    """Pipe raw frames (``in_pix_fmt``, ``size`` = (W, H)) into ffmpeg and write ``path`` atomically."""
    rate = Fraction(fps)
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt=in_pix_fmt, s=f"{size[0]}x{size[1]}",
                         framerate=f"{rate.numerator}/{rate.denominator}")
    streams = [video["v"]]
    if audio_path is not None:
        streams.append(ffmpeg.input(ffmpeg_url(audio_path))["a:0"])
        out_kwargs = {**out_kwargs, "acodec": "pcm_s24le"}
    if timecode:
        out_kwargs = {**out_kwargs, "timecode": timecode}
    with atomic_path(path) as tmp:
        args = (
            ffmpeg.output(*streams, ffmpeg_url(tmp), format="mov", fps_mode="passthrough", **out_kwargs)
            .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
            .overwrite_output()
            .compile()
        )
        return pipe_frames(args, frames, path)


def write_matte(mattes: np.ndarray, path: str | Path, fps: str) -> int:
    """Encode a matte losslessly: 8-bit grey, PNG codec in a QuickTime ``.mov``.

    mattes: T x H x W uint8; fps: the exact rate (``"30000/1001"``). Returns the frames written.
    """
    h, w = mattes.shape[1:]
    return _encode(checked_frames(mattes, (h, w), "matte frame"), path, fps, "gray", (w, h),
                   {"vcodec": "png", "pix_fmt": "gray"})


def write_master(frames: np.ndarray, mattes: np.ndarray, path: str | Path, fps: str, kind: str,
                 audio_path: str | Path | None = None, timecode: str | None = None) -> int:
    """Encode the mezzanine master: ProRes (``kind``, one of :data:`MASTERS`) in a ``.mov``.

    frames: T x H x W x 3 uint8 RGB; mattes: T x H x W uint8, the alpha of ``prores_4444``;
    fps: the exact rate; audio_path: the dubbed audio (24-bit PCM in the file); timecode: the
    start timecode to carry. Returns the frames written.
    """
    if kind not in MASTERS:
        raise ValueError(f"master must be one of {sorted(MASTERS)}, got {kind!r}")
    profile, pix_fmt, with_alpha = MASTERS[kind]
    t_count, h, w = frames.shape[:3]
    if mattes.shape != (t_count, h, w):
        raise ValueError(f"matte is {mattes.shape}, the frames {frames.shape}")

    rgb = checked_frames(frames, (h, w, 3), "output frame")

    def rgba() -> Iterator[np.ndarray]:
        for colour, alpha in zip(rgb, checked_frames(mattes, (h, w), "matte frame")):
            yield np.concatenate([colour, alpha[..., None]], axis=-1)

    out_kwargs = _prores(profile, pix_fmt)
    if with_alpha:
        return _encode(rgba(), path, fps, "rgba", (w, h), {**out_kwargs, "alpha_bits": 16}, audio_path, timecode)
    return _encode(rgb, path, fps, "rgb24", (w, h), out_kwargs, audio_path, timecode)


def write_reel(frames: Iterable[np.ndarray], path: str | Path, fps: str, size: tuple[int, int], codec: str,
               audio_path: str | Path | None = None, timecode: str | None = None) -> int:
    """Encode a reel: H x W x 3 uint8 RGB frames (``size`` = (W, H)) in a ``.mov`` of ``codec``
    (:data:`REEL_CODECS`), with an audio file as 24-bit PCM and a start timecode. Returns the frames written."""
    if codec not in REEL_CODECS:
        raise ValueError(f"reel codec must be one of {sorted(REEL_CODECS)}, got {codec!r}")
    w, h = size
    return _encode(checked_frames(frames, (h, w, 3), "reel frame"), path, fps, "rgb24", size, REEL_CODECS[codec],
                   audio_path, timecode)


def matte_stage(shot: str, matte_path: Path, info_path: Path, out: Path) -> None:
    """Rule matte: the shot's matte (``work/<shot>/sr/matte.npy``) as ``results/<shot>/matte.mov``."""
    mattes = load_frames(matte_path)
    n = write_matte(mattes, out, load_json(info_path)["fps_str"])
    log.info("shot %s: matte of %d frames, %.1f%% of the pixels changed", shot, n,
             100.0 * float(np.mean([np.count_nonzero(m) / m.size for m in mattes])) if n else 0.0)


def master_stage(shot: str, frames_path: Path, matte_path: Path, audio_path: Path, info_path: Path,
                 actor_video: Path, out: Path, kind: str) -> None:
    """Rule master: the shot's output frames, matte and dubbed audio as a ProRes master with the actor's timecode.

    The timecode is the actor file's at the shot's first frame: moved on by the shot's
    ``actor_in`` when the shot is a range of the file (counted from 00:00:00:00 when the
    file has none, as the sample sheet counts it).
    """
    frames, mattes = load_frames(frames_path), load_frames(matte_path)
    if len(frames) == 0:
        raise ShotError(shot, frames_path, "no frames to write")
    info = load_json(info_path)
    timecode = source_timecode(actor_video, shot)
    first = (info.get("actor_range") or [0])[0]
    if first:
        timecode = shifted_timecode(timecode or "00:00:00:00", first, info["fps_str"])
    n = write_master(frames, mattes, out, info["fps_str"], kind, audio_path=audio_path, timecode=timecode)
    log.info("shot %s: %s master of %d frames, timecode %s", shot, kind, n, timecode or "none (none in the actor file)")


def stack_stage(shot: str, base_frames: Path, base_matte: Path, frames_path: Path, matte_path: Path,
                out_frames: Path, out_matte: Path) -> dict:
    """Rule stack: a shot's dub composited onto the delivered picture of the shot it is ``over`` (a two-shot).

    base_frames, frames_path: T x H x W x 3 uint8, the other shot's delivered frames and this shot's output
    (both the same actor frames, each with its own face dubbed); base_matte, matte_path: their T x H x W uint8
    mattes. Writes the frames with this shot's dub where its matte says (:func:`stack_frame`) and the union
    of the mattes (their maximum): where it is 0 the picture is the actor's.
    """
    base, frames = load_frames(base_frames), load_frames(frames_path)
    base_alpha, alpha = load_frames(base_matte), load_frames(matte_path)
    if base.shape != frames.shape or base_alpha.shape != alpha.shape or alpha.shape != frames.shape[:3]:
        raise ShotError(shot, base_frames, f"the picture it is composited onto is {base.shape} with a matte of "
                                           f"{base_alpha.shape}; this shot's {frames.shape}, {alpha.shape}")
    t_count, h, w = frames.shape[:3]
    with FrameWriter(out_frames, t_count, h, w) as frames_out, \
            FrameWriter(out_matte, t_count, h, w, channels=1) as matte_out:
        for t in range(t_count):
            a = np.asarray(alpha[t])
            frames_out.write(stack_frame(np.asarray(base[t]), np.asarray(frames[t]), a))
            matte_out.write(np.maximum(np.asarray(base_alpha[t]), a))
    log.info("shot %s: its dub composited onto %s", shot, base_frames)
    return {"frames": t_count}


def stack_frame(base: np.ndarray, frame: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """One frame of :func:`stack_stage`: ``base`` (H x W x 3 uint8) with ``frame``'s pixels blended in by
    ``matte`` (H x W uint8, 255: ``frame``'s own); where the matte is 0, ``base`` bit for bit."""
    if not matte.any():
        return base
    alpha = matte.astype(np.float32)[..., None] / np.float32(255.0)
    mixed = base.astype(np.float32) * (1.0 - alpha) + frame.astype(np.float32) * alpha
    return np.where(matte[..., None] > 0, np.clip(np.round(mixed), 0, 255), base).astype(np.uint8)
