"""The mux stage: the final frames encoded at the actor's rate with the dubbed audio (rule mux)."""

from __future__ import annotations

from pathlib import Path

from vdub.core.io import load_frames, load_json
from vdub.media.video import write_video


def mux(shot: str, frames_path: Path, audio_path: Path, info_path: Path, out_video: Path, crf: int = 18,
        odd_size: str = "exact") -> None:
    """Encode the final frames at the actor's frame rate with the dubbed audio.

    ``odd_size``: ``exact`` keeps an odd-sized shot's size (4:4:4), ``pad`` adds a pixel
    (see :func:`vdub.media.video.write_video`).
    """
    info = load_json(info_path)
    frames = load_frames(frames_path)
    write_video(iter(frames), out_video, info["fps_str"], audio_path=audio_path, crf=crf, odd_size=odd_size)
