"""The events of an edit list, as frame ranges of the reel they were cut into.

Read with OpenTimelineIO: CMX 3600 EDLs (``.edl``, the ``otio-cmx3600-adapter``), Final Cut Pro
7 XML (``.xml``, ``otio-fcp-adapter``) and OpenTimelineIO's own ``.otio``. An event's place is
its *record* range, the position in the cut, and the reel is the cut itself: a frame of the reel
at record timecode T is frame ``T - reel start timecode`` of the reel file.

Every problem is one line naming the edit list and the event: an event outside the reel,
events that overlap, timecodes at another frame rate than the reel's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vdub.core.errors import ShotError
from vdub.media.timecode import timecode_frames

# A CMX 3600 event line: number, reel, channels, transition (and its duration), then source in/out and
# record in/out timecodes.
_CMX_EVENT = re.compile(r"^\s*(\d+)\s+\S+\s+\S+\s+\S+(?:\s+\d+)?\s+((?:\d\d:\d\d:\d\d[:;]\d\d\s*){4})\s*$")
_CMX_OVERLAP = re.compile(r"Overlapping record in value: (\S+) for clip (.*)$")


@dataclass(frozen=True)
class Event:
    """One event of the cut: a clip on the edit list's video track, placed in the reel."""

    number: int  # 1-based, in record order
    name: str  # the clip's name (an EDL's "FROM CLIP NAME" comment, else its event number)
    start: int  # first frame, a frame number of the reel file
    end: int  # the frame after the last
    record_in: str  # record timecodes, as the edit list gives them
    record_out: str
    # Its camera source, where the edit list names one: the names a source file may have (the media
    # reference's file name, the EDL's reel, the clip name) and the source timecode of its first frame,
    # as a frame count at the reel's rate.
    source_names: tuple[str, ...] = ()
    source_in: int | None = None


def _check_cmx_rates(path: Path, fps: Fraction) -> None:
    """An EDL has no rate of its own: a frame field at or over the reel's rate means it was cut at another."""
    limit = math.ceil(fps)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _CMX_EVENT.match(line)
        if not match:
            continue
        for tc in match.group(2).split():
            if int(tc[-2:]) >= limit:
                raise ShotError(None, path, f"event {int(match.group(1))}: timecode {tc} has frame {tc[-2:]}, "
                                            f"beyond the reel's {float(fps):g} fps: the edit list is at another "
                                            f"frame rate")


def _read_timeline(path: Path, fps: Fraction):
    import opentimelineio as otio

    if path.suffix.lower() == ".edl":
        _check_cmx_rates(path, fps)
        kwargs = {"rate": float(fps)}
    else:
        kwargs = {}
    try:
        return otio.adapters.read_from_file(str(path), **kwargs)
    except Exception as e:  # the adapters raise their own exception types; each becomes one line
        overlap = _CMX_OVERLAP.search(str(e))
        if overlap:
            raise ShotError(None, path, f"event '{overlap.group(2)}': its record in {overlap.group(1)} overlaps "
                                        f"the event before it") from None
        raise ShotError(None, path, f"cannot read the edit list: {type(e).__name__}: {e}") from None


def _source_names(clip) -> tuple[str, ...]:
    """The names a clip's camera source file may have: its media reference's file name, its EDL reel, its name."""
    from urllib.parse import unquote, urlparse

    names = []
    url = getattr(clip.media_reference, "target_url", None)
    if url:
        names.append(Path(unquote(urlparse(url).path)).name)
    reel = clip.metadata.get("cmx_3600", {}).get("reel")
    if reel:
        names.append(str(reel))
    if clip.name:
        names.append(clip.name)
    return tuple(names)


def read_events(path: str | Path, fps: Fraction | str, reel_start: str | None, reel_frames: int) -> list[Event]:
    """The video events of an edit list as ranges of the reel, in record order.

    fps: the reel's exact rate; reel_start: its start timecode (None: 00:00:00:00);
    reel_frames: its frame count. Raises ShotError, naming the file and the event, for an
    edit list at another frame rate, overlapping events, or an event outside the reel.
    """
    from opentimelineio import opentime, schema

    path, fps = Path(path), Fraction(fps)
    timeline = _read_timeline(path, fps)
    origin = timecode_frames(reel_start, fps) if reel_start else 0
    rate = float(fps)
    global_start = timeline.global_start_time.rescaled_to(rate) if timeline.global_start_time else None
    events: list[tuple[int, int, str, int, tuple[str, ...], int | None]] = []
    for track in timeline.video_tracks():
        # The EDL adapter keeps the first record timecode as the track's negative start.
        offset = -track.source_range.start_time.rescaled_to(rate).to_frames() if track.source_range else 0
        offset += global_start.to_frames() if global_start is not None else 0
        for index, clip in enumerate(track):
            if not isinstance(clip, schema.Clip):
                continue
            clip_rate = clip.source_range.duration.rate if clip.source_range else rate
            if abs(clip_rate - rate) > 1e-3:
                raise ShotError(None, path, f"event {index + 1} '{clip.name}': cut at {clip_rate:g} fps, the reel "
                                            f"is {rate:g} fps")
            placed = clip.range_in_parent()
            start = offset + placed.start_time.rescaled_to(rate).to_frames()
            source_in = clip.source_range.start_time.rescaled_to(rate).to_frames() if clip.source_range else None
            events.append((start, start + placed.duration.rescaled_to(rate).to_frames(), clip.name, index + 1,
                           _source_names(clip), source_in))
    events.sort()
    out: list[Event] = []
    for number, (start, end, name, _, source_names, source_in) in enumerate(events, 1):
        record_in, record_out = (opentime.to_timecode(opentime.RationalTime(f, rate), rate) for f in (start, end))
        label = f"event {number} '{name}' (record {record_in}-{record_out})"
        if out and start < out[-1].end:
            raise ShotError(None, path, f"{label} overlaps event {out[-1].number} '{out[-1].name}'")
        if start < origin or end - origin > reel_frames:
            reel_end = opentime.to_timecode(opentime.RationalTime(origin + reel_frames, rate), rate)
            raise ShotError(None, path, f"{label} falls outside the reel ({reel_start or '00:00:00:00'}-{reel_end}, "
                                        f"{reel_frames} frames)")
        out.append(Event(number, name, start - origin, end - origin, record_in, record_out, source_names, source_in))
    if not out:
        raise ShotError(None, path, "no video event in the edit list")
    return out
