"""Ingest: decode a shot's actor and dubber videos and bring the dubber onto the actor's timeline.

The actor video defines the shot: its frame rate and frame count are those of the final
dubbed video. The dubber's take is conformed to it, one dubber frame per actor frame,
by one of two policies (:func:`conform_indices`), and the dubbed audio is extracted to a
WAV of exactly the shot's duration.

Two halves, two workflow rules: :func:`ingest_actor` (the footage alone) and
:func:`ingest_dubber` (the take and the audio, conformed to the actor's timeline), so a
new dubber take never re-runs the actor side. Outputs (all written atomically, see
:mod:`vdub.core.io`):
    actor frames   ``.npy`` N x H x W x 3 uint8 RGB, the actor's display geometry
    actor JSON     the actor's probe, its full length and N (after ``max_frames``)
    dubber frames  ``.npy`` N x h x w x 3 uint8 RGB, the dubber's own display geometry,
                   frame i shown at the actor's frame i
    audio          PCM WAV, ``round(N / fps * sample_rate)`` samples
    info           JSON: both videos' probes, the index mapping, audio source and level

``max_frames`` cuts the full shot's result (same mapping, same audio tempo) so that a
preview is the beginning of what a full run produces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import FrameWriter, load_json, save_json
from vdub.media.audio import audio_duration, extract_audio, loudness_dbfs
from vdub.media.config import CONFORM_POLICIES, IngestConfig
from vdub.media.timecode import source_range
from vdub.media.video import VideoInfo, parse_rate, probe_video, read_frames

log = logging.getLogger(__name__)

#: Output channels of the dubbed audio (the mux step encodes stereo AAC).
AUDIO_CHANNELS = 2
#: Audio source and shot durations differing by more than this (seconds) are logged as a warning.
_AUDIO_MISMATCH_WARN_S = 1.0


def _as_rate(fps: float | str | Fraction, name: str) -> Fraction:
    rate = parse_rate(fps)
    if rate is None:
        raise ValueError(f"{name} must be a positive frame rate, got {fps!r}")
    return rate


def conform_indices(
    n_src: int,
    fps_src: float | str | Fraction,
    n_dst: int,
    fps_dst: float | str | Fraction,
    policy: str,
) -> np.ndarray:
    """For each of ``n_dst`` output frames (at the actor's rate), the dubber frame to show.

    Args:
        n_src: frames in the dubber's take; fps_src its rate.
        n_dst: frames in the shot; fps_dst the actor's rate.
        policy:
            ``resample``: time-based. Output frame i is shown at t = i / fps_dst; it gets
            the dubber frame on screen at that time, ``floor(i * fps_src / fps_dst)``
            (exact rational arithmetic, so 25 -> 30 fps maps output frame 6 (0.2 s) to
            dubber frame 5). A take longer than the shot is cut; past the end of a
            shorter take the last dubber frame is held. Timing is preserved, so the
            dubber's own audio stays lip-synced with the conformed frames.
            ``stretch``: the whole take is time-scaled onto the shot, first frame to
            first and last to last: ``round(i * (n_src - 1) / (n_dst - 1))``. Timing is
            not preserved: the dubber's own audio no longer matches unless it is
            time-scaled by the same factor (:func:`stretch_factor`; :func:`run_ingest`
            does this) or an audio file recorded to the stretched timing is supplied.

    Returns:
        int64 array of shape ``(n_dst,)``, non-decreasing, values in ``[0, n_src - 1]``.
    """
    if n_src <= 0:
        raise ValueError(f"n_src must be positive, got {n_src}")
    if n_dst < 0:
        raise ValueError(f"n_dst must be non-negative, got {n_dst}")
    if policy not in CONFORM_POLICIES:
        raise ValueError(f"unknown conform policy {policy!r}; expected one of {CONFORM_POLICIES}")
    i = np.arange(n_dst, dtype=np.int64)
    if policy == "resample":
        src, dst = _as_rate(fps_src, "fps_src"), _as_rate(fps_dst, "fps_dst")
        # i * (a/b) / (c/d) = i * a * d / (b * c); integer floor division avoids float
        # rounding such as 6 * 25 / 30 = 4.999999.
        idx = (i * (src.numerator * dst.denominator)) // (src.denominator * dst.numerator)
    else:
        if n_dst <= 1 or n_src == 1:
            idx = np.zeros(n_dst, dtype=np.int64)
        else:
            # round half up of i * (n_src - 1) / (n_dst - 1), in integers
            idx = (2 * i * (n_src - 1) + (n_dst - 1)) // (2 * (n_dst - 1))
    return np.minimum(idx, n_src - 1).astype(np.int64)


def stretch_factor(
    n_src: int, fps_src: float | str | Fraction, n_dst: int, fps_dst: float | str | Fraction
) -> float:
    """Seconds of the dubber's take per second of the shot under the ``stretch`` policy.

    Output frame i (at i / fps_dst) shows dubber frame i (n_src - 1) / (n_dst - 1), taken
    at that index / fps_src; the ratio of the two times is the tempo to apply to the
    dubber's audio so that it stays in sync with the stretched frames.
    """
    if n_src <= 1 or n_dst <= 1:
        return 1.0
    src, dst = _as_rate(fps_src, "fps_src"), _as_rate(fps_dst, "fps_dst")
    return float(Fraction(n_src - 1, n_dst - 1) * dst / src)


def take_indices(n_src: int, fps_src: float | str | Fraction, n_full: int, fps_dst: float | str | Fraction,
                 policy: str, handles: tuple[int, int] = (0, 0)) -> np.ndarray:
    """:func:`conform_indices` for a shot with handles: the take is conformed onto the cut.

    The cut is frames ``[head, n_full - tail)`` of the shot; the dubber performed to it, so the
    take's first frame is shown at frame ``head`` and held before it. ``resample`` runs on past the
    cut into the tail (a take with post-roll goes on; a shorter one holds its last frame);
    ``stretch`` fits the take to the cut and holds its last frame over the tail.

    Returns:
        int64 array of shape ``(n_full,)``, non-decreasing, values in ``[0, n_src - 1]``.
    """
    head, tail = handles
    onto = n_full - head if policy == "resample" else n_full - head - tail
    take = conform_indices(n_src, fps_src, onto, fps_dst, policy)
    return np.concatenate([np.zeros(head, np.int64), take, np.full(n_full - head - onto, n_src - 1, np.int64)])


class _ShortDecode(Exception):
    """Fewer frames decoded than the probe promised (carries the count that did decode)."""

    def __init__(self, n_decoded: int) -> None:
        super().__init__(n_decoded)
        self.n_decoded = n_decoded


def _decode_actor(info: VideoInfo, out_npy: Path, n_frames: int, shot: str, start: int = 0) -> int:
    """Write ``n_frames`` actor frames from frame ``start`` on to ``out_npy``; return how many were written.

    If the file decodes to fewer frames than probed (truncated file, an edit list that
    hides frames), the decode is repeated for the frames that exist: the actor defines the
    shot, so its true length wins over the container's count.
    """
    try:
        with FrameWriter(out_npy, n_frames, info.display_height, info.display_width) as writer:
            n = 0
            for frame in read_frames(info, max_frames=n_frames, shot=shot, start=start):
                writer.write(frame)
                n += 1
            if n < n_frames:
                raise _ShortDecode(n)
        return n_frames
    except _ShortDecode as short:
        if short.n_decoded == 0:
            raise ShotError(shot, info.path, "no video frame could be decoded") from None
        log.warning("shot '%s': %s: decoded %d frames, probe said %d; the shot is %d frames long",
                    shot, info.path, short.n_decoded, n_frames, short.n_decoded)
        with FrameWriter(out_npy, short.n_decoded, info.display_height, info.display_width) as writer:
            for frame in read_frames(info, max_frames=short.n_decoded, shot=shot, start=start):
                writer.write(frame)
        return short.n_decoded


def _decode_dubber(info: VideoInfo, out_npy: Path, indices: np.ndarray, shot: str) -> np.ndarray:
    """Write dubber frame ``indices[i]`` as output frame i, streaming the dubber once.

    ``indices`` is non-decreasing, so only the current dubber frame is held. If the take
    decodes to fewer frames than probed, its last decoded frame is held. Returns the
    indices actually used.
    """
    used = np.empty_like(indices)
    current: np.ndarray | None = None
    j = -1
    exhausted = False
    with contextlib.closing(read_frames(info, max_frames=int(indices.max()) + 1, shot=shot)) as frames, \
            FrameWriter(out_npy, len(indices), info.display_height, info.display_width) as writer:
        for i, want in enumerate(indices):
            while j < want and not exhausted:
                nxt = next(frames, None)
                if nxt is None:
                    exhausted = True
                    break
                current, j = nxt, j + 1
            if current is None:
                raise ShotError(shot, info.path, "no video frame could be decoded")
            used[i] = j
            writer.write(current)
    if exhausted and (used != indices).any():
        log.warning("shot '%s': %s: only %d of %d frames decoded; last frame held",
                    shot, info.path, j + 1, info.n_frames)
    return used


def _check_silence(shot: str, src: Path, cfg: IngestConfig) -> tuple[float, bool]:
    """Level of the whole audio source, and whether it counts as silent (error or warning per cfg).

    The whole source is measured, not the shot's window: a preview cut (max_frames) may
    fall in the pause before the first word, while a wrong or dead track is silent throughout.
    """
    dbfs = loudness_dbfs(src, shot=shot)
    silent = dbfs < cfg.silence_threshold_dbfs
    if silent:
        message = (f"dubbed audio is silent ({dbfs:.1f} dBFS RMS, threshold {cfg.silence_threshold_dbfs:.1f} "
                   f"dBFS); give the shot an audio file, or set ingest.silent_audio: warn to accept it")
        if cfg.silent_audio == "error":
            raise ShotError(shot, src, message)
        log.warning("%s", ShotError(shot, src, message))
    return dbfs, silent


def _conform_summary(shot: str, policy: str, dubber: VideoInfo, actor: VideoInfo, n_full: int, held: int,
                     audio_from: str, source_s: float | None, tempo: float) -> str:
    """One line: the policy, both rates and durations, and what was cut, held, stretched or padded."""
    take_s, shot_s = dubber.n_frames / dubber.fps, n_full / actor.fps
    if policy == "stretch":
        frames = f"take time-scaled by {take_s / shot_s:.4f} ({dubber.n_frames} frames onto {n_full})"
    elif held:
        frames = f"last dubber frame held for {held} frames ({held / actor.fps:.2f} s)"
    elif take_s > shot_s:
        frames = f"last {take_s - shot_s:.2f} s of the take cut"
    else:
        frames = "take and shot end together"
    if source_s is None:
        sound = "source length unknown: trimmed or padded to the shot"
    else:
        played = source_s / tempo  # seconds of shot the source covers after the tempo change
        if abs(played - shot_s) < 0.005:
            sound = "as long as the shot"
        elif played < shot_s:
            sound = f"padded with {shot_s - played:.2f} s of silence"
        else:
            sound = f"trimmed by {played - shot_s:.2f} s"
        sound = f"{source_s:.2f} s, tempo {tempo:.4f}, {sound}"
    return (f"shot '{shot}': conform {policy}: dubber {dubber.fps_str} fps, {dubber.n_frames} frames "
            f"({take_s:.2f} s) -> actor {actor.fps_str} fps, {n_full} frames ({shot_s:.2f} s); {frames}; "
            f"audio ({audio_from}) {sound}")


def ingest_actor(shot: str, actor_video: str | Path, out_actor_npy: str | Path, out_actor_json: str | Path,
                 max_frames: int | None = None, actor_in: int | str | None = None,
                 actor_out: int | str | None = None, handles: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """The actor half of ingest: decode the footage that defines the shot.

    max_frames: decode only the shot's first N frames (config ``ingest.max_frames``; None: all).
    actor_in, actor_out: the shot as a range ``[actor_in, actor_out)`` of the video (frame
    numbers, or timecodes in the file's timecode space; :func:`vdub.media.timecode.source_range`),
    decoded frame-accurately with no intermediate clip; None: the whole video. handles:
    ``(head, tail)`` frames of that range outside the editor's cut (recorded as ``handles``;
    the dubber side aligns the take to the cut, the conform leaves them out).

    Writes the actor frames (N x H x W x 3 uint8, display geometry) and a JSON with the
    probe, the range ``range`` ([first, end) frames of the file), the shot's full length
    ``n_full`` (the true decoded length when the file is shorter than its probe) and
    ``n_frames`` (N: ``n_full`` cut to ``max_frames``). Nothing here depends
    on a dubber take, so a new take never re-runs it (nor what the actor side feeds: face
    geometry, crops, the per-actor model). The JSON is written last.
    """
    actor = probe_video(actor_video, shot=shot)
    first, end = source_range(shot, actor_video, actor.fps_str, actor.n_frames, actor_in, actor_out)
    n_full = end - first
    n = min(n_full, max_frames) if max_frames else n_full
    n_written = _decode_actor(actor, Path(out_actor_npy), n, shot, start=first)
    if n_written < n:
        n_full = n = n_written  # shorter than probed: the decoded length is the shot
    if sum(handles) >= n_full:
        raise ShotError(shot, actor_video, f"handles {list(handles)} leave no frame of the shot's {n_full} for "
                                           f"the cut")
    info = {"shot": shot, "actor": actor.to_dict(), "range": [first, first + n_full], "n_full": n_full,
            "n_frames": n, "handles": list(handles)}
    save_json(out_actor_json, info)
    return info


def ingest_dubber(
    shot: str,
    actor_json: str | Path,
    dubber_video: str | Path,
    audio: str | Path | None,
    out_dubber_npy: str | Path,
    out_audio_wav: str | Path,
    out_info_json: str | Path,
    cfg: IngestConfig | None = None,
) -> dict[str, Any]:
    """The dubber half of ingest: conform the take to the actor's timeline, extract the dubbed audio.

    Args:
        shot: shot id, named in every error.
        actor_json: written by :func:`ingest_actor` (the shot's rate and length).
        dubber_video: the dubber's take.
        audio: dubbed audio file; None (or "") to use the dubber video's own track.
        cfg: stage settings; defaults if None.

    Returns:
        The info dict also written to ``out_info_json`` (both probes, the mapping, audio).

    Raises:
        ShotError: the take is missing or unreadable, has no video (or no audio where
            audio is taken from it), or the dubbed audio is silent with
            ``silent_audio: error``.

    The silence check measures the whole audio source before any frame is decoded. The
    dubbed audio is trimmed or zero-padded to the shot's duration ``N / fps``. With
    ``stretch`` and the dubber's own audio, the audio is time-scaled (pitch kept) by the
    same factor as the frames, so lip-sync holds; an explicit audio file is used as is.
    The info JSON is written last, so its presence means the stage completed.
    """
    cfg = cfg or IngestConfig()
    own = load_json(actor_json)
    actor = VideoInfo(**own["actor"])
    n_full, n = int(own["n_full"]), int(own["n_frames"])
    head, tail = handles = tuple(own.get("handles", (0, 0)))
    dubber = probe_video(dubber_video, shot=shot)
    if actor.maybe_vfr or dubber.maybe_vfr:
        log.warning("shot '%s': variable frame rate suspected (actor %s, dubber %s); frames are taken "
                    "in order at the average rate", shot, actor.maybe_vfr, dubber.maybe_vfr)
    audio_src = Path(audio) if audio else Path(dubber_video)
    audio_from = "explicit" if audio else "dubber"
    # max_frames cuts the full shot's mapping rather than conforming the take onto the cut:
    # a preview is then the beginning of the full result, stretch included.
    indices = take_indices(dubber.n_frames, dubber.frame_rate, n_full, actor.frame_rate, cfg.conform, handles)[:n]
    n_cut = n_full - head - tail
    tempo = 1.0
    if cfg.conform == "stretch" and audio_from == "dubber":
        tempo = stretch_factor(dubber.n_frames, dubber.frame_rate, n_cut, actor.frame_rate)

    def duration_of(frames: int) -> float:
        return float(Fraction(frames) / actor.frame_rate)

    source_dbfs, silent = _check_silence(shot, audio_src, cfg)
    # The take starts at the cut: the head handle is silence, as it is for the picture.
    n_samples = extract_audio(audio_src, out_audio_wav, duration_of(n), sample_rate=cfg.audio_sample_rate,
                              channels=AUDIO_CHANNELS, shot=shot, tempo=tempo, delay_s=duration_of(head))

    take_s = dubber.n_frames / dubber.fps
    shot_s = n_cut / actor.fps
    held = 0
    if cfg.conform == "resample":
        # Output frames whose time lies past the end of the take (they show its last frame).
        src, dst = dubber.frame_rate, actor.frame_rate
        i = np.arange(max(n - head, 0), dtype=np.int64)
        held = int(np.count_nonzero(i * (src.numerator * dst.denominator)
                                    >= dubber.n_frames * src.denominator * dst.numerator))
    if held:
        log.warning("shot '%s': dubber take (%.2f s) is shorter than the shot (%.2f s): its last frame is "
                    "held for %d frames", shot, take_s, shot_s, held)
    # Cutting or padding the audio is the policy, but a large mismatch usually means a wrong file.
    source_s = audio_duration(audio_src, shot=shot)
    audio_s = duration_of(n_cut) * tempo
    if source_s is not None and abs(source_s - audio_s) > _AUDIO_MISMATCH_WARN_S:
        log.warning("shot '%s': %s: audio lasts %.2f s, the shot needs %.2f s: %s", shot, audio_src,
                    source_s, audio_s, "padded with silence" if source_s < audio_s else "cut")
    log.info("%s", _conform_summary(shot, cfg.conform, dubber, actor, n_cut, held, audio_from, source_s, tempo))
    if head or tail:
        log.info("shot '%s': handles %d + %d frames: the take starts at the cut (frame %d), its first frame held "
                 "before it", shot, head, tail, head)
    used = _decode_dubber(dubber, Path(out_dubber_npy), indices, shot)

    info: dict[str, Any] = {
        "shot": shot,
        "actor": actor.to_dict(),
        "actor_range": own.get("range"),
        "handles": list(handles),
        "dubber": dubber.to_dict(),
        "fps": actor.fps,
        "fps_str": actor.fps_str,
        "n_frames": n,
        "duration_s": duration_of(n),
        "width": actor.display_width,
        "height": actor.display_height,
        "dubber_width": dubber.display_width,
        "dubber_height": dubber.display_height,
        "conform": cfg.conform,
        "dubber_take_s": take_s,
        "shot_s": shot_s,
        "dubber_indices": used,
        "dubber_frames_held": held,
        "audio": {
            "source": str(audio_src),
            "from": audio_from,
            "sample_rate": cfg.audio_sample_rate,
            "channels": AUDIO_CHANNELS,
            "n_samples": n_samples,
            "source_duration_s": source_s,
            "tempo": tempo,
            "source_dbfs": source_dbfs,
            "dbfs": loudness_dbfs(out_audio_wav, shot=shot),
            "silent": silent,
        },
        "config": dataclasses.asdict(cfg),
    }
    save_json(out_info_json, info)
    return info


def run_ingest(shot: str, actor_video: str | Path, dubber_video: str | Path, audio: str | Path | None,
               out_actor_npy: str | Path, out_dubber_npy: str | Path, out_audio_wav: str | Path,
               out_info_json: str | Path, cfg: IngestConfig | None = None) -> dict[str, Any]:
    """Both halves in one call (the workflow runs them as two rules); the actor JSON lands beside the info."""
    actor_json = Path(out_info_json).with_name("actor.json")
    ingest_actor(shot, actor_video, out_actor_npy, actor_json, (cfg or IngestConfig()).max_frames)
    return ingest_dubber(shot, actor_json, dubber_video, audio, out_dubber_npy, out_audio_wav, out_info_json, cfg)
