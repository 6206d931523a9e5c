"""The ``vdub sheet`` command's work: a reel's events (from an edit list or its cuts) to ``samples.yaml``."""

from __future__ import annotations

import logging
from pathlib import Path

from vdub.core.errors import ShotError, require_file
from vdub.editorial.edit_list import Event, read_events

log = logging.getLogger(__name__)


def cut_events(reel: Path, n_frames: int, threshold: float) -> list[Event]:
    """Events between the cuts :func:`vdub.editorial.cuts.detect_cuts` finds in the reel (frame numbers)."""
    from vdub.editorial.cuts import detect_cuts

    bounds = [0, *detect_cuts(reel, threshold), n_frames]
    return [Event(k + 1, f"cut_{k + 1:03d}", a, b, str(a), str(b)) for k, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def sheet(out: Path, reel: Path, actor: str, edit_list: Path | None = None, takes: str | None = None,
          takes_csv: Path | None = None, cut_threshold: float = 0.3, sources: Path | None = None,
          handles: int = 0) -> dict:
    """Write the sample sheet ``out`` for ``reel``: one shot per event of ``edit_list`` (or per detected
    shot when None) that has a take (naming rule ``takes``, relative to the sheet's folder, or ``takes_csv``).

    sources: a folder of the camera sources the edit list's events were cut from; an event found
    there becomes a range of its source with up to ``handles`` frames each side
    (:func:`vdub.editorial.sample_sheet.find_sources`), the others ranges of the reel.

    Returns ``{"events": n, "shots": n, "without_take": [ids]}``.
    """
    from vdub.editorial.sample_sheet import find_sources, shot_ids, takes_by_pattern, takes_from_csv, write_sheet
    from vdub.media.timecode import source_timecode
    from vdub.media.video import probe_video

    if handles < 0:
        raise ShotError(None, out, f"handles must be a frame count (>= 0), got {handles}")
    if handles and sources is None:
        raise ShotError(None, out, "handles need the camera sources (--sources): past an event's cut the reel holds "
                                   "the next shot, not the camera's frames")
    if sources is not None and edit_list is None:
        raise ShotError(None, out, "camera sources (--sources) need an edit list naming them (--edit-list)")
    if sources is not None and not sources.is_dir():
        raise ShotError(None, sources, "the camera sources folder does not exist")
    info = probe_video(require_file(reel, role="reel"))
    start = source_timecode(reel)
    if edit_list is not None:
        events = read_events(require_file(edit_list, role="edit list"), info.fps_str, start, info.n_frames)
        source = edit_list.name
    else:
        events = cut_events(reel, info.n_frames, cut_threshold)
        source = f"the cuts of {reel.name} (scene score >= {cut_threshold:g}; check them)"
    ids = shot_ids(events)
    if takes_csv is not None:
        found = takes_from_csv(events, ids, require_file(takes_csv, role="takes CSV"))
    elif takes is not None:
        found = takes_by_pattern(events, ids, takes, out.absolute().parent)
    else:
        raise ShotError(None, out, "give the dubber takes: --takes PATTERN or --takes-csv FILE")
    cameras = find_sources(events, ids, sources, info, handles) if sources is not None else {}
    missing = write_sheet(out, events, ids, found, reel, actor, info.fps_str, start, source, cameras)
    log.info("%s: %d events, %d shots with a take, %d without (%s)", out, len(events), len(events) - len(missing),
             len(missing), ", ".join(missing) or "none")
    return {"events": len(events), "shots": len(events) - len(missing), "without_take": missing}
