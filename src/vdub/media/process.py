"""ffmpeg and ffprobe as subprocesses: time limits, a stall watchdog, stderr kept for the error message,
clean exits, and the disk-full case named as such. Shared by video and audio.

Every file reaches ffmpeg as ``file:<absolute path>`` (:func:`ffmpeg_url`), so names with spaces,
quotes, colons or a leading dash are never taken for a protocol (``shot:1.mp4``) or an option.
"""

from __future__ import annotations

import collections
import errno
import json
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import ffmpeg
import numpy as np

from vdub.core.errors import ShotError

#: Seconds to wait for an ffmpeg process to exit after its pipes are closed before it is killed.
_EXIT_GRACE_S = 10.0


#: Seconds an ffprobe or a whole-file ffmpeg run may take, plus :data:`SECONDS_PER_MEDIA_SECOND`
#: per second of media. Generous: they only exist so that a stalled input (a hung network
#: mount, a FIFO nobody writes to) fails with the file's name instead of hanging a job forever.
PROCESS_TIMEOUT_S = 120.0


SECONDS_PER_MEDIA_SECOND = 2.0


#: Seconds a streaming ffmpeg (frames, samples) may go without delivering any data while we
#: wait for it before it is killed as hung. The consumer's own time does not count.
STALL_TIMEOUT_S = 300.0


def process_timeout(media_s: float | None = None) -> float:
    """Time limit for an ffmpeg/ffprobe run over ``media_s`` seconds of media (unknown: the base)."""
    extra = media_s if media_s is not None and math.isfinite(media_s) and media_s > 0 else 0.0
    return PROCESS_TIMEOUT_S + SECONDS_PER_MEDIA_SECOND * extra


def run_ffprobe(path: str | Path, shot: str | None = None, *args: str, timeout_s: float | None = None) -> dict:
    """``ffprobe -show_format -show_streams`` (plus ``args``) on ``path`` as JSON, within a time limit.

    Raises:
        ffmpeg.Error: ffprobe failed (its stderr is on the exception, as with ``ffmpeg.probe``).
        ShotError: ffprobe did not finish within ``timeout_s`` (default :func:`process_timeout`);
            it is killed and the message names ``shot`` and ``path``.
    """
    timeout_s = process_timeout() if timeout_s is None else timeout_s
    cmd = ["ffprobe", "-show_format", "-show_streams", "-of", "json", *args, ffmpeg_url(path)]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ShotError(shot, path, f"ffprobe did not finish within {timeout_s:g} s and was stopped "
                                    "(stalled or unreachable input?)") from None
    if proc.returncode != 0:
        raise ffmpeg.Error("ffprobe", proc.stdout, proc.stderr)
    return json.loads(proc.stdout.decode("utf-8"))


def run_ffmpeg(args: list[str], path: str | Path, shot: str | None, timeout_s: float) -> subprocess.CompletedProcess:
    """Run a whole-file ffmpeg command line (output captured); ShotError naming ``path`` on timeout."""
    try:
        return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ShotError(shot, path, f"ffmpeg did not finish within {timeout_s:g} s and was stopped "
                                    "(stalled or unreachable input?)") from None


class StallWatchdog:
    """Kill a streaming ffmpeg that delivers nothing for ``timeout_s`` seconds while we wait on it.

    Only time spent blocked in :meth:`read` counts, so a slow consumer never trips it. After
    it fired, :attr:`fired` is True and the reads return what was left (usually nothing).
    """

    def __init__(self, proc: subprocess.Popen, timeout_s: float | None = None) -> None:
        self.timeout_s = STALL_TIMEOUT_S if timeout_s is None else float(timeout_s)
        self.fired = False
        self._proc = proc
        self._since: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def read(self, stream: IO[bytes], n: int) -> bytes:
        self._since = time.monotonic()
        try:
            return stream.read(n)
        finally:
            self._since = None

    def _watch(self) -> None:
        poll = min(1.0, max(0.05, self.timeout_s / 4))
        while not self._done.wait(poll):
            since = self._since
            if since is not None and time.monotonic() - since > self.timeout_s:
                self.fired = True
                self._proc.kill()
                return

    def stop(self) -> None:
        self._done.set()

    def error(self, shot: str | None, path: str | Path) -> ShotError:
        return ShotError(shot, path, f"ffmpeg delivered no data for {self.timeout_s:g} s and was stopped "
                                     "(stalled or unreachable input?)")


def ffmpeg_url(path: str | Path) -> str:
    """The form in which a local file is handed to ffmpeg/ffprobe: ``file:`` + absolute path."""
    return "file:" + os.path.abspath(os.fspath(path))


def ffprobe_error_text(err: ffmpeg.Error) -> str:
    """The last line of ffprobe's stderr: the reason it gave up."""
    text = (err.stderr or b"").decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else "ffprobe failed"


class StderrTail:
    """Drain a process's stderr in a thread (so a chatty ffmpeg never blocks) and keep its last lines.

    Shared by the modules that run ffmpeg as a pipe (video, audio).
    """

    def __init__(self, stream: IO[bytes], keep: int = 40) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._lines.append(raw.decode("utf-8", "replace").rstrip())
        stream.close()

    def text(self) -> str:
        self._thread.join(timeout=_EXIT_GRACE_S)
        return "\n".join(line for line in self._lines if line)


#: ffmpeg's messages for a write that failed for lack of room, and their errno.
_NO_ROOM = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT}


def raise_if_no_room(stderr_text: str, path: str | Path) -> None:
    """Raise ``OSError(ENOSPC or EDQUOT, ..., path)`` if ffmpeg failed because the disk is full.

    ffmpeg reports only text; turning it back into an errno lets the command line report a
    full disk as such (one line, exit 2) instead of as an encoder failure.
    """
    for message, code in _NO_ROOM.items():
        if message in stderr_text:
            raise OSError(code, os.strerror(code), str(path))


def finish_process(proc: subprocess.Popen) -> int:
    """Close our ends of the pipes and reap the process, killing it if it does not exit in time."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None and not pipe.closed:
            try:
                pipe.close()
            except BrokenPipeError:
                pass  # ffmpeg already gone; its exit status says why
    try:
        return proc.wait(timeout=_EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def pipe_frames(args: list[str], frames: Iterable[np.ndarray], path: str | Path) -> int:
    """Run an ffmpeg command line that reads raw frames on stdin and feed it ``frames``.

    ``args``: the whole command (its output a temporary file the caller renames); ``frames``:
    arrays already in the byte layout the command's ``rawvideo`` input declares (checked by the
    caller); ``path``: the final output, named in errors. Returns the number of frames written.
    A full disk is raised as ``OSError`` (:func:`raise_if_no_room`), any other failure as
    ``RuntimeError`` with ffmpeg's last lines.
    """
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    stderr = StderrTail(proc.stderr)
    n_written, ok = 0, False
    try:
        for frame in frames:
            try:
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            except BrokenPipeError:
                break  # ffmpeg died; its stderr is reported below
            n_written += 1
        ok = True
    finally:
        if not ok:
            proc.kill()
        rc = finish_process(proc)
    if rc != 0:
        raise_if_no_room(stderr.text(), path)
        raise RuntimeError(f"ffmpeg failed writing {path}: {stderr.text() or f'exit status {rc}'}")
    return n_written
