"""Kills, full disks and read-only folders (issue 9, cases 10 and 11), on the real clips.

Every stage runs as ``python -m vdub`` in a subprocess, as Snakemake runs it, and the
faults are real: SIGTERM/SIGKILL sent to the running process, ENOSPC from a small tmpfs,
EROFS from a read-only bind mount and EACCES for an unprivileged user. The mounts are made
in a private mount namespace (``unshare``) that dies with the command, so nothing is left
mounted on the machine; unprivileged runners use a user namespace for the same.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from support import MEDIA, needs_media, shipped_settings

pytestmark = needs_media

ACTOR = MEDIA / "actor_woman_bluewall.mp4"  # 199 frames of 700 x 700: ~1.5 s to decode, 293 MB of frames
DUB_AUDIO = MEDIA / "dub_audio_en.wav"
LISTING = "@@listing@@"


def vdub(*args: str) -> list[str]:
    return [sys.executable, "-m", "vdub", *args]


def ingest_actor_args(video: Path, out: Path) -> list[str]:
    return vdub("ingest-actor", "--shot", "s1", "--settings", shipped_settings("ingest_actor"), "--actor-video",
                str(video), "--out-actor", str(out / "actor.npy"), "--out-json", str(out / "actor.json"))


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Running (a zombie that nobody reaped any more counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_and_signal(cmd: list[str], out: Path, temp_prefix: str, sig: int, settle: float = 0.2) -> tuple[int, str]:
    """Start ``cmd``; once its temporary output file and its ffmpeg child exist, send ``sig``.

    Returns the exit status (negative: killed by that signal) and stderr. Fails if the
    process ends on its own before the signal (then the test proved nothing).
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            started = out.is_dir() and any(p.name.startswith(temp_prefix) for p in out.iterdir())
            if started and children(proc.pid):
                break
            time.sleep(0.005)
        time.sleep(settle)  # well inside the work: decoding or encoding
        kids = children(proc.pid)
        assert proc.poll() is None, f"finished before the signal: {proc.stderr.read()}"
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert kids, "the stage had no ffmpeg child when signalled"
    deadline = time.monotonic() + 10
    while any(alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(k) for k in kids), "an ffmpeg child outlived the stage"
    return rc, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted ingest of the actor clip: what every rerun must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("reference")
    result = run(ingest_actor_args(ACTOR, out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["actor.json", "actor.npy"]
    return out


def assert_same_outputs(out: Path, reference: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["actor.json", "actor.npy"]  # no temporary file either
    assert filecmp.cmp(out / "actor.npy", reference / "actor.npy", shallow=False)
    assert (out / "actor.json").read_text() == (reference / "actor.json").read_text()


# --- case 10: kills -------------------------------------------------------------------------------------


def test_sigterm_during_ingest_leaves_nothing_and_the_rerun_matches(tmp_path, reference):
    out = tmp_path / "ingest"
    rc, stderr = start_and_signal(ingest_actor_args(ACTOR, out), out, ".actor.npy.", signal.SIGTERM)

    assert rc == 143, stderr
    assert "shot 's1': interrupted by signal 15" in stderr and "Traceback" not in stderr
    assert list(out.iterdir()) == []  # neither the outputs nor the 293 MB temporary file

    result = run(ingest_actor_args(ACTOR, out))
    assert result.returncode == 0, result.stderr
    assert_same_outputs(out, reference)


def test_sigkill_leaves_only_a_temporary_name_that_the_rerun_removes(tmp_path, reference):
    from vdub.core.io import remove_stale_temporaries

    out = tmp_path / "ingest"
    rc, _ = start_and_signal(ingest_actor_args(ACTOR, out), out, ".actor.npy.", signal.SIGKILL)

    assert rc == -signal.SIGKILL
    left = [p.name for p in out.iterdir()]
    # SIGKILL cannot be caught: the partial frames stay, but under a hidden temporary name
    # that no rule names as an output, never as actor.npy / actor.json.
    assert len(left) == 1 and left[0].startswith(".actor.npy.") and left[0].endswith(".npy"), left
    assert remove_stale_temporaries(out / "actor.json") == []  # not a leftover of another output

    result = run(ingest_actor_args(ACTOR, out))
    assert result.returncode == 0, result.stderr
    assert_same_outputs(out, reference)  # the stale temporary file is gone


@pytest.fixture(scope="module")
def mux_inputs(tmp_path_factory, reference) -> dict[str, Path]:
    """Derived from the real clips: 60 actor frames, 2 s of the dubbed audio, the actor's frame rate."""
    from vdub.core.io import load_frames, save_frames, save_json
    from vdub.media.audio import extract_audio

    folder = tmp_path_factory.mktemp("mux_inputs")
    paths = {"frames": folder / "frames.npy", "audio": folder / "audio.wav", "info": folder / "info.json"}
    save_frames(paths["frames"], np.ascontiguousarray(load_frames(reference / "actor.npy")[:60]))
    extract_audio(DUB_AUDIO, paths["audio"], 2.0, 48000, 2)
    save_json(paths["info"], {"fps_str": json.loads((reference / "actor.json").read_text())["actor"]["fps_str"]})
    return paths


def mux_args(inputs: dict[str, Path], out: Path) -> list[str]:
    return vdub("mux", "--shot", "s1", "--settings", shipped_settings("mux"), "--frames", str(inputs["frames"]),
                "--audio", str(inputs["audio"]), "--info", str(inputs["info"]), "--out", str(out))


def test_sigterm_during_encode_stops_ffmpeg_and_the_rerun_matches(tmp_path, mux_inputs):
    reference = tmp_path / "reference" / "output.mp4"
    result = run(mux_args(mux_inputs, reference))
    assert result.returncode == 0, result.stderr

    out = tmp_path / "mux" / "output.mp4"
    rc, stderr = start_and_signal(mux_args(mux_inputs, out), out.parent, ".output.mp4.", signal.SIGTERM, settle=0.3)
    assert rc == 143, stderr
    assert list(out.parent.iterdir()) == []

    result = run(mux_args(mux_inputs, out))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.parent.iterdir()] == ["output.mp4"]
    assert filecmp.cmp(out, reference, shallow=False)  # x264 is deterministic for the same settings


def test_stale_temporaries_are_removed_only_when_their_writer_is_gone(tmp_path):
    from vdub.core.io import atomic_path, remove_stale_temporaries, save_json

    final = tmp_path / "info.json"
    stale = tmp_path / ".info.json.k1ll3d_x.json"  # what a SIGKILLed writer leaves
    stale.write_text("{partial")
    unrelated = [tmp_path / ".info.json.notes", tmp_path / ".other.json.abcdefgh.json", tmp_path / "info.json.bak"]
    for p in unrelated:
        p.write_text("keep")
    with atomic_path(final) as live:
        assert not stale.exists()  # removed as the next write of the same output began
        live.write_text("{}")
        # A second writer of the same output (there should be none) must not delete a live temporary file.
        assert remove_stale_temporaries(final) == []
        assert live.exists()
    save_json(final, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["info.json", *(p.name for p in unrelated)])
    assert json.loads(final.read_text()) == {"a": 1}


# --- case 11: full disk, read-only or forbidden output folder ----------------------------------------------


def _namespace_prefix() -> tuple[list[str] | None, str]:
    """A command prefix that runs in a private mount namespace where ``mount`` works, or why there is none."""
    if shutil.which("unshare") is None:
        return None, "util-linux 'unshare' is not installed"
    candidates = [["unshare", "--mount", "--propagation", "private"]] if os.geteuid() == 0 else []
    candidates.append(["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"])
    reasons = []
    with tempfile.TemporaryDirectory() as probe:
        for prefix in candidates:
            result = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                                    capture_output=True, text=True)
            if result.returncode == 0:
                return prefix, ""
            reasons.append(f"{' '.join(prefix)}: {result.stderr.strip()}")
    return None, ("no mount namespace here (a container without CAP_SYS_ADMIN and with unprivileged user "
                  "namespaces disabled): " + "; ".join(reasons))


NAMESPACE, NO_NAMESPACE = _namespace_prefix()
needs_namespace = pytest.mark.skipif(NAMESPACE is None, reason=NO_NAMESPACE)

_MOUNTS = {
    "tmpfs": 'mount -t tmpfs -o size="$2" tmpfs "$1"',
    "read-only": 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"',
}


def run_with_mount(kind: str, folder: Path, cmd: list[str], size: str = "0") -> tuple[int, str, list[str]]:
    """Run ``cmd`` with ``folder`` replaced by a small tmpfs or made read-only, in a throw-away namespace.

    Returns the exit status, stderr and what the folder held afterwards (seen from inside).
    """
    script = (f'{_MOUNTS[kind]} || exit 99; d=$1; shift 2; "$@"; rc=$?; echo {LISTING}; ls -A "$d"; exit $rc')
    result = run([*NAMESPACE, "sh", "-c", script, "sh", str(folder), size, *cmd])
    assert result.returncode != 99, f"could not mount: {result.stderr}"
    listing = result.stdout.split(LISTING, 1)[1].split()
    return result.returncode, result.stderr, listing


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def actor_copy(tmp_path) -> tuple[Path, str, int]:
    """The actor clip as a writable input (outside the repo), with its hash and mtime."""
    video = tmp_path / "input" / "actor.mp4"
    video.parent.mkdir()
    shutil.copyfile(ACTOR, video)
    return video, sha256(video), video.stat().st_mtime_ns


def assert_untouched(actor_copy: tuple[Path, str, int]) -> None:
    video, digest, mtime = actor_copy
    assert sha256(video) == digest and video.stat().st_mtime_ns == mtime
    assert [p.name for p in video.parent.iterdir()] == ["actor.mp4"]


@needs_namespace
def test_full_disk_fails_before_decoding_with_one_line(tmp_path, actor_copy):
    out = tmp_path / "out"
    out.mkdir()
    # 16 MiB for 293 MB of frames: the reservation fails at once. Without it the memory-mapped
    # frames would hit the full disk as a SIGBUS (exit 135) half-way, leaving 16 MiB behind.
    t0 = time.monotonic()
    rc, stderr, left = run_with_mount("tmpfs", out, ingest_actor_args(actor_copy[0], out), size="16m")
    assert rc == 2, stderr
    assert one_error_line(stderr) == f"error: shot 's1': {out / 'actor.npy'}: no space left on device"
    assert left == []
    assert time.monotonic() - t0 < 30
    assert_untouched(actor_copy)


@needs_namespace
def test_full_disk_during_an_ffmpeg_encode_is_reported_as_such(tmp_path, mux_inputs):
    out = tmp_path / "out"
    out.mkdir()
    before = {name: sha256(p) for name, p in mux_inputs.items()}
    rc, stderr, left = run_with_mount("tmpfs", out, mux_args(mux_inputs, out / "output.mp4"), size="256k")
    assert rc == 2, stderr
    assert one_error_line(stderr) == f"error: shot 's1': {out / 'output.mp4'}: no space left on device"
    assert left == []
    assert {name: sha256(p) for name, p in mux_inputs.items()} == before


@needs_namespace
def test_full_disk_while_saving_a_model_is_an_oserror_not_a_torch_error(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "out"
    out.mkdir()
    # Models of 64 KiB to 4 MiB onto 64 KiB: the disk fills at different points of torch's zip writer.
    code = ("import errno, sys, torch\n"
            "from vdub.training.checkpoint import save_checkpoint\n"
            "for width in (128, 256, 1024):\n"
            "    try:\n"
            f"        save_checkpoint({str(out / 'model.pt.resume')!r}, torch.nn.Linear(width, width), None, 1, 'fp')\n"
            "    except OSError as err:\n"
            "        print('OSError', errno.errorcode[err.errno], err.filename, file=sys.stderr)\n")
    rc, stderr, left = run_with_mount("tmpfs", out, [sys.executable, "-c", code], size="64k")
    assert rc == 0, stderr
    # torch's own writer would raise an errno-less RuntimeError ("unexpected pos ...").
    assert stderr.count(f"OSError ENOSPC {out / 'model.pt.resume'}") == 3, stderr
    assert left == []


@needs_namespace
def test_read_only_output_folder_fails_at_once_and_leaves_everything_alone(tmp_path, actor_copy):
    out = tmp_path / "out"
    out.mkdir()
    (out / "actor.json").write_text('{"older": true}\n')  # an earlier run's output stays as it was
    rc, stderr, left = run_with_mount("read-only", out, ingest_actor_args(actor_copy[0], out))
    assert rc == 2, stderr
    assert one_error_line(stderr) == f"error: shot 's1': {out}: not writable (read-only file system)"
    assert left == ["actor.json"] and (out / "actor.json").read_text() == '{"older": true}\n'
    assert_untouched(actor_copy)


def _unprivileged() -> tuple[list[str] | None, str]:
    if os.geteuid() != 0:
        return [], ""  # already subject to permissions
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], ""
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"], ""
    return None, "running as root (permissions are not enforced) and neither setpriv nor runuser is installed"


UNPRIVILEGED, NO_UNPRIVILEGED = _unprivileged()


@pytest.mark.skipif(UNPRIVILEGED is None, reason=NO_UNPRIVILEGED)
def test_output_folder_without_write_permission(actor_copy):
    # Not under tmp_path: pytest's base folder is 0700, so the unprivileged user could not even reach it.
    base = Path(tempfile.mkdtemp(prefix="vdub-faults-"))
    try:
        base.chmod(0o755)
        out = base / "out"
        out.mkdir(mode=0o555)
        out.chmod(0o555)
        video = base / "actor.mp4"
        shutil.copyfile(actor_copy[0], video)
        video.chmod(0o444)
        digest = sha256(video)
        check = run([*UNPRIVILEGED, sys.executable, "-c", "import vdub.cli.main"])
        if check.returncode != 0:
            pytest.skip(f"the unprivileged user cannot run this interpreter: {check.stderr.strip()[-200:]}")
        result = run([*UNPRIVILEGED, *ingest_actor_args(video, out)], env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        assert result.returncode == 2, result.stderr
        assert one_error_line(result.stderr) == f"error: shot 's1': {out}: not writable (permission denied)"
        assert list(out.iterdir()) == []
        assert sha256(video) == digest
    finally:
        for p in (base, base / "out"):
            if p.exists():
                p.chmod(0o755)
        shutil.rmtree(base)
