"""The sample sheet's input videos probed with ffprobe before any job starts.

:mod:`vdub.core.samples` parses the sheet and checks that its files exist; what only a probe
of the files can tell (a video that does not decode, a range outside its video, a cut that
cannot go back into its reel) is checked here.
"""

from __future__ import annotations

from vdub.core.errors import ShotError
from vdub.core.samples import Shot, stacked_under
from vdub.media.probe_cache import ProbeCache
from vdub.media.timecode import reel_cut, source_range
from vdub.media.video import VideoInfo


def probe_input_videos(shots: list[Shot], generated: set[str] = frozenset(), cache: ProbeCache | None = None) -> None:
    """Probe every actor and dubber video (and audio file) with ffprobe before any job starts.

    A file that is not a decodable video fails now, naming shot and file, rather than hours
    later in the middle of a batch; so does an actor range outside its video, handles that
    leave no cut, a cut outside its reel, at another rate than its reel's or overlapping another
    shot's cut there (but for a shot composited onto another, ``over``: the two deliver one picture), a dubber
    video without an audio track when the shot names no ``audio``
    file (there would be nothing to dub with), and an ``audio`` file without an audio stream.
    ``cache`` keeps the probes across starts (:mod:`vdub.media.probe_cache`; default: this call only).
    """
    cache = cache or ProbeCache(None)
    probed: dict[str, VideoInfo] = {}  # a reel's shots share one probe of it

    def probe(file: str, shot: str) -> VideoInfo:
        if file not in probed:
            probed[file] = cache.video(file, shot=shot)
        return probed[file]

    cuts: dict[str, list[tuple[int, int, str]]] = {}  # reel -> its shots' cuts
    under = stacked_under(shots)
    for shot in shots:
        actor = None if shot.actor_video in generated else probe(shot.actor_video, shot.id)
        if shot.dubber_video not in generated:
            dubber = probe(shot.dubber_video, shot.id)
            if not shot.audio and not dubber.has_audio:
                raise ShotError(shot.id, shot.dubber_video, "dubber_video has no audio track and the shot names no "
                                                            "'audio' file: add the dubbed audio as 'audio:' in the "
                                                            "sample sheet")
        if shot.audio and shot.audio not in generated:
            cache.audio_duration(shot.audio, shot=shot.id)  # ShotError if it has no audio stream
        if actor is None or shot.reel is None:
            continue
        span = source_range(shot.id, shot.actor_video, actor.fps_str, actor.n_frames, shot.actor_in, shot.actor_out)
        reel = probe(shot.reel, shot.id)
        if reel.frame_rate != actor.frame_rate or reel.display_size != actor.display_size:
            raise ShotError(shot.id, shot.reel, f"the reel is {reel.fps_str} fps, {reel.display_size}; the shot's "
                                                f"actor video {shot.actor_video} {actor.fps_str} fps, "
                                                f"{actor.display_size}: its cut cannot go back in")
        start, end = reel_cut(shot.id, shot.reel, reel.fps_str, reel.n_frames, shot.reel_in, span, shot.handles)
        if shot.id not in under:  # a picture another shot is composited onto goes back in as that one
            cuts.setdefault(shot.reel, []).append((start, end, shot.id))
    for file, spans in cuts.items():  # shots of one reel go back into it: their cuts must not overlap
        spans.sort()
        for (a0, a1, a), (b0, b1, b) in zip(spans, spans[1:]):
            if b0 < a1:
                raise ShotError(b, file, f"its cut (frames {b0}-{b1 - 1} of the reel) overlaps shot '{a}' "
                                         f"({a0}-{a1 - 1}): both cannot go back into the reel")
