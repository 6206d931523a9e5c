"""The dubbed audio: extraction to sample-exact PCM WAV, and loudness checks.

The audio that the mux step puts under the dubbed video must last exactly as long as the
shot (``n_frames / fps``): :func:`extract_audio` trims or zero-pads to
``round(duration_s * sample_rate)`` samples, so the length never depends on AAC frame
sizes or on how long the dubber kept the camera running.
"""

from __future__ import annotations

import math
import subprocess
import wave
from pathlib import Path

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
    process_timeout,
    raise_if_no_room,
    run_ffmpeg,
    run_ffprobe,
)

#: atempo accepts factors in [0.5, 100] per instance; smaller factors are chained.
_ATEMPO_MIN = 0.5
_ATEMPO_MAX = 100.0
#: float32 samples read per chunk when measuring loudness (bounded memory for long files).
_CHUNK_SAMPLES = 1 << 18


def _probe_audio(src: Path, shot: str | None) -> dict:
    """The first audio stream of ``src`` (ffprobe JSON), or a ShotError naming the file.

    The stream's ``duration`` is filled in from the container when the stream lacks one.
    """
    require_file(src, shot)
    try:
        data = run_ffprobe(src, shot)
    except ffmpeg.Error as err:
        raise ShotError(shot, src, f"ffprobe cannot read it: {ffprobe_error_text(err)}") from err
    audios = [s for s in data.get("streams") or [] if s.get("codec_type") == "audio"]
    if not audios:
        raise ShotError(shot, src, "no audio stream")
    stream = dict(audios[0])
    if stream.get("duration") in (None, "", "N/A"):
        stream["duration"] = (data.get("format") or {}).get("duration")
    return stream


def audio_duration(src: str | Path, shot: str | None = None) -> float | None:
    """Duration in seconds of the first audio stream of ``src`` (None if the file does not say).

    Raises:
        ShotError: ``src`` is missing, unreadable or has no audio stream.
    """
    value = _probe_audio(Path(src), shot).get("duration")
    try:
        return float(value) if value not in (None, "", "N/A") else None
    except ValueError:
        return None


def _atempo_chain(tempo: float) -> list[str]:
    """atempo filters whose product is ``tempo`` (each within the filter's accepted range)."""
    if not (tempo > 0 and math.isfinite(tempo)):
        raise ValueError(f"tempo must be positive, got {tempo}")
    if abs(tempo - 1.0) < 1e-9:
        return []
    parts: list[float] = []
    while tempo < _ATEMPO_MIN:
        parts.append(_ATEMPO_MIN)
        tempo /= _ATEMPO_MIN
    while tempo > _ATEMPO_MAX:
        parts.append(_ATEMPO_MAX)
        tempo /= _ATEMPO_MAX
    parts.append(tempo)
    return [f"atempo={p:.9f}" for p in parts]


def extract_audio(
    src: str | Path,
    out_wav: str | Path,
    duration_s: float,
    sample_rate: int = 48000,
    channels: int = 2,
    shot: str | None = None,
    tempo: float = 1.0,
    delay_s: float = 0.0,
) -> int:
    """Decode the first audio stream of a video or audio file to 16-bit PCM WAV of exact length.

    Args:
        src: video or audio file.
        out_wav: written atomically.
        duration_s: target length in seconds; the output has exactly
            ``round(duration_s * sample_rate)`` samples per channel: longer audio is cut,
            shorter audio is followed by digital silence (zeros).
        sample_rate, channels: output format (resampled / up- or down-mixed by ffmpeg).
        shot: named in errors.
        tempo: play speed factor applied before trimming (pitch kept, ffmpeg ``atempo``);
            1.0 leaves the audio untouched. Used when the dubber's take is time-stretched.
        delay_s: silence before the audio (a shot's head handle), within ``duration_s``.

    Returns:
        The number of samples per channel written.

    Raises:
        ShotError: ``src`` is missing, unreadable or has no audio stream.

    A stream that starts after time zero is preceded by silence (``first_pts=0``) so that
    the audio stays aligned with the video it came with.
    """
    src = Path(src)
    if duration_s < 0 or not math.isfinite(duration_s):
        raise ValueError(f"duration_s must be a non-negative number, got {duration_s}")
    stream = _probe_audio(src, shot)
    n_samples = int(round(duration_s * sample_rate))
    filters = [f"aresample={sample_rate}:first_pts=0", *_atempo_chain(tempo)]
    # atempo runs at the input's rate; resample again so apad/atrim count output samples.
    if len(filters) > 1:
        filters.append(f"aresample={sample_rate}")
    delay = int(round(delay_s * sample_rate))
    if delay:  # in output samples: every chain above ends at sample_rate
        filters.append(f"adelay=delays={delay}S:all=1")
    filters += [f"apad=whole_len={n_samples}", f"atrim=end_sample={n_samples}"]
    with atomic_path(out_wav, suffix=".wav") as tmp:
        args = (
            ffmpeg.input(ffmpeg_url(src))
            .output(
                ffmpeg_url(tmp),
                map="0:a:0",
                af=",".join(filters),
                ac=int(channels),
                ar=int(sample_rate),
                acodec="pcm_s16le",
                format="wav",
                vn=None,
                sn=None,
                dn=None,
            )
            .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
            .overwrite_output()
            .compile()
        )
        try:
            source_s = float(stream.get("duration") or 0.0)
        except ValueError:
            source_s = 0.0
        result = run_ffmpeg(args, src, shot, process_timeout(max(source_s, duration_s)))
        if result.returncode != 0:
            text = result.stderr.decode("utf-8", "replace").strip()
            raise_if_no_room(text, out_wav)
            raise ShotError(shot, src, f"cannot decode audio: {text or f'ffmpeg exit status {result.returncode}'}")
        written = wav_samples(tmp)
        if written != n_samples:
            # An empty input stream gives apad nothing to pad; never hand on a wrong length.
            raise ShotError(shot, src, f"audio decoded to {written} samples, expected {n_samples}")
    return n_samples


def wav_samples(wav_path: str | Path) -> int:
    """Number of samples per channel in a PCM WAV file (from its header)."""
    with wave.open(str(wav_path), "rb") as w:
        return w.getnframes()


def loudness_dbfs(wav_path: str | Path, shot: str | None = None) -> float:
    """RMS level of all samples of all channels, in dB relative to full scale.

    0 dBFS is a full-scale square wave (a full-scale sine reads -3.01 dBFS), the same scale
    as ffmpeg's ``volumedetect`` mean volume. Digital silence returns ``-inf``. Any file
    ffmpeg can decode is accepted (WAV, or the audio track of a video); it is streamed, so
    long files use bounded memory. A stalled input raises ShotError (see :class:`StallWatchdog`).
    """
    src = Path(wav_path)
    _probe_audio(src, shot)
    args = (
        ffmpeg.input(ffmpeg_url(src))
        .output("pipe:", map="0:a:0", format="f32le", acodec="pcm_f32le", vn=None)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .compile()
    )
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    stderr = StderrTail(proc.stderr)
    watchdog = StallWatchdog(proc)
    total = 0.0
    count = 0
    try:
        while True:
            buf = watchdog.read(proc.stdout, _CHUNK_SAMPLES * 4)
            if not buf:
                break
            chunk = np.frombuffer(buf[: len(buf) // 4 * 4], dtype="<f4").astype(np.float64)
            total += float(np.dot(chunk, chunk))
            count += chunk.size
    finally:
        watchdog.stop()
        rc = finish_process(proc)
    if watchdog.fired:
        raise watchdog.error(shot, src)
    if rc != 0:
        raise ShotError(shot, src, f"cannot decode audio: {stderr.text() or f'ffmpeg exit status {rc}'}")
    if count == 0 or total == 0.0:
        return float("-inf")
    return 10.0 * math.log10(total / count)


def is_silent(wav: str | Path, threshold_dbfs: float = -50.0, shot: str | None = None) -> bool:
    """True when the RMS level of ``wav`` is below ``threshold_dbfs`` (speech is about -30 to -10)."""
    return loudness_dbfs(wav, shot=shot) < threshold_dbfs
