"""The conformed reel: the dubbed shots put back into the reel they were cut from (rule conform).

Every frame of the reel is the original's except inside the dubbed shots' cuts, which are the
shots' output frames without their handles; the reel's frame count, rate and start timecode are
kept. The dubbed audio of every shot is laid at its position on a dialogue stem (silence
between the shots), written beside the reel and as its sound. An OpenTimelineIO timeline of
the result references the original reel between the shots and each shot's ``dubbed.mp4``,
for the editor to open.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import atomic_path, load_frames, load_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlacedShot:
    """A dubbed shot and where it goes: its frames ``[offset, offset + end - start)`` to frames
    ``[start, end)`` of the reel (``offset``: its head handle)."""

    id: str
    start: int
    end: int
    offset: int
    frames: Path  # the shot's output frames, N x H x W x 3
    audio: Path  # its dubbed audio, PCM WAV of exactly the shot's length
    dubbed: Path  # its review file, referenced by the timeline
    length: int  # N: the review file's frames (the shot with its handles)


def place_shots(shots: Sequence[tuple[str, Path, Path, Path, Path]], reel: Path, fps: Fraction | str, n_frames: int,
                positions: dict[str, int | str] | None = None, under: set[str] = frozenset()) -> list[PlacedShot]:
    """The shots in reel order, from ``(id, actor_info, frames, audio, dubbed)`` each.

    A shot's cut is its range (the actor info's ``range``) without its ``handles``; it goes to
    ``positions[id]`` (a frame number or timecode of the reel: the shot's ``reel_in``) or, for a
    shot without one, stays where its range is (the actor video is the reel). A preview cut by
    ``max_frames`` covers the start of its cut; one that ends inside the head handle is left out.
    Raises ShotError for a cut past the reel's ``n_frames`` or one that overlaps another (but for
    ``under``: shots another shot is composited onto, whose picture that shot delivers).
    """
    from vdub.media.timecode import reel_cut

    positions = positions or {}
    placed = []
    for shot, info_path, frames, audio, dubbed in shots:
        info = load_json(info_path)
        head, tail = info.get("handles", (0, 0))
        start, end = reel_cut(shot, reel, fps, n_frames, positions.get(shot), tuple(info["range"]), (head, tail))
        n = int(info["n_frames"])
        end = min(end, start + n - head)
        if end <= start:
            log.warning("shot '%s': its %d frames end in its head handle (%d frames): nothing of it goes into %s",
                        shot, n, head, reel)
            continue
        placed.append(PlacedShot(shot, start, end, head, Path(frames), Path(audio), Path(dubbed), n))
    placed.sort(key=lambda s: s.start)
    pictures = [s for s in placed if s.id not in under]
    for before, after in zip(pictures, pictures[1:]):
        if after.start < before.end:
            raise ShotError(after.id, reel, f"frames {after.start}-{after.end - 1} of the reel overlap shot "
                                            f"'{before.id}' ({before.start}-{before.end - 1})")
    return placed


def _reel_frames(reel_frames: Iterator[np.ndarray], placed: Sequence[PlacedShot]) -> Iterator[np.ndarray]:
    """The reel's frames with each shot's output frames in its range."""
    shots = iter(placed)
    current, frames = next(shots, None), None
    for t, frame in enumerate(reel_frames):
        while current is not None and t >= current.end:
            current, frames = next(shots, None), None
        if current is not None and t >= current.start:
            if frames is None:
                frames = load_frames(current.frames)
                if frames.shape[1:] != frame.shape or len(frames) != current.length:
                    raise ShotError(current.id, current.frames, f"{frames.shape} output frames do not fit its "
                                                                f"{current.length} frames of {frame.shape} in the "
                                                                f"reel")
            yield np.asarray(frames[t - current.start + current.offset])
        else:
            yield frame


def dialogue_stem(placed: Sequence[PlacedShot], n_frames: int, fps: Fraction, out: Path) -> int:
    """Write the dubbed audio of every shot at its position on one PCM WAV of the reel's length (silence
    between). Returns the sample rate."""
    form, samples = None, None  # (channels, sample width, rate) of the first shot's audio
    for shot in placed:
        with wave.open(str(shot.audio), "rb") as w:
            this = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            if form is None:
                form = this
                samples = np.zeros((round(n_frames / fps * form[2]), form[0]), np.int16)
            if this != form or this[1] != 2:
                raise ShotError(shot.id, shot.audio, f"dubbed audio of {this[0]} channels, {8 * this[1]} bits, "
                                                     f"{this[2]} Hz: the stem is 16-bit PCM, {form[0]} channels, "
                                                     f"{form[2]} Hz")
            data = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, form[0])
        at, skip = (round(frame / fps * form[2]) for frame in (shot.start, shot.offset))
        span = min(len(data) - skip, round(shot.end / fps * form[2]) - at, len(samples) - at)
        # Added, not laid over: two shots of one two-shot speak over the same frames (cuts never overlap else).
        mixed = samples[at:at + span].astype(np.int32) + data[skip:skip + span]
        samples[at:at + span] = np.clip(mixed, -32768, 32767).astype(np.int16)
    if form is None:
        raise ShotError(None, out, "no shot to lay on the dialogue stem")
    with atomic_path(out) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(form[0])
        w.setsampwidth(2)
        w.setframerate(form[2])
        w.writeframes(samples.tobytes())
    return form[2]


def timeline(reel_id: str, reel: Path, n_frames: int, fps: Fraction, timecode: str | None,
             placed: Sequence[PlacedShot]):
    """The OpenTimelineIO timeline of the conformed reel: a video track of the original reel between the
    shots and each shot's ``dubbed.mp4``, an audio track of the dubbed shots; starting at the reel's timecode.
    A shot's clip is its cut of ``dubbed.mp4``: its handles are the media's frames around it, to trim into."""
    import opentimelineio as otio
    from opentimelineio import opentime

    rate = float(fps)

    def span(start: int, length: int) -> opentime.TimeRange:
        return opentime.TimeRange(opentime.RationalTime(start, rate), opentime.RationalTime(length, rate))

    def reference(path: Path, length: int) -> otio.schema.ExternalReference:
        return otio.schema.ExternalReference(target_url=path.absolute().as_uri(), available_range=span(0, length))

    start = opentime.from_timecode(timecode, rate) if timecode else opentime.RationalTime(0, rate)
    result = otio.schema.Timeline(name=f"{reel_id} (dubbed)", global_start_time=start)
    video = otio.schema.Track(name="picture", kind=otio.schema.TrackKind.Video)
    sound = otio.schema.Track(name="dubbed dialogue", kind=otio.schema.TrackKind.Audio)
    position = 0
    for shot in [*placed, None]:
        until = n_frames if shot is None else shot.start
        if until > position:
            video.append(otio.schema.Clip(name=f"{reel_id} {position}-{until - 1}",
                                          media_reference=reference(reel, n_frames),
                                          source_range=span(position, until - position)))
            sound.append(otio.schema.Gap(source_range=span(0, until - position)))
        if shot is None:
            break
        for track in (video, sound):
            track.append(otio.schema.Clip(name=shot.id, media_reference=reference(shot.dubbed, shot.length),
                                          source_range=span(shot.offset, shot.end - shot.start),
                                          metadata={"vdub": {"shot": shot.id, "reel_frames": [shot.start, shot.end]}}))
        position = shot.end
    result.tracks.extend([video, sound])
    return result


def conform(reel_id: str, reel: Path, shots: Sequence[tuple[str, Path, Path, Path, Path]], out_video: Path,
            out_audio: Path, out_otio: Path, codec: str, positions: dict[str, int | str] | None = None,
            under: set[str] = frozenset()) -> dict:
    """Rule conform: the reel with its dubbed shots' cuts in place, its dialogue stem and its timeline.

    shots: ``(id, actor_info, output_frames, dubbed_audio, dubbed_mp4)`` of every shot cut from
    the reel; positions: the ``reel_in`` of those whose actor video is not the reel (:func:`place_shots`);
    under: the shots another shot is composited onto (a two-shot, samples.yaml ``over``): their audio goes
    onto the dialogue stem with that shot's, their picture is that shot's (its stacked frames).
    The video has the reel's display size, rate, frame count and start timecode, in ``codec``
    (:data:`vdub.media.finishing.REEL_CODECS`), with the dialogue stem as its sound.
    Returns a summary dict.
    """
    import opentimelineio as otio

    from vdub.media.finishing import write_reel
    from vdub.media.timecode import source_timecode
    from vdub.media.video import probe_video, read_frames

    info = probe_video(reel)
    fps = Fraction(info.fps_str)
    timecode = source_timecode(reel)
    placed = place_shots(shots, reel, info.fps_str, info.n_frames, positions, under)
    dialogue_stem(placed, info.n_frames, fps, out_audio)
    placed = [s for s in placed if s.id not in under]
    n = write_reel(_reel_frames(read_frames(info), placed), out_video, info.fps_str,
                   (info.display_width, info.display_height), codec, audio_path=out_audio, timecode=timecode)
    if n != info.n_frames:
        log.warning("reel %s: %s: %d frames decoded, probe said %d", reel_id, reel, n, info.n_frames)
    with atomic_path(out_otio) as tmp:
        otio.adapters.write_to_file(timeline(reel_id, reel, n, fps, timecode, placed), str(tmp))
    log.info("reel %s: %d frames at %s fps from %s, %d dubbed shots (%s), timecode %s", reel_id, n, info.fps_str,
             reel, len(placed), ", ".join(f"{s.id} {s.start}-{s.end - 1}" for s in placed), timecode or "none")
    return {"frames": n, "shots": [(s.id, s.start, s.end) for s in placed]}
