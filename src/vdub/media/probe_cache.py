"""ffprobe results kept across Snakemake starts, keyed on each file's version.

Every Snakemake start (a run, a dry run, each `vdub status` or reprocessing round) checks the whole
sample sheet before any job: for a film of 1,500 shots, 3,000 files to probe, about 40 ms each and
far more where the frames must be counted. A probe depends only on the file's bytes, so a result is
reused while the file (its symlinks resolved) has the size and modification time (ns) it was probed
at; a replaced take is probed again. Failures are never kept: a bad file fails at every start until
it is fixed. The cache is one JSON file in the project (``.vdub/probes.json``), written atomically;
an unreadable one is ignored and rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from vdub.media.audio import audio_duration
from vdub.media.video import VideoInfo, probe_video

log = logging.getLogger(__name__)

#: Where a project keeps it, relative to Snakemake's working directory.
PROBE_CACHE = ".vdub/probes.json"
_VERSION = 1  # bump when VideoInfo's fields or the probe's meaning change


class ProbeCache:
    """Probe results by file version, loaded from and saved to ``path`` (None: kept in memory only)."""

    def __init__(self, path: str | Path | None = PROBE_CACHE) -> None:
        self.path = Path(path) if path is not None else None
        self._entries: dict[str, dict[str, Any]] = {}
        self._changed = False
        self.hits = self.misses = 0
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == _VERSION:
                    self._entries = dict(data["entries"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.warning("%s: unreadable probe cache, probing again (%s)", self.path, err)

    @staticmethod
    def _key(file: str | Path) -> tuple[str, list[int]] | None:
        """The file's resolved path and version (size, mtime in ns), or None when it cannot be read."""
        try:
            real = os.path.realpath(file)
            st = os.stat(real)
        except OSError:
            return None
        return real, [st.st_size, st.st_mtime_ns]

    def _lookup(self, kind: str, file: str | Path) -> tuple[str | None, list[int] | None, Any]:
        key = self._key(file)
        if key is None:
            return None, None, None
        real, version = key
        entry = self._entries.get(f"{kind}:{real}")
        if entry is not None and entry["version"] == version:
            self.hits += 1
            return real, version, entry["value"]
        self.misses += 1
        return real, version, None

    def _store(self, kind: str, real: str | None, version: list[int] | None, value: Any) -> None:
        if real is not None:
            self._entries[f"{kind}:{real}"] = {"version": version, "value": value}
            self._changed = True

    def video(self, file: str | Path, shot: str | None = None) -> VideoInfo:
        """:func:`vdub.media.video.probe_video` of ``file``, from the cache when the file is unchanged."""
        real, version, value = self._lookup("video", file)
        if value is not None:  # another link to the same bytes has its own name
            return VideoInfo(**{**value, "path": str(Path(file))})
        info = probe_video(file, shot=shot)  # raises ShotError naming shot and file; nothing is kept then
        self._store("video", real, version, info.to_dict())
        return info

    def audio_duration(self, file: str | Path, shot: str | None = None) -> float | None:
        """:func:`vdub.media.audio.audio_duration` of ``file``, from the cache when the file is unchanged."""
        real, version, value = self._lookup("audio", file)
        if value is not None:
            return value["duration"]
        duration = audio_duration(file, shot=shot)
        self._store("audio", real, version, {"duration": duration})
        return duration

    def save(self) -> None:
        """Write the cache if anything was probed (atomically: a concurrent start reads the old or the new)."""
        if self.path is None or not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": _VERSION, "entries": self._entries}))
            os.replace(tmp, self.path)
            self._changed = False
        except OSError as err:  # a read-only project still runs, it only probes every time
            log.warning("%s: cannot write the probe cache (%s)", self.path, err)
