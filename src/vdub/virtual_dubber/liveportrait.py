"""Virtual dubber, ``liveportrait`` backend: the official LivePortrait run as an external program.

The paper's virtual dubber is LivePortrait (KwaiVGI/LivePortrait) driven by the dubber
video. This module runs that project's own video-driven command line,
``python inference.py -s SOURCE -d DRIVING -o OUTPUT_DIR [flags]``, from a checkout the
studio installs (its code and weights are not part of vdub), and converts its result to
the builtin backend's layout: ``T x H x W x 3`` uint8 at the actor's display size.

* SOURCE is the actor's reference frame (PNG), DRIVING the dubber frames already conformed
  to the actor's timeline, encoded at the actor's frame rate. With ``anchor_neutral`` the
  dubber's neutral frame is put in front of them: LivePortrait's relative motion is
  measured from the first driving frame, and a take that starts mid-word would otherwise
  shift every mouth shape by that first frame's opening. The extra result frame is dropped.
* LivePortrait writes ``{driving}.pkl`` next to the driving video and its results into the
  output folder, so everything it sees lives in a private temporary folder (under
  ``$TMPDIR``; Snakemake's ``resources: tmpdir`` sets it) that is removed afterwards, even
  on failure or SIGTERM. A ``shadow:`` rule would hide the files from Snakemake too, but
  not from an operator running ``python -m vdub virtual-dubber`` by hand.
* Frames of the result are taken by index, not by time: LivePortrait writes its result at
  an integer-rounded frame rate, and one driving frame gives one result frame. A shorter
  result holds its last frame (with a warning), a longer one is trimmed.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from vdub.core.errors import ShotError, require_file, sigterm_as_exit
from vdub.core.io import FrameWriter, load_frames, load_json
from vdub.media.video import probe_video, read_frames, write_video
from vdub.virtual_dubber.config import LivePortraitConfig

log = logging.getLogger(__name__)

#: Files LivePortrait loads, relative to its weights folder (``<checkout>/pretrained_weights``).
WEIGHT_FILES: tuple[str, ...] = (
    "liveportrait/base_models/appearance_feature_extractor.pth",
    "liveportrait/base_models/motion_extractor.pth",
    "liveportrait/base_models/spade_generator.pth",
    "liveportrait/base_models/warping_module.pth",
    "liveportrait/retargeting_models/stitching_retargeting_module.pth",
    "liveportrait/landmark.onnx",
    "insightface/models/buffalo_l/2d106det.onnx",
    "insightface/models/buffalo_l/det_10g.onnx",
)
#: Boolean options passed to LivePortrait as ``--name`` / ``--no_name`` (tyro's flag pairs).
BOOL_FLAGS = ("flag_relative_motion", "flag_stitching", "flag_pasteback", "flag_do_crop", "flag_crop_driving_video",
              "flag_normalize_lip", "flag_use_half_precision", "flag_force_cpu")

#: x264 quality of the driving video: near-lossless, so that the motion extractor sees the
#: dubber's lips rather than compression blocks.
_DRIVING_CRF = 12
#: How a Git LFS pointer file starts (weights cloned without git-lfs).
_LFS_MAGIC = b"version https://git-lfs"
#: Lines of LivePortrait's output quoted in the error when it fails.
_TAIL_LINES = 25
#: Relative difference of aspect ratio (besides rounding) beyond which the result is refused.
_ASPECT_TOLERANCE = 0.02


class LivePortraitNotInstalled(RuntimeError):
    """LivePortrait cannot run as configured; ``problems`` lists every reason, one per entry."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("LivePortrait is not installed as configured:\n" + "\n".join(f"  - {p}" for p in problems))


def _is_lfs_pointer(path: Path) -> bool:
    """True for the small text stub a clone without git-lfs leaves instead of the weights."""
    if path.stat().st_size > 1024:
        return False
    with open(path, "rb") as f:
        return f.read(len(_LFS_MAGIC)) == _LFS_MAGIC


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve(strict=True) == b.resolve(strict=True)
    except OSError:
        return False


def check_installation(cfg: LivePortraitConfig) -> None:
    """Raise :class:`LivePortraitNotInstalled` listing every file LivePortrait needs and lacks.

    Checks the checkout's ``inference.py``, each weight file, the interpreter, and that the
    weights are where LivePortrait reads them: its model paths are fixed relative to its own
    source (``<checkout>/pretrained_weights``, no command-line option), so a ``weights``
    folder elsewhere must be linked there. Nothing is imported or run: this is cheap enough
    for Snakemake's parse time.
    """
    checkout = cfg.checkout_path
    if checkout is None:
        raise LivePortraitNotInstalled(["liveportrait.checkout is not set in the config: set it to the folder of a "
                                        "LivePortrait checkout (the one holding inference.py)"])
    problems = []
    if not checkout.is_dir():
        problems.append(f"checkout folder not found: {checkout}")
    entry = checkout / "inference.py"
    if not entry.is_file():
        problems.append(f"missing file: {entry} (liveportrait.checkout must be the LivePortrait checkout)")
    weights = cfg.weights_path
    assert weights is not None
    for rel in WEIGHT_FILES:
        path = weights / rel
        if not path.is_file():
            problems.append(f"missing file: {path}")
        elif path.stat().st_size == 0:
            problems.append(f"empty file (0 bytes, an interrupted download?): {path}")
        elif _is_lfs_pointer(path):
            problems.append(f"Git LFS pointer, not the weights (run `git lfs pull` where it was cloned): {path}")
    expected = checkout / "pretrained_weights"
    if cfg.weights is not None and checkout.is_dir() and weights.is_dir() and not _same_dir(weights, expected):
        problems.append(f"LivePortrait reads its weights only from {expected}, which is not {weights}: "
                        f"link it with: ln -sfn {shlex.quote(str(weights.absolute()))} {shlex.quote(str(expected))}")
    if shutil.which(cfg.python) is None:
        problems.append(f"interpreter not found: {cfg.python} (liveportrait.python: LivePortrait's environment)")
    if problems:
        raise LivePortraitNotInstalled(problems)


def build_command(cfg: LivePortraitConfig, source: Path, driving: Path, output_dir: Path) -> list[str]:
    """LivePortrait's command line (an argument list, never a shell string).

    Every option is given explicitly, booleans as tyro's ``--flag_x`` / ``--no_flag_x``, so
    the run does not depend on the defaults of whichever LivePortrait version is installed.
    """
    checkout = cfg.checkout_path
    if checkout is None:
        raise ValueError("liveportrait.checkout is not set")
    # The child runs in the checkout (cwd), where a relative interpreter path would not be found.
    python = str(Path(cfg.python).expanduser().absolute()) if os.sep in cfg.python else cfg.python
    cmd = [python, str((checkout / "inference.py").absolute()),
           "-s", str(source), "-d", str(driving), "-o", str(output_dir)]
    for name in BOOL_FLAGS:
        cmd.append(f"--{name}" if getattr(cfg, name) else f"--no_{name}")
    cmd += ["--animation_region", cfg.animation_region,
            "--driving_option", cfg.driving_option,
            "--driving_multiplier", repr(float(cfg.driving_multiplier)),
            "--driving_smooth_observation_variance", repr(float(cfg.driving_smooth_observation_variance))]
    if cfg.source_max_dim is not None:
        cmd += ["--source_max_dim", str(int(cfg.source_max_dim))]
    return cmd


def result_name(source: Path, driving: Path) -> str:
    """The file name of LivePortrait's result (pasted back when paste-back is on)."""
    return f"{source.stem}--{driving.stem}.mp4"


def _checkout_commit(checkout: Path) -> str | None:
    """The checkout's git commit, logged so that a result can be traced to the code that made it."""
    if not (checkout / ".git").exists():
        return None
    try:
        proc = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = proc.stdout.strip()
    return commit if proc.returncode == 0 and commit else None


def _run(shot: str, cmd: list[str], cwd: Path) -> None:
    """Run LivePortrait, its output line by line to the log; ShotError with its last lines on failure."""
    log.info("shot %s: running LivePortrait in %s: %s", shot, cwd, shlex.join(cmd))
    # Unbuffered, so that its progress reaches the rule's log as it happens.
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except OSError as err:
        raise ShotError(shot, cmd[0], f"cannot start LivePortrait's interpreter: {err}") from err
    assert proc.stdout is not None
    try:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                log.info("liveportrait: %s", line)
                tail.append(line)
        rc = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted (SIGTERM, Ctrl-C): do not leave it running on the GPU
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if rc != 0:
        raise ShotError(shot, cmd[1], f"LivePortrait exited with status {rc}; its last output:\n" + "\n".join(tail))


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2  # imported here: check_installation runs at Snakemake's parse time without OpenCV

    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


def _frame_index(shot: str, reference_json: Path, refs: dict, role: str, n_frames: int) -> int:
    try:
        index = int(refs[role]["frame"])
    except (KeyError, TypeError, ValueError):
        raise ShotError(shot, reference_json, f"no {role} reference frame in it") from None
    if not 0 <= index < n_frames:
        raise ShotError(shot, reference_json, f"{role} reference frame {index} is outside 0..{n_frames - 1}")
    return index


def _check_geometry(shot: str, result: Path, lp_size: tuple[int, int], size: tuple[int, int]) -> None:
    """Refuse a result whose aspect ratio is not the actor's (it would be a crop, not the frame)."""
    (lw, lh), (w, h) = lp_size, size
    tolerance = _ASPECT_TOLERANCE + 2.0 / min(lw, lh)  # LivePortrait rounds sizes to even pixels
    if abs((lw / lh) / (w / h) - 1.0) > tolerance:
        raise ShotError(shot, result, f"LivePortrait's result is {lw}x{lh}, the actor is {w}x{h}: not the actor's "
                                      "full frame (is paste-back off in this LivePortrait version?)")
    if (lw, lh) != (w, h):
        log.info("shot %s: LivePortrait's result is %dx%d; scaled to the actor's %dx%d", shot, lw, lh, w, h)


def _convert_result(shot: str, result: Path, out_frames: Path, n_frames: int, size: tuple[int, int],
                    skip: int) -> None:
    """Decode LivePortrait's result into the builtin layout: n_frames x H x W x 3 at ``size``."""
    info = probe_video(result, shot=shot)
    _check_geometry(shot, result, (info.display_width, info.display_height), size)
    wanted = n_frames + skip
    if info.n_frames > wanted:
        log.info("shot %s: LivePortrait returned %d frames, %d expected: trimmed", shot, info.n_frames, wanted)
    w, h = size
    n_written = 0
    last: np.ndarray | None = None
    with FrameWriter(out_frames, n_frames, h, w) as writer:
        with contextlib.closing(read_frames(info, size=(w, h), max_frames=wanted, shot=shot)) as frames:
            for i, frame in enumerate(frames):
                if i < skip:
                    continue  # the neutral anchor frame put in front of the driving video
                writer.write(frame)
                last = frame
                n_written += 1
        if last is None:
            raise ShotError(shot, result, f"LivePortrait's result has no frame after the {skip} anchor frame(s)")
        if n_written < n_frames:
            log.warning("shot %s: %s: LivePortrait returned %d of %d frames; the last one is held for the "
                        "remaining %d", shot, result.name, n_written, n_frames, n_frames - n_written)
            for _ in range(n_frames - n_written):
                writer.write(last)


def run_liveportrait(shot: str, actor_frames: Path, dubber_frames: Path, reference_json: Path, info_json: Path,
                     out_frames: Path, cfg: LivePortraitConfig, tmp_root: Path | None = None) -> None:
    """Virtual dubber by LivePortrait: the actor's reference frame driven by the conformed dubber frames.

    Writes ``out_frames`` (``T x H x W x 3`` uint8, T and H x W of the actor) atomically.
    ``tmp_root`` is where the private working folder is made (default: ``$TMPDIR``).

    Raises:
        ShotError: LivePortrait is not installed as configured, an input is missing or
            inconsistent, LivePortrait fails or writes no usable result. Nothing is left at
            ``out_frames`` and the working folder is removed.
    """
    checkout = cfg.checkout_path
    try:
        check_installation(cfg)
    except LivePortraitNotInstalled as err:
        raise ShotError(shot, checkout, str(err)) from None
    assert checkout is not None
    for path, role in ((actor_frames, "actor frames"), (dubber_frames, "dubber frames"),
                       (reference_json, "reference JSON"), (info_json, "ingest info JSON")):
        require_file(path, shot, role)

    actor = load_frames(actor_frames)
    dubber = load_frames(dubber_frames)
    n_frames, height, width = actor.shape[:3]
    if len(dubber) != n_frames:
        raise ShotError(shot, dubber_frames,
                        f"has {len(dubber)} frames, the actor {n_frames}: not conformed to the shot")
    refs = load_json(reference_json)
    ref = _frame_index(shot, reference_json, refs, "actor", n_frames)
    neutral = _frame_index(shot, reference_json, refs, "dubber", len(dubber)) if cfg.anchor_neutral else None
    fps = load_json(info_json).get("fps_str")
    if not fps:
        raise ShotError(shot, info_json, "no 'fps_str' (the actor's frame rate) in it")

    commit = _checkout_commit(checkout)
    log.info("shot %s: LivePortrait checkout %s%s, actor reference frame %d%s", shot, checkout,
             f" at {commit}" if commit else "", ref, "" if neutral is None else f", dubber neutral frame {neutral}")
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix=f"vdub-liveportrait-{shot}-", dir=tmp_root,
                                                         ignore_cleanup_errors=True) as tmp:
        work = Path(tmp).absolute()  # LivePortrait runs in its checkout: give it absolute paths
        source, driving, output_dir = work / "source.png", work / "driving.mp4", work / "output"
        output_dir.mkdir()
        _write_png(source, np.asarray(actor[ref]))
        anchor = [np.asarray(dubber[neutral])] if neutral is not None else []
        write_video(itertools.chain(anchor, (np.asarray(dubber[t]) for t in range(n_frames))), driving, fps,
                    crf=_DRIVING_CRF)

        _run(shot, build_command(cfg, source, driving, output_dir), cwd=checkout)

        result = output_dir / result_name(source, driving)
        if not result.is_file():
            found = sorted(p.name for p in output_dir.iterdir())
            raise ShotError(shot, result, f"LivePortrait exited normally but wrote no result (its output folder "
                                          f"holds {found or 'nothing'})")
        _convert_result(shot, result, out_frames, n_frames, (width, height), skip=len(anchor))
    log.info("shot %s: virtual dubber (LivePortrait) written to %s", shot, out_frames)

