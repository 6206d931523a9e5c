"""The liveportrait virtual-dubber backend, against a stand-in for LivePortrait's command line.

LivePortrait's code and weights are not available here, so each test builds a fake
checkout: an ``inference.py`` that takes the official CLI's arguments (``-s -d -o`` and the
flags vdub passes), checks its weights where upstream reads them, and behaves like the
real one where vdub depends on it: it writes ``{source}--{driving}.mp4`` (the source image
at the source's size, here with a mouth box painted in each driving frame's grey level),
``{source}--{driving}_concat.mp4``, and a ``.pkl`` next to the driving video. Environment
variables make it fail, stop early, run long, or write nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import REPO

from vdub.cli import main as cli
from vdub.core.errors import ShotError
from vdub.core.io import load_frames, save_frames, save_json
from vdub.core.samples import parse_samples
from vdub.virtual_dubber.config import LivePortraitConfig
from vdub.virtual_dubber.liveportrait import (
    WEIGHT_FILES,
    LivePortraitNotInstalled,
    build_command,
    check_installation,
    run_liveportrait,
)

STAND_IN = r'''
"""Stand-in for LivePortrait's inference.py (video-driven): same CLI, same files written."""
import argparse
import json
import os
import pickle
import sys
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.realpath(__file__))
WEIGHTS = WEIGHT_LIST
BOOLS = ["flag_relative_motion", "flag_stitching", "flag_pasteback", "flag_do_crop", "flag_crop_driving_video",
         "flag_normalize_lip", "flag_use_half_precision", "flag_force_cpu"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-s", "--source", required=True)
    p.add_argument("-d", "--driving", required=True)
    p.add_argument("-o", "--output_dir", default="animations/")
    for name in BOOLS:
        p.add_argument(f"--{name}", dest=name, action="store_true")
        p.add_argument(f"--no_{name}", dest=name, action="store_false")
    p.add_argument("--animation_region", choices=["exp", "pose", "lip", "eyes", "all"], default="all")
    p.add_argument("--driving_option", choices=["expression-friendly", "pose-friendly"], default="expression-friendly")
    p.add_argument("--driving_multiplier", type=float, default=1.0)
    p.add_argument("--driving_smooth_observation_variance", type=float, default=3e-7)
    p.add_argument("--source_max_dim", type=int, default=1280)
    args = p.parse_args()
    print("[stand-in] loading weights", flush=True)
    for rel in WEIGHTS:  # upstream reads them relative to its own source, like this
        if not os.path.isfile(os.path.join(HERE, "pretrained_weights", rel)):
            sys.exit(f"weights not found: {rel}")
    if os.environ.get("FAKE_LP_FAIL"):
        print("RuntimeError: CUDA out of memory (stand-in)", file=sys.stderr)
        sys.exit(1)

    source = cv2.imread(args.source)
    h, w = source.shape[0] // 2 * 2, source.shape[1] // 2 * 2  # upstream's source_division=2
    source = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
    cap = cv2.VideoCapture(args.driving)
    fps = cap.get(cv2.CAP_PROP_FPS)
    driving = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        driving.append(frame)
    with open(os.path.splitext(args.driving)[0] + ".pkl", "wb") as f:  # upstream's motion template
        pickle.dump({"n_frames": len(driving)}, f)
    if os.environ.get("FAKE_LP_RECORD"):
        with open(os.environ["FAKE_LP_RECORD"], "w") as f:
            json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(), "pid": os.getpid(), "n_driving": len(driving),
                       "driving_levels": [float(d.mean()) for d in driving],
                       "pkl": os.path.splitext(os.path.abspath(args.driving))[0] + ".pkl"}, f)
    if os.environ.get("FAKE_LP_SLEEP"):
        time.sleep(float(os.environ["FAKE_LP_SLEEP"]))
    if os.environ.get("FAKE_LP_NO_RESULT"):
        return
    n = min(len(driving), int(os.environ.get("FAKE_LP_MAX_FRAMES", len(driving))))
    frames = driving[:n] + [driving[-1]] * int(os.environ.get("FAKE_LP_EXTRA_FRAMES", 0))
    stem = "--".join(os.path.splitext(os.path.basename(f))[0] for f in (args.source, args.driving))
    os.makedirs(args.output_dir, exist_ok=True)
    out = cv2.VideoWriter(os.path.join(args.output_dir, stem + ".mp4"), cv2.VideoWriter_fourcc(*"mp4v"), int(fps),
                          (w, h))
    concat = cv2.VideoWriter(os.path.join(args.output_dir, stem + "_concat.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                             int(fps), (2 * w, h))
    y0, y1, x0, x1 = int(0.55 * h), int(0.85 * h), int(0.3 * w), int(0.7 * w)
    for d in frames:
        frame = source.copy()
        frame[y0:y1, x0:x1] = int(round(d.mean()))  # the "mouth" takes the driving frame's level
        out.write(frame)
        concat.write(np.hstack([cv2.resize(d, (w, h)), frame]))
    out.release()
    concat.release()
    print(f"[stand-in] wrote {len(frames)} frames", flush=True)


main()
'''.replace("WEIGHT_LIST", repr(list(WEIGHT_FILES)))

N_FRAMES = 12
REF, NEUTRAL = 5, 3  # actor reference frame, dubber neutral frame


def level(t: int) -> float:
    """Grey level of dubber frame t: 18 apart, so a box shows exactly one frame's level."""
    return 20.0 + 18.0 * t


def make_checkout(root: Path, weights: Path | None = None) -> Path:
    """A fake LivePortrait checkout: the stand-in inference.py and placeholder weight files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "inference.py").write_text(STAND_IN)
    for rel in WEIGHT_FILES:
        path = (weights or root / "pretrained_weights") / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"placeholder")  # not empty: check_installation refuses 0-byte (half-downloaded) files
    return root


@pytest.fixture
def checkout(tmp_path) -> Path:
    return make_checkout(tmp_path / "LivePortrait")


@pytest.fixture
def cfg(checkout) -> LivePortraitConfig:
    return LivePortraitConfig(checkout=str(checkout), python=sys.executable)


@pytest.fixture
def scratch(tmp_path) -> Path:
    """Where run_liveportrait makes its private folder (must be empty afterwards)."""
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture
def record(tmp_path, monkeypatch) -> Path:
    """JSON the stand-in writes: its argv, cwd, driving frames and .pkl path."""
    path = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_LP_RECORD", str(path))
    return path


def make_shot(folder: Path, height: int = 48, width: int = 64) -> dict[str, Path]:
    """The virtual dubber's inputs as the earlier stages write them, for a synthetic shot."""
    ingest = folder / "ingest"
    ingest.mkdir(parents=True)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([40 + yy, 50 + xx // 2, 60 + (yy + xx) // 4], axis=-1)
    actor = np.stack([np.clip(base + 8 * t, 0, 255) for t in range(N_FRAMES)]).astype(np.uint8)
    dubber = np.stack([np.full((40, 40, 3), level(t)) for t in range(N_FRAMES)]).astype(np.uint8)
    paths = {"actor": ingest / "actor.npy", "dubber": ingest / "dubber.npy", "info": ingest / "info.json",
             "reference": folder / "reference.json", "out": folder / "virtual_dubber.npy"}
    save_frames(paths["actor"], actor)
    save_frames(paths["dubber"], dubber)
    save_json(paths["info"], {"fps": 25.0, "fps_str": "25/1", "n_frames": N_FRAMES})
    save_json(paths["reference"], {"actor": {"frame": REF}, "dubber": {"frame": NEUTRAL}})
    return paths


def run(paths: dict[str, Path], cfg: LivePortraitConfig, scratch: Path, shot: str = "s1") -> None:
    run_liveportrait(shot, paths["actor"], paths["dubber"], paths["reference"], paths["info"], paths["out"], cfg,
                     tmp_root=scratch)


def mouth_levels(frames: np.ndarray) -> np.ndarray:
    """Mean level inside the stand-in's mouth box (with a margin for scaling and codec edges)."""
    h, w = frames.shape[1:3]
    return frames[:, int(0.55 * h) + 3:int(0.85 * h) - 3, int(0.3 * w) + 3:int(0.7 * w) - 3].mean(axis=(1, 2, 3))


def nearest_driving_frame(value: float) -> int:
    return int(np.argmin([abs(value - level(t)) for t in range(N_FRAMES)]))


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --- configuration and installation check -------------------------------------------------

def test_config_yaml_block_matches_the_defaults():
    block = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["liveportrait"]
    assert LivePortraitConfig.from_dict(block) == LivePortraitConfig()


@pytest.mark.parametrize("bad, message", [({"animation_region": "mouth"}, "animation_region"),
                                          ({"flag_pasteback": False}, "flag_pasteback must be true"),
                                          ({"driving_multiplier": 0}, "driving_multiplier"),
                                          ({"checkot": "/x"}, "unknown LivePortraitConfig settings")])
def test_bad_settings_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        LivePortraitConfig.from_dict(bad)


def test_check_installation_lists_every_missing_file(tmp_path):
    empty = tmp_path / "LivePortrait"
    empty.mkdir()
    with pytest.raises(LivePortraitNotInstalled) as err:
        check_installation(LivePortraitConfig(checkout=str(empty), python=sys.executable))
    text = str(err.value)
    assert f"missing file: {empty / 'inference.py'}" in text
    for rel in WEIGHT_FILES:
        assert f"missing file: {empty / 'pretrained_weights' / rel}" in text
    assert len(err.value.problems) == 1 + len(WEIGHT_FILES)


def test_check_installation_without_a_checkout_says_what_to_set():
    with pytest.raises(LivePortraitNotInstalled, match="liveportrait.checkout is not set"):
        check_installation(LivePortraitConfig())


def test_check_installation_passes_on_a_complete_checkout(cfg):
    check_installation(cfg)


def test_check_installation_flags_empty_and_lfs_pointer_weights_and_a_missing_interpreter(checkout):
    weights = checkout / "pretrained_weights"
    (weights / WEIGHT_FILES[0]).write_bytes(b"")
    (weights / WEIGHT_FILES[1]).write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n")
    with pytest.raises(LivePortraitNotInstalled) as err:
        check_installation(LivePortraitConfig(checkout=str(checkout), python="no-such-python-3.10"))
    text = str(err.value)
    assert f"empty file (0 bytes, an interrupted download?): {weights / WEIGHT_FILES[0]}" in text
    assert f"Git LFS pointer, not the weights (run `git lfs pull` where it was cloned): {weights / WEIGHT_FILES[1]}" \
        in text
    assert "interpreter not found: no-such-python-3.10" in text


def test_weights_elsewhere_must_be_linked_into_the_checkout(tmp_path):
    shared = tmp_path / "store" / "lp_weights"
    checkout = make_checkout(tmp_path / "LivePortrait", weights=shared)
    cfg = LivePortraitConfig(checkout=str(checkout), weights=str(shared), python=sys.executable)
    with pytest.raises(LivePortraitNotInstalled, match="ln -sfn") as err:
        check_installation(cfg)
    assert str(checkout / "pretrained_weights") in str(err.value)
    (checkout / "pretrained_weights").symlink_to(shared, target_is_directory=True)
    check_installation(cfg)


def test_build_command_passes_every_option_explicitly(cfg, tmp_path):
    cmd = build_command(LivePortraitConfig.from_dict({**vars(cfg), "flag_force_cpu": True, "source_max_dim": 1920}),
                        tmp_path / "source.png", tmp_path / "driving.mp4", tmp_path / "out")
    assert cmd[:2] == [sys.executable, str(Path(cfg.checkout) / "inference.py")]
    assert cmd[2:8] == ["-s", str(tmp_path / "source.png"), "-d", str(tmp_path / "driving.mp4"), "-o",
                        str(tmp_path / "out")]
    for flag in ("--flag_relative_motion", "--flag_stitching", "--flag_pasteback", "--flag_do_crop",
                 "--flag_crop_driving_video", "--no_flag_normalize_lip", "--flag_use_half_precision",
                 "--flag_force_cpu"):
        assert flag in cmd
    text = shlex.join(cmd)
    assert "--animation_region lip" in text and "--driving_option expression-friendly" in text
    assert "--driving_smooth_observation_variance 3e-06" in text and "--source_max_dim 1920" in text
    assert "--source_max_dim" not in build_command(cfg, Path("s.png"), Path("d.mp4"), Path("o"))
    # LivePortrait runs in its checkout: a relative interpreter path is made absolute, a bare name left to PATH.
    relative = LivePortraitConfig(checkout=cfg.checkout, python="envs/lp/bin/python")
    assert build_command(relative, Path("s.png"), Path("d.mp4"), Path("o"))[0] == str(Path.cwd() / "envs/lp/bin/python")
    assert build_command(LivePortraitConfig(checkout=cfg.checkout), Path("s"), Path("d"), Path("o"))[0] == "python"


def test_sample_sheet_accepts_liveportrait_and_rejects_unknown_backends(tmp_path):
    shot = {"id": "s1", "actor": "a", "actor_video": "a.mp4", "dubber_video": "d.mp4"}
    (parsed,) = parse_samples({"shots": [{**shot, "virtual_dubber": "liveportrait"}]}, tmp_path)
    assert parsed.virtual_dubber == "liveportrait"
    with pytest.raises(ShotError, match="shot 's1'.*virtual_dubber must be one of"):
        parse_samples({"shots": [{**shot, "virtual_dubber": "live_portrait"}]}, tmp_path)


# --- run_liveportrait end to end against the stand-in ----------------------------------------

@pytest.mark.parametrize("height, width", [(48, 64), (47, 63)])  # odd: LivePortrait rounds to even, vdub scales back
def test_run_gives_the_builtin_layout_and_leaves_nothing_behind(tmp_path, cfg, scratch, record, height, width):
    paths = make_shot(tmp_path / "work" / "s1", height, width)
    before = tree(tmp_path / "work")
    run(paths, cfg, scratch)

    out = load_frames(paths["out"])
    assert out.dtype == np.uint8 and out.shape == (N_FRAMES, height, width, 3)
    # Frame t's mouth carries dubber frame t (the neutral anchor in front was dropped) ...
    assert [nearest_driving_frame(v) for v in mouth_levels(out)] == list(range(N_FRAMES))
    np.testing.assert_allclose(mouth_levels(out), [level(t) for t in range(N_FRAMES)], atol=8)
    # ... and the rest of every frame is the actor's reference frame, not frame 0.
    actor = load_frames(paths["actor"]).astype(float)
    top = slice(0, int(0.45 * height))
    for frame in out:
        assert np.abs(frame[top].astype(float) - actor[REF, top]).mean() < 6
        assert np.abs(frame[top].astype(float) - actor[0, top]).mean() > 25

    seen = json.loads(record.read_text())
    assert seen["cwd"] == str(cfg.checkout)
    assert seen["n_driving"] == N_FRAMES + 1 and nearest_driving_frame(seen["driving_levels"][0]) == NEUTRAL
    assert Path(seen["pkl"]).parent.parent == scratch  # written in the private folder, next to its driving copy
    assert not Path(seen["pkl"]).exists()
    # Only the declared output appeared; the private folder is gone; no .pkl anywhere.
    assert tree(tmp_path / "work") == before | {"s1/virtual_dubber.npy"}
    assert list(scratch.iterdir()) == []
    assert not list(tmp_path.rglob("*.pkl"))


def test_without_anchor_the_driving_video_is_the_dubber_frames(tmp_path, cfg, scratch, record):
    paths = make_shot(tmp_path / "s1")
    cfg.anchor_neutral = False
    run(paths, cfg, scratch)
    assert json.loads(record.read_text())["n_driving"] == N_FRAMES
    assert [nearest_driving_frame(v) for v in mouth_levels(load_frames(paths["out"]))] == list(range(N_FRAMES))


def test_short_result_holds_its_last_frame(tmp_path, cfg, scratch, monkeypatch, caplog):
    paths = make_shot(tmp_path / "s1")
    monkeypatch.setenv("FAKE_LP_MAX_FRAMES", "8")  # the anchor + dubber frames 0..6
    with caplog.at_level(logging.WARNING, logger="vdub.virtual_dubber.liveportrait"):
        run(paths, cfg, scratch)
    out = load_frames(paths["out"])
    assert out.shape[0] == N_FRAMES
    assert [nearest_driving_frame(v) for v in mouth_levels(out[:7])] == list(range(7))
    for t in range(7, N_FRAMES):
        np.testing.assert_array_equal(out[t], out[6])
    assert "returned 7 of 12 frames; the last one is held for the remaining 5" in caplog.text
    assert list(scratch.iterdir()) == []


def test_long_result_is_trimmed(tmp_path, cfg, scratch, monkeypatch):
    paths = make_shot(tmp_path / "s1")
    monkeypatch.setenv("FAKE_LP_EXTRA_FRAMES", "4")
    run(paths, cfg, scratch)
    out = load_frames(paths["out"])
    assert out.shape[0] == N_FRAMES
    assert [nearest_driving_frame(v) for v in mouth_levels(out)] == list(range(N_FRAMES))


def test_failing_liveportrait_names_the_shot_and_leaves_no_output(tmp_path, cfg, scratch, monkeypatch):
    paths = make_shot(tmp_path / "s1")
    monkeypatch.setenv("FAKE_LP_FAIL", "1")
    before = tree(tmp_path / "s1")
    with pytest.raises(ShotError) as err:
        run(paths, cfg, scratch, shot="sc012_take3")
    text = str(err.value)
    assert err.value.shot == "sc012_take3" and text.startswith("shot 'sc012_take3': ")
    assert str(Path(cfg.checkout) / "inference.py") in text
    assert "exited with status 1" in text and "CUDA out of memory (stand-in)" in text
    assert not paths["out"].exists() and tree(tmp_path / "s1") == before
    assert list(scratch.iterdir()) == []


def test_missing_result_is_an_error(tmp_path, cfg, scratch, monkeypatch):
    paths = make_shot(tmp_path / "s1")
    monkeypatch.setenv("FAKE_LP_NO_RESULT", "1")
    with pytest.raises(ShotError, match=r"shot 's1': .*source--driving\.mp4: LivePortrait exited normally but wrote "
                                        r"no result"):
        run(paths, cfg, scratch)
    assert not paths["out"].exists() and list(scratch.iterdir()) == []


def test_missing_installation_is_a_shot_error(tmp_path, scratch):
    paths = make_shot(tmp_path / "s1")
    with pytest.raises(ShotError, match=r"(?s)shot 's1': .*missing file: .*inference\.py"):
        run(paths, LivePortraitConfig(checkout=str(tmp_path / "nowhere"), python=sys.executable), scratch)
    assert not paths["out"].exists()


# --- the command line ------------------------------------------------------------------------

def lp_settings(cfg: LivePortraitConfig) -> dict:
    """The virtual_dubber rule's settings of a LivePortrait shot (vdub.workflow.settings), as a JSON object."""
    from vdub.workflow.settings import LivePortraitDubberSettings

    return json.loads(LivePortraitDubberSettings("liveportrait", cfg).to_json())


def cli_args(paths: dict[str, Path], settings: dict, info: bool = True) -> list[str]:
    args = ["virtual-dubber", "--shot", "s1", "--settings", json.dumps(settings),
            "--actor-frames", str(paths["actor"]), "--actor-mesh", "unused.npz",
            "--dubber-frames", str(paths["dubber"]), "--dubber-mesh", "unused.npz",
            "--reference", str(paths["reference"]), "--out", str(paths["out"])]
    return args + ["--info", str(paths["info"])] if info else args


def test_cli_runs_the_liveportrait_backend(tmp_path, cfg, scratch, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    paths = make_shot(tmp_path / "s1")
    assert cli.main(cli_args(paths, lp_settings(cfg))) == 0
    assert load_frames(paths["out"]).shape == (N_FRAMES, 48, 64, 3)
    assert list(scratch.iterdir()) == []


def test_sigterm_stops_liveportrait_and_removes_the_private_folder(tmp_path, cfg, scratch, record):
    """A job killed by Snakemake or the scheduler (SIGTERM) must not leave LivePortrait on the GPU."""
    import signal
    import subprocess
    import time

    paths = make_shot(tmp_path / "s1")
    env = dict(os.environ, TMPDIR=str(scratch), FAKE_LP_SLEEP="60")
    proc = subprocess.Popen([sys.executable, "-m", "vdub", *cli_args(paths, lp_settings(cfg))], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not record.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert record.exists(), proc.stderr.read().decode() if proc.poll() is not None else "stand-in never started"
        child = json.loads(record.read_text())["pid"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert list(scratch.iterdir()) == [] and not paths["out"].exists()


@pytest.mark.parametrize("extra, info, message", [
    ({}, False, "--info (the ingest info JSON) is required by the liveportrait backend"),
    # The builtin backend's numbers are never sent to a LivePortrait shot: a stray one is a mistake.
    ({"expression_gain": 1.0}, True, "LivePortraitDubberSettings: unknown settings ['expression_gain']"),
    ({"backend": "wav2lip"}, True, "virtual dubber backend 'wav2lip' is unknown (builtin, liveportrait)"),
])
def test_cli_errors(tmp_path, capsys, extra, info, message):
    paths = make_shot(tmp_path / "s1")
    settings = lp_settings(LivePortraitConfig(checkout=str(tmp_path / "LivePortrait"), python=sys.executable))
    assert cli.main(cli_args(paths, {**settings, **extra}, info)) == 2
    err = capsys.readouterr().err
    assert "shot 's1'" in err and message in err


# --- the workflow: selection, early failure, settings per backend ------------------------------

def tiny_video(path: Path) -> str:
    from vdub.media.video import write_video

    write_video((np.full((32, 32, 3), 16 * i, np.uint8) for i in range(5)), path, "25/1")
    return str(path)


def workflow_project(tmp_path: Path, liveportrait: dict | None = None) -> Path:
    from support import make_project

    media = tmp_path / "media"
    media.mkdir()
    actor, dubber = tiny_video(media / "actor.mp4"), tiny_video(media / "dubber.mp4")
    # The tiny takes have no audio track: the dub comes from a file, as the workflow requires.
    audio = media / "dub.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=1", str(audio)],
                   check=True)
    shots = [{"id": "lp_shot", "actor": "a", "actor_video": actor, "dubber_video": dubber, "audio": str(audio),
              "virtual_dubber": "liveportrait"},
             {"id": "builtin_shot", "actor": "a", "actor_video": actor, "dubber_video": dubber, "audio": str(audio)}]
    project = tmp_path / "project"
    make_project(project, shots)
    if liveportrait:
        config = yaml.safe_load((project / "config.yaml").read_text())
        config["liveportrait"].update(liveportrait)
        (project / "config.yaml").write_text(yaml.safe_dump(config))
    return project


def test_dry_run_fails_early_naming_the_shot_without_a_checkout(tmp_path):
    from support import snakemake

    project = workflow_project(tmp_path)
    proc = snakemake(project, "-n", "--cores", "1", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "shot 'lp_shot' uses the liveportrait backend" in text and "liveportrait.checkout is not set" in text
    assert "builtin_shot" not in text
    assert not (project / "work").exists()


def test_dry_run_sends_each_backend_only_its_own_settings(tmp_path):
    from support import snakemake

    checkout = make_checkout(tmp_path / "LivePortrait")
    project = workflow_project(tmp_path, {"checkout": str(checkout), "python": sys.executable})
    proc = snakemake(project, "-n", "-p", "--cores", "1", "work/lp_shot/virtual_dubber.npy",
                     "work/builtin_shot/virtual_dubber.npy")
    commands = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        if "vdub virtual-dubber" in line:
            words = shlex.split(line.split(" 2> ")[0])
            commands[words[words.index("--shot") + 1]] = words
    assert set(commands) == {"lp_shot", "builtin_shot"}
    lp = json.loads(commands["lp_shot"][commands["lp_shot"].index("--settings") + 1])
    builtin = json.loads(commands["builtin_shot"][commands["builtin_shot"].index("--settings") + 1])
    assert set(lp) == {"backend", "liveportrait"} and lp["backend"] == "liveportrait"
    assert LivePortraitConfig.from_dict(lp["liveportrait"]).checkout == str(checkout)
    assert builtin["backend"] == "builtin" and "liveportrait" not in builtin and "smoothing" in builtin
    for words in commands.values():
        assert "--info" in words
    assert os.path.basename(commands["lp_shot"][commands["lp_shot"].index("--info") + 1]) == "info.json"
