"""A sample sheet from a reel's events: one shot per event that has a dubber take.

Each event becomes a shot whose actor video is the reel and whose range is the event's
(``actor_in`` / ``actor_out`` as reel timecodes, as the edit list names them). Where the
operator gives the camera sources the events were cut from, the shot is instead the event's
range of its source, with handles (frames beyond the cut, as many as the source has up to
the number asked), and it goes back into the reel at the event's record position
(``reel_video`` / ``reel_in``). Its dubber
take is found by a naming rule (a path pattern with ``{id}``, ``{name}`` and ``{number}``) or
in a CSV the operator gives (``event,dubber_video[,audio]``; ``event`` an event number, clip
name or shot id). An event without a take is listed, commented out in the sheet and on the
log, never guessed.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

from vdub.core.errors import ShotError
from vdub.core.io import atomic_path
from vdub.core.samples import SHOT_ID, id_from_name
from vdub.editorial.edit_list import Event
from vdub.media.timecode import shifted_timecode
from vdub.media.video import VideoInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Take:
    """A dubber take for one event: the video, and an optional separate dubbed-audio file."""

    dubber_video: str
    audio: str | None = None


@dataclass(frozen=True)
class SourceRange:
    """An event's range of its camera source file, handles included (frame numbers of the file)."""

    video: Path
    first: int
    end: int
    handles: tuple[int, int]  # (head, tail) frames of [first, end) outside the cut
    timecode: str | None  # the file's start timecode


def find_sources(events: Sequence[Event], ids: Sequence[str], folder: Path, reel: VideoInfo,
                 handles: int) -> dict[str, SourceRange]:
    """Each event's camera source in ``folder`` (a file whose name or stem is one of the event's source
    names), with up to ``handles`` frames each side, as many as the file has.

    Events whose source is not there are left out (logged): their shots stay ranges of the reel. A
    source whose frame at the cut does not look like the reel's there is logged (:data:`SAME_PICTURE`).
    Raises ShotError, naming the event and the file, for a source at another frame rate or picture
    size than the ``reel`` or one that does not hold the event's source range.
    """
    from vdub.media.timecode import source_timecode, timecode_frames
    from vdub.media.video import probe_video

    fps = reel.fps_str

    files: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        if file.is_file():
            files.setdefault(file.name, file)
            files.setdefault(file.stem, file)
    found = {}
    for event, shot in zip(events, ids):
        label = f"event {event.number} '{event.name}'"
        video = next((files[n] for name in event.source_names for n in (name, Path(name).stem) if n in files), None)
        if video is None or event.source_in is None:
            log.warning("%s: no camera source in %s (looked for %s): its shot is the reel's range, without "
                        "handles", label, folder, ", ".join(event.source_names) or "no name")
            continue
        info = probe_video(video, shot=shot)
        if info.frame_rate != reel.frame_rate or info.display_size != reel.display_size:
            raise ShotError(shot, video, f"{label}: the camera source is {info.fps_str} fps, {info.display_size}; "
                                         f"the reel {fps} fps, {reel.display_size}: its shot could not go back into "
                                         f"the reel")
        timecode = source_timecode(video, shot)
        first = event.source_in - (timecode_frames(timecode, fps) if timecode else 0)
        end = first + event.end - event.start
        if first < 0 or end > info.n_frames:
            raise ShotError(shot, video, f"{label}: its source frames {first}-{end - 1} are not in the camera "
                                         f"source ({info.n_frames} frames from {timecode or '00:00:00:00'})")
        likeness = _likeness(info, first, reel, event.start, shot)
        if likeness < SAME_PICTURE:
            log.warning("%s: the camera source's frame %d does not look like the reel's frame %d (correlation %.2f "
                        "< %.2f): is %s the event's source?", label, first, event.start, likeness, SAME_PICTURE,
                        video.name)
        head, tail = min(handles, first), min(handles, info.n_frames - end)
        if (head, tail) != (handles, handles):
            log.warning("%s: handles %d + %d frames: the camera source %s has no more", label, head, tail, video.name)
        found[shot] = SourceRange(video, first - head, end + tail, (head, tail), timecode)
    return found


#: Below this correlation of their thumbnails, a camera source's first cut frame and the reel's are
#: not the same picture (a re-encode or a grade keeps it near 1; another shot is far below).
SAME_PICTURE = 0.8


def _likeness(source: VideoInfo, at: int, reel: VideoInfo, reel_at: int, shot: str) -> float:
    """Correlation of two frames' grey 64 x 64 thumbnails: frame ``at`` of ``source``, ``reel_at`` of ``reel``."""
    from vdub.media.video import read_frames

    thumbs = []
    for info, frame in ((source, at), (reel, reel_at)):
        with contextlib.closing(read_frames(info, size=(64, 64), max_frames=1, shot=shot, start=frame)) as frames:
            picture = next(frames, None)
        if picture is None:  # nothing decodes there: nothing alike
            return 0.0
        thumbs.append(picture.astype(np.float64).mean(axis=2).ravel())
    a, b = (t - t.mean() for t in thumbs)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def shot_ids(events: Sequence[Event]) -> list[str]:
    """A valid, unique shot id per event: its clip name without extension, else ``event_<number>``.

    Characters a shot id cannot hold become ``_``; a name taken twice gets its event number.
    """
    ids: list[str] = []
    for event in events:
        stem = Path(event.name).stem if event.name and not event.name.isdigit() else ""
        candidate = id_from_name(stem, limit=56)
        if not candidate or not SHOT_ID.fullmatch(candidate):
            candidate = f"event_{event.number:03d}"
        if candidate in ids:
            candidate = f"{candidate}_{event.number:03d}"
        ids.append(candidate)
    return ids


def takes_by_pattern(events: Sequence[Event], ids: Sequence[str], pattern: str, base: Path) -> dict[str, Take]:
    """Takes found by a naming rule: ``pattern`` formatted per event (``{id}``, ``{name}``: the clip name
    without extension, ``{number}``: the event number), relative to ``base``; only files that exist."""
    found = {}
    for event, shot in zip(events, ids):
        stem = Path(event.name).stem if event.name else ""
        relative = pattern.format(id=shot, name=stem, number=event.number)
        if (base / relative).is_file():
            found[shot] = Take(relative)
    return found


def takes_from_csv(events: Sequence[Event], ids: Sequence[str], table: Path) -> dict[str, Take]:
    """Takes listed by the operator: a CSV with a header ``event,dubber_video[,audio]``; ``event`` is an
    event number, a clip name or a shot id. A row that names no event of the edit list is an error."""
    keys: dict[str, str] = {}
    for event, shot in zip(events, ids):
        keys.update({str(event.number): shot, event.name: shot, Path(event.name).stem: shot, shot: shot})
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"event", "dubber_video"} <= set(rows[0]):
        raise ShotError(None, table, "takes CSV: the header must name the columns event,dubber_video[,audio]")
    found = {}
    for line, row in enumerate(rows, 2):
        key = (row.get("event") or "").strip()
        key = str(int(key)) if key.isdigit() else key
        if key not in keys:
            raise ShotError(None, table, f"line {line}: event {key!r} is not in the edit list")
        found[keys[key]] = Take(row["dubber_video"].strip(), (row.get("audio") or "").strip() or None)
    return found


class _SheetDumper(yaml.SafeDumper):
    """Safe YAML with tuples (a shot's handles) on one line: ``handles: [5, 5]``."""


_SheetDumper.add_representer(tuple, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value,
                                                                                    flow_style=True))


def write_sheet(out: str | Path, events: Sequence[Event], ids: Sequence[str], takes: dict[str, Take], reel: Path,
                actor: str, fps: Fraction | str, reel_start: str | None, source: str,
                sources: dict[str, SourceRange] | None = None) -> list[str]:
    """Write ``samples.yaml``: a shot per event with a take; the others as comments. Returns their ids.

    reel: the reel video; actor: the actor id of every shot; reel_start: the reel's start timecode
    (None: ranges as frame numbers); source: what the events came from (a comment in the sheet);
    sources: the events' camera sources (:func:`find_sources`), for the shots that are ranges of one.
    Paths are written relative to the sheet's folder, as the sheet reads them.
    """
    out = Path(out)
    sources = sources or {}

    def position(frame: int, start: str | None = reel_start) -> int | str:
        return frame if start is None else shifted_timecode(start, frame, fps)

    def relative(path: Path) -> str:
        return os.path.relpath(path.absolute(), out.absolute().parent)

    reel_path = relative(reel)
    shots, missing, lines = [], [], [f"# Written by `vdub sheet` from {source}: one shot per event of {reel_path}", "#"]
    for event, shot in zip(events, ids):
        entry = {"id": shot, "actor": actor, "actor_video": reel_path, "actor_in": position(event.start),
                 "actor_out": position(event.end)}
        if shot in sources:
            camera = sources[shot]
            entry.update(actor_video=relative(camera.video), actor_in=position(camera.first, camera.timecode),
                         actor_out=position(camera.end, camera.timecode), handles=camera.handles,
                         reel_video=reel_path, reel_in=position(event.start))
        if shot not in takes:
            if not missing:
                lines.append("# Events without a dubber take (add one, then uncomment):")
            missing.append(shot)
            flow = yaml.dump(entry, Dumper=_SheetDumper, sort_keys=False, default_flow_style=True, width=1000)
            lines.append(f"#  - {flow.strip()[:-1]}, dubber_video: ???}}")
            log.warning("%s: event %d '%s' (frames %d-%d): no dubber take", source, event.number, event.name,
                        event.start, event.end - 1)
            continue
        entry["dubber_video"] = takes[shot].dubber_video
        if takes[shot].audio:
            entry["audio"] = takes[shot].audio
        shots.append(entry)
    if not shots:
        raise ShotError(None, out, f"no event of {source} has a dubber take: nothing to write "
                                   f"({len(missing)} events without one)")
    text = "\n".join(lines) + "\n" + yaml.dump({"shots": shots}, Dumper=_SheetDumper, sort_keys=False, width=200)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return missing
