"""Frame numbers and SMPTE timecodes of a source, with OpenTimelineIO's ``opentime`` (the editorial standard).

A shot may be a range of its actor video (``actor_in`` / ``actor_out`` in samples.yaml), given
as frame numbers of the file (0 is its first frame) or as timecodes in the file's own
timecode space: a source whose timecode starts at 01:00:00:00 has frame 0 at 01:00:00:00,
as an edit list names it. Drop-frame timecodes (``;`` before the frames) follow the rate.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from vdub.core.errors import ShotError
from vdub.media.process import run_ffprobe


def _rate(fps: Fraction | float | str) -> float:
    return float(Fraction(fps)) if isinstance(fps, str) else float(fps)


def timecode_frames(timecode: str, fps: Fraction | float | str) -> int:
    """The frame count of ``HH:MM:SS:FF`` (``;`` for drop-frame) at ``fps``. Raises ValueError when malformed."""
    from opentimelineio import opentime

    try:
        return int(opentime.from_timecode(timecode, _rate(fps)).to_frames())
    except ValueError as e:
        raise ValueError(f"{timecode!r} is not a timecode at {fps} fps (HH:MM:SS:FF): {e}") from None


def frame_number(value: int | str, fps: Fraction | float | str, start_timecode: str | None) -> int:
    """A position in a source as its frame number (0: the file's first frame).

    value: a frame number, or a timecode in the source's timecode space (its first frame is
    at ``start_timecode``; 00:00:00:00 when the file has none). Raises ValueError when the
    timecode is malformed or before the source's start.
    """
    if isinstance(value, int):
        return value
    frame = timecode_frames(value, fps) - (timecode_frames(start_timecode, fps) if start_timecode else 0)
    if frame < 0:
        raise ValueError(f"timecode {value} is before the source's start timecode {start_timecode}")
    return frame


def shifted_timecode(timecode: str, frames: int, fps: Fraction | float | str) -> str:
    """``timecode`` moved on by ``frames`` at ``fps`` (drop-frame kept when the timecode is drop-frame)."""
    from opentimelineio import opentime

    rate = _rate(fps)
    moved = opentime.RationalTime(timecode_frames(timecode, fps) + frames, rate)
    return opentime.to_timecode(moved, rate, drop_frame=";" in timecode)


#: Start timecodes read, by (real path, modification time, size): a reel's hundreds of shots are
#: checked at every Snakemake start, and one ffprobe of the reel serves them all.
_TIMECODES: dict[tuple[str, int, int], str | None] = {}


def source_timecode(path: str | Path, shot: str | None = None) -> str | None:
    """The start timecode of a media file (``HH:MM:SS:FF``, ``;`` before the frames when drop-frame), or None.

    Read from the container's tags or any stream's (a QuickTime ``tmcd`` track shows as a data
    stream tagged ``timecode``); read once per version of the file.
    """
    try:
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = None  # run_ffprobe names the shot and the file
    if key in _TIMECODES:
        return _TIMECODES[key]
    info = run_ffprobe(path, shot)
    tags = [info.get("format", {}).get("tags", {})] + [s.get("tags", {}) for s in info.get("streams", [])]
    value = next((str(tag["timecode"]) for tag in tags if tag.get("timecode")), None)
    if key is not None:
        _TIMECODES[key] = value
    return value


def source_range(shot: str, path: str | Path, fps: Fraction | float | str, n_frames: int,
                 first: int | str | None, end: int | str | None) -> tuple[int, int]:
    """A shot's range of its source as frame numbers ``[first, end)`` of the file.

    first, end: the sample sheet's ``actor_in`` / ``actor_out`` (frame numbers or timecodes
    in the file's timecode space; None: the file's first frame / its end); n_frames: the
    file's frame count. Raises ShotError, naming the shot and the file, for a malformed
    timecode, an empty range or one that ends past the file.
    """
    start = source_timecode(path, shot) if isinstance(first, str) or isinstance(end, str) else None
    try:
        a = 0 if first is None else frame_number(first, fps, start)
        b = n_frames if end is None else frame_number(end, fps, start)
    except ValueError as e:
        raise ShotError(shot, path, f"actor range: {e}") from None
    if b <= a:
        raise ShotError(shot, path, f"actor range [{first}, {end}) is empty: frames [{a}, {b})")
    if b > n_frames:
        raise ShotError(shot, path, f"actor range [{first}, {end}) ends at frame {b}, past the video's "
                                    f"{n_frames} frames")
    return a, b


def reel_cut(shot: str, reel: str | Path, fps: Fraction | float | str, n_frames: int, reel_in: int | str | None,
             actor_range: tuple[int, int], handles: tuple[int, int]) -> tuple[int, int]:
    """Where a shot's cut lies in its reel, as frame numbers ``[start, end)`` of the reel file.

    The cut is the shot's actor range ``[first, end)`` without its ``(head, tail)`` handles. reel_in:
    where it starts in the reel (a frame number, or a timecode in the reel's timecode space); None when
    the actor video is the reel itself (the cut then stays where it is). fps, n_frames: the reel's.
    Raises ShotError, naming the shot and the reel, for handles that leave no cut or a cut past the reel.
    """
    first, end = actor_range
    length = end - first - sum(handles)
    if length <= 0:
        raise ShotError(shot, reel, f"handles {list(handles)} leave no frame of the actor range "
                                    f"[{first}, {end}) for the cut")
    if reel_in is None:
        start = first + handles[0]
    else:
        try:
            start = frame_number(reel_in, fps, source_timecode(reel, shot) if isinstance(reel_in, str) else None)
        except ValueError as e:
            raise ShotError(shot, reel, f"reel_in: {e}") from None
    if start + length > n_frames:
        raise ShotError(shot, reel, f"its cut ({length} frames from reel_in {reel_in}) ends at frame "
                                    f"{start + length}, past the reel's {n_frames} frames")
    return start, start + length
