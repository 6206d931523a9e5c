"""Video probing, decoding to RGB frames and H.264 encoding, through ffmpeg subprocesses.

Command lines are built with ``ffmpeg-python`` as argument lists (never a shell string) and
run through :mod:`vdub.media.process`.

Geometry: frames leave :func:`read_frames` in *display* geometry, the only one the later
stages know: square pixels (the sample aspect ratio is resolved by scaling the width,
so 512x480 at SAR 15:16 becomes 480x480) and rotation metadata applied (ffmpeg's
autorotation; a 90 or 270 degree rotation swaps width and height).

Frame count: decoding passes every frame through (``-fps_mode passthrough``), so the
decoder never duplicates or drops frames to fit a nominal rate; ``VideoInfo.n_frames``
is the count the stages rely on. Variable-frame-rate footage is taken frame by frame at
its average rate (``VideoInfo.maybe_vfr`` flags it).
"""

from __future__ import annotations

import itertools
import logging
import math
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np

from vdub.core.errors import ShotError, require_file
from vdub.core.io import atomic_path
from vdub.media.process import (
    StallWatchdog,
    StderrTail,
    ffmpeg_url,
    ffprobe_error_text,
    finish_process,
    pipe_frames,
    process_timeout,
    run_ffprobe,
)

log = logging.getLogger(__name__)

#: nb_frames from the container is trusted when it agrees with duration * fps within this many frames.
_NB_FRAMES_TOLERANCE = 2


def parse_rate(rate: str | float | int | Fraction | None) -> Fraction | None:
    """A frame rate as an exact fraction: ``"30000/1001"``, ``"25"``, ``29.97`` or a Fraction.

    Returns None for ffprobe's "unknown" rates (``0/0``, ``0/1``, empty).
    Floats are snapped to the nearest fraction with a denominator up to 1001, so
    29.97002997 becomes 30000/1001.
    """
    if rate is None:
        return None
    if isinstance(rate, Fraction):
        value = rate
    elif isinstance(rate, (int, float)):
        if not math.isfinite(rate):
            return None
        value = Fraction(rate).limit_denominator(1001)
    else:
        text = str(rate).strip()
        if not text:
            return None
        try:
            if "/" in text:
                num, den = text.split("/", 1)
                if int(den) == 0:
                    return None
                value = Fraction(int(num), int(den))
            else:
                value = Fraction(text).limit_denominator(1001)
        except ValueError:
            return None
    return value if value > 0 else None


@dataclass
class VideoInfo:
    """What the pipeline needs to know about one video file (first video stream).

    Sizes are in pixels. ``width``/``height`` are the coded size; ``display_width``/
    ``display_height`` are what :func:`read_frames` yields: coded width times the sample
    aspect ratio (rounded to the nearest integer, so it may be odd), swapped for a 90 or
    270 degree rotation.
    """

    path: str
    #: Coded frame size in pixels (before SAR correction and rotation).
    width: int
    height: int
    #: Sample (pixel) aspect ratio as a float, 1.0 for square pixels; ``sar_str`` is ffprobe's "num:den".
    sar: float
    sar_str: str
    #: Counter-clockwise display rotation in degrees, one of 0, 90, 180, 270 (ffprobe's display-matrix
    #: convention; the legacy clockwise ``rotate`` tag is converted).
    rotation: int
    #: Frames per second (average rate; the stream's r_frame_rate if the average is unknown).
    fps: float
    #: The same rate as an exact rational string ("30/1", "30000/1001") for encoders.
    fps_str: str
    #: Number of frames a full decode yields (container count if consistent, else packets counted).
    n_frames: int
    #: Duration of the video stream in seconds.
    duration: float
    display_width: int
    display_height: int
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    #: Video codec name (h264, hevc, ...).
    codec: str
    #: True when the average and the nominal frame rates differ: the footage may be variable-rate.
    maybe_vfr: bool = False

    @property
    def frame_rate(self) -> Fraction:
        """The frame rate as an exact Fraction."""
        rate = parse_rate(self.fps_str)
        assert rate is not None
        return rate

    @property
    def display_size(self) -> str:
        """``WIDTHxHEIGHT`` of the display geometry, as messages name it."""
        return f"{self.display_width}x{self.display_height}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for the stage's info file)."""
        return asdict(self)


def _rotation_of(stream: dict[str, Any]) -> int:
    """Counter-clockwise rotation from the display matrix, or from the legacy clockwise tag."""
    angle: float | None = None
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            angle = float(side["rotation"])
            break
    if angle is None:
        tag = (stream.get("tags") or {}).get("rotate")
        if tag is not None:
            angle = -float(tag)
    if angle is None:
        return 0
    return int(round(angle)) % 360


def _count_packets(path: Path, shot: str | None, duration: float) -> int | None:
    # Reads the whole file: the time limit grows with its duration.
    data = run_ffprobe(path, shot, "-select_streams", "v:0", "-count_packets",
                       timeout_s=process_timeout(duration))
    streams = data.get("streams") or []
    if not streams or "nb_read_packets" not in streams[0]:
        return None
    return int(streams[0]["nb_read_packets"])


def probe_video(path: str | Path, shot: str | None = None) -> VideoInfo:
    """Read a video file's geometry, rate, frame count and audio layout.

    Raises:
        ShotError: the file is missing, empty, unreadable by ffprobe, has no video stream,
            has no usable frame rate or size, or a rotation that is not a right angle. The
            message names ``shot`` and ``path``.
    """
    path = require_file(path, shot)
    try:
        data = run_ffprobe(path, shot)
    except ffmpeg.Error as err:
        raise ShotError(shot, path, f"ffprobe cannot read it: {ffprobe_error_text(err)}") from err
    streams = data.get("streams") or []
    # Cover art in audio files is a one-frame "video" stream; it is not footage.
    videos = [
        s for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        raise ShotError(shot, path, "not a video: no video stream")
    video = videos[0]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    audio = audios[0] if audios else None

    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise ShotError(shot, path, "video stream has no frame size")

    avg = parse_rate(video.get("avg_frame_rate"))
    nominal = parse_rate(video.get("r_frame_rate"))
    rate = avg or nominal
    if rate is None:
        raise ShotError(shot, path, "video stream has no frame rate")

    sar_str = str(video.get("sample_aspect_ratio") or "1:1")
    try:
        num, den = (int(x) for x in sar_str.split(":"))
        sar = Fraction(num, den) if num > 0 and den > 0 else Fraction(1)
    except ValueError:
        sar = Fraction(1)
    sar_str = f"{sar.numerator}:{sar.denominator}"

    rotation = _rotation_of(video)
    if rotation % 90:
        raise ShotError(shot, path, f"rotation of {rotation} degrees is not supported (only right angles)")

    duration = float(video.get("duration") or (data.get("format") or {}).get("duration") or 0.0)
    n_frames = None
    if video.get("nb_frames") not in (None, "", "N/A"):
        nb = int(video["nb_frames"])
        # mp4/mov store an exact sample count; trust it when it agrees with the duration.
        if nb > 0 and (duration <= 0 or abs(nb - duration * float(rate)) <= _NB_FRAMES_TOLERANCE):
            n_frames = nb
    if n_frames is None:
        try:
            n_frames = _count_packets(path, shot, duration)
        except ffmpeg.Error as err:
            raise ShotError(shot, path, f"ffprobe cannot count frames: {ffprobe_error_text(err)}") from err
    if not n_frames:
        raise ShotError(shot, path, "video stream has no frames")
    if duration <= 0:
        duration = n_frames / float(rate)

    display_width, display_height = int(round(width * sar)), height
    if rotation in (90, 270):
        display_width, display_height = display_height, display_width

    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        sar=float(sar),
        sar_str=sar_str,
        rotation=rotation,
        fps=float(rate),
        fps_str=f"{rate.numerator}/{rate.denominator}",
        n_frames=n_frames,
        duration=duration,
        display_width=display_width,
        display_height=display_height,
        has_audio=audio is not None,
        audio_sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        audio_channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        codec=str(video.get("codec_name") or "unknown"),
        maybe_vfr=bool(avg and nominal and avg != nominal),
    )


def read_frames(
    info: VideoInfo,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    shot: str | None = None,
    start: int = 0,
) -> Iterator[np.ndarray]:
    """Decode a video frame by frame as ``H x W x 3`` uint8 RGB arrays in display geometry.

    Args:
        info: from :func:`probe_video`.
        size: ``(width, height)`` in pixels to scale to; default ``(info.display_width,
            info.display_height)``, i.e. square pixels at the coded height.
        max_frames: stop after this many frames (ffmpeg stops decoding too).
        shot: named in errors.
        start: the first frame to yield (a frame number of the file). ffmpeg seeks to half a
            frame before it and decodes from the keyframe before that, dropping what precedes
            it: frame-accurate without decoding the file from its start (the same frames bit
            for bit as a whole decode, on every shared clip).

    Every decoded frame is yielded once, in order (no rate conversion). Only one frame is
    held at a time. A truncated or partly corrupt file yields the frames that decode and
    logs a warning; a file of which no frame decodes raises :class:`ShotError`. Closing
    the generator early stops ffmpeg. An ffmpeg that delivers nothing for
    :data:`STALL_TIMEOUT_S` seconds (a stalled input) is killed and raises ShotError.
    """
    width, height = size if size is not None else (info.display_width, info.display_height)
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {width}x{height}")
    out_kwargs: dict[str, Any] = {
        "map": "0:v:0",
        "format": "rawvideo",
        "pix_fmt": "rgb24",
        # ffmpeg has already rotated the frame (autorotation) when this filter runs, so the
        # target is the rotated display size; setsar=1 records that pixels are now square.
        "vf": f"scale={width}:{height}:flags=bicubic,setsar=1",
        "fps_mode": "passthrough",
        "an": None,
        "sn": None,
        "dn": None,
    }
    if max_frames is not None:
        if max_frames <= 0:
            return
        out_kwargs["frames:v"] = int(max_frames)
    in_kwargs: dict[str, Any] = {}
    if start:
        in_kwargs["ss"] = f"{(start - 0.5) / float(info.fps):.6f}"
    args = (
        ffmpeg.input(ffmpeg_url(info.path), **in_kwargs)
        .output("pipe:", **out_kwargs)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .compile()
    )
    frame_bytes = width * height * 3
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    stderr = StderrTail(proc.stderr)
    watchdog = StallWatchdog(proc)
    n_read = 0
    try:
        while True:
            buf = watchdog.read(proc.stdout, frame_bytes)
            if len(buf) < frame_bytes:
                break  # end of stream; a partial trailing frame is not a frame
            n_read += 1
            yield np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3)
    finally:
        watchdog.stop()
        rc = finish_process(proc)
    # Reached only when the consumer read to the end (not on early close).
    if watchdog.fired:
        raise watchdog.error(shot, info.path)
    if rc != 0:
        message = stderr.text() or f"ffmpeg exited with status {rc}"
        if n_read == 0:
            last = "\n".join(message.splitlines()[-3:])
            raise ShotError(shot, info.path, f"cannot decode video: no frame decoded (truncated or corrupt "
                                             f"file?); ffmpeg said: {last}")
        log.warning("%s: decoding stopped after %d frames: %s", info.path, n_read, message)


def checked_frames(frames: Iterable[np.ndarray], shape: tuple[int, ...], what: str = "frame"
                   ) -> Iterator[np.ndarray]:
    """``frames`` as arrays, each checked to be ``shape`` uint8 (a ValueError names ``what`` and its index)."""
    for index, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.shape != shape or frame.dtype != np.uint8:
            raise ValueError(f"{what} {index} is {frame.shape} {frame.dtype}, expected {shape} uint8")
        yield frame


def _even_pad(frame: np.ndarray) -> np.ndarray:
    """Replicate the last row/column of an odd-sized frame so that 4:2:0 chroma can be encoded."""
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def write_video(
    frames: Iterable[np.ndarray],
    path: str | Path,
    fps: str | float | Fraction,
    audio_path: str | Path | None = None,
    crf: int = 18,
    preset: str = "medium",
    audio_bitrate: str = "192k",
    metadata: dict[str, str] | None = None,
    odd_size: str = "pad",
) -> int:
    """Encode RGB frames to an H.264 mp4 (yuv420p, BT.709, faststart), optionally with audio.

    Args:
        frames: ``H x W x 3`` uint8 RGB arrays, all the same size (square pixels).
        path: output file; written to a temporary file beside it and renamed on success.
        fps: the exact frame rate; pass the source's rational string (``VideoInfo.fps_str``,
            e.g. "30000/1001") rather than a rounded float.
        audio_path: audio to mux as AAC. It is expected to be trimmed to the video's
            duration already; it is not cut with ``-shortest`` (AAC frame granularity would
            make ffmpeg cut the last video frames).
        crf: x264 constant rate factor (18 is visually lossless for most footage).
        metadata: container tags to set (e.g. ``{"comment": ...}``).
        odd_size: what an odd width or height gets: ``pad`` or ``exact`` (see below).

    Returns:
        The number of frames written.

    Odd sizes: 4:2:0 H.264 cannot code an odd width or height (chroma is subsampled by
    two and the SPS crop is in 2-pixel units). ``pad``: the last row and/or column is
    replicated and the file is one pixel larger there, playable everywhere. ``exact``: the
    file is 4:4:4 (High 4:4:4 Predictive) at the exact size, as editorial needs a dubbed
    shot to match its source; some players (QuickTime, browsers) refuse that profile. Either
    way a warning is logged.
    """
    rate = parse_rate(fps)
    if rate is None:
        raise ValueError(f"invalid frame rate {fps!r}")
    rate_str = f"{rate.numerator}/{rate.denominator}"
    frames_iter = iter(frames)
    try:
        first = np.asarray(next(frames_iter))
    except StopIteration:
        raise ValueError("write_video needs at least one frame") from None
    if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"frames must be H x W x 3 uint8, got {first.shape} {first.dtype}")
    if odd_size not in ("pad", "exact"):
        raise ValueError(f"odd_size must be 'pad' or 'exact', got {odd_size!r}")
    height, width = first.shape[:2]
    odd = bool(height % 2 or width % 2)
    exact = odd and odd_size == "exact"
    if exact:
        log.warning("%s: odd frame size %dx%d kept exactly: encoded 4:4:4 (High 4:4:4 Predictive), which some "
                    "players do not decode", path, width, height)
    elif odd:
        log.warning("%s: odd frame size %dx%d padded to %dx%d by edge replication for yuv420p",
                    path, width, height, width + width % 2, height + height % 2)
    enc_w, enc_h = (width, height) if exact else (width + width % 2, height + height % 2)

    video_in = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{enc_w}x{enc_h}", framerate=rate_str)
    streams = [video_in["v"]]
    out_kwargs: dict[str, Any] = {
        "vcodec": "libx264",
        "crf": int(crf),
        "preset": preset,
        # The RGB->YUV matrix and the tags must agree, or players shift the colours.
        "vf": f"scale=out_color_matrix=bt709:out_range=tv,format={'yuv444p' if exact else 'yuv420p'}",
        "colorspace": "bt709",
        "color_primaries": "bt709",
        "color_trc": "bt709",
        "color_range": "tv",
        "movflags": "+faststart",
        "fps_mode": "passthrough",
    }
    if audio_path is not None:
        if not Path(audio_path).is_file():
            raise FileNotFoundError(f"audio file not found: {audio_path}")
        streams.append(ffmpeg.input(ffmpeg_url(audio_path))["a:0"])
        out_kwargs.update({"acodec": "aac", "audio_bitrate": audio_bitrate})

    tags = [arg for key, value in (metadata or {}).items() for arg in ("-metadata", f"{key}={value}")]
    with atomic_path(path) as tmp:
        args = (
            ffmpeg.output(*streams, ffmpeg_url(tmp), **out_kwargs)
            .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
            .overwrite_output()
            .compile()
        )
        # Output options must precede the output file; ffmpeg-python cannot repeat a flag.
        out_at = args.index(ffmpeg_url(tmp))
        args[out_at:out_at] = tags
        frames_out = checked_frames(itertools.chain([first], frames_iter), (height, width, 3))
        return pipe_frames(args, frames_out if exact else map(_even_pad, frames_out), path)
