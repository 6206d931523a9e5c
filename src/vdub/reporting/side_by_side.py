"""Side-by-side preview of a shot: labelled panels (actor | virtual dubber | output, ...) in one small video.

A review artifact, not a deliverable: the panels are scaled down to a common height
(capped, so that the project report can embed the file) and encoded at the actor's exact
frame rate with the shot's dubbed audio, so a supervisor can judge the lip-sync and
what the pipeline changed in one player.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError
from vdub.core.io import load_frames, load_json
from vdub.reporting.contact_sheet import fit_height, label_tile

log = logging.getLogger(__name__)

#: Panels the preview can show and their labels; each is a frames file of the shot.
PANEL_LABELS = {
    "actor": "actor",
    "dubber": "dubber",
    "virtual_dubber": "virtual dubber",
    "composite": "composite",
    "reenact": "reenact (no SR)",
    "output": "output",
}


def panel_height(frame_height: int, max_height: int) -> int:
    """The preview's panel height: the actor's, capped at ``max_height``, rounded down to even (4:2:0)."""
    return max(2, min(frame_height, max_height) // 2 * 2)


def side_by_side_frames(panels: Sequence[tuple[str, np.ndarray]], height: int) -> Iterator[np.ndarray]:
    """Yield frame ``t`` of every panel, resized to ``height`` rows and labelled, left to right.

    panels: ``(label, frames)`` pairs, frames T x H_i x W_i x 3 uint8 (the same T; sizes may
    differ: each keeps its aspect ratio). height: even. Yields T frames of
    ``height x sum(W_i') x 3`` uint8, every W_i' even, so the result encodes without padding.
    """
    for t in range(len(panels[0][1])):
        yield np.concatenate([label_tile(fit_height(np.asarray(frames[t]), height, even=True), label)
                              for label, frames in panels], axis=1)


def side_by_side(shot: str, panel_paths: Sequence[tuple[str, Path]], audio: Path | None, info_path: Path,
                 out_video: Path, max_height: int = 360, crf: int = 26) -> int:
    """Encode the side-by-side preview of a shot as H.264 with the dubbed audio; returns the frame count.

    panel_paths: ``(panel, frames file)`` pairs in display order, panel a key of
    :data:`PANEL_LABELS`; the first panel's height (capped at ``max_height``) sets the
    preview's. info_path: the ingest info JSON (the actor's exact frame rate ``fps_str``).
    audio: the shot's dubbed audio (trimmed to the shot by ingest), or None for a silent
    preview.

    Raises:
        ShotError: an unknown panel, no panels, or panels of different frame counts.
    """
    from vdub.media.video import write_video

    if not panel_paths:
        raise ShotError(shot, None, "side-by-side preview: no panels")
    unknown = [name for name, _ in panel_paths if name not in PANEL_LABELS]
    if unknown:
        raise ShotError(shot, None, f"side-by-side preview: unknown panels {unknown} (known: {list(PANEL_LABELS)})")
    panels = [(PANEL_LABELS[name], load_frames(path)) for name, path in panel_paths]
    count = len(panels[0][1])
    for (name, path), (_, frames) in zip(panel_paths, panels):
        if len(frames) != count:
            raise ShotError(shot, path, f"{name} has {len(frames)} frames, the {panel_paths[0][0]} {count}")
    info = load_json(info_path)
    height = panel_height(panels[0][1].shape[1], max_height)
    written = write_video(side_by_side_frames(panels, height), out_video, info["fps_str"], audio_path=audio, crf=crf,
                          metadata={"comment": f"vdub side-by-side preview of shot {shot}: "
                                               + " | ".join(name for name, _ in panel_paths)})
    log.info("shot %s: side-by-side preview (%s) of %d frames at %d px: %s", shot,
             " | ".join(name for name, _ in panel_paths), written, height, out_video)
    return written
