"""What the tests share besides fixtures: where the checkout and the shared clips are, decoding a clip,
comparing images that went through float arithmetic, and making and running project folders. On
sys.path through pyproject's pytest ``pythonpath``, so tests in any folder import it as ``support``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"

needs_media = pytest.mark.skipif(not MEDIA.is_dir(), reason=f"shared clips not found at {MEDIA}")

REAL_CLIPS = ("actor_woman_bluewall.mp4", "actor_glasses_man.mp4", "actor_woman_studio.mp4",
              "dubber_man_office.mp4", "dubber_woman_plain.mp4")


def decode(name: str, n_frames: int) -> np.ndarray:
    """The first ``n_frames`` of a shared clip, RGB in display geometry: T x H x W x 3."""
    from vdub.media.video import probe_video, read_frames

    info = probe_video(MEDIA / name)
    return np.stack(list(read_frames(info, max_frames=n_frames)))


def assert_same_image(actual: np.ndarray, expected: np.ndarray, max_share: float = 1e-3) -> None:
    """uint8 images that two float computations made equal up to the final rounding.

    Two routes to the same float result (another batch size, another kernel, another CPU) may
    differ in the last bits, which flips a value lying at .5 to the next grey level: no value may
    be off by more than one level, and at most ``max_share`` of them by one (one pixel of 49,152
    was seen on another machine).
    """
    assert actual.shape == expected.shape and actual.dtype == expected.dtype == np.uint8
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1, f"values differ by up to {diff.max()} grey levels"
    assert (diff > 0).mean() <= max_share, f"{(diff > 0).mean():.2%} of the values differ by one level"


def shipped_settings(stage: str) -> str:
    """A stage's ``--settings`` as a rule passes them with the checkout's own config.yaml (for tests that run a
    stage's command directly, as Snakemake would)."""
    from vdub.workflow.settings import stage_settings

    return stage_settings(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), stage).to_json()


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the project's Snakefile in ``workdir`` with the venv's tools on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(workdir / "config.yaml"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def make_project(workdir: Path, shots: list[dict], warm_start: bool | str = False, pretrain_faces: str | None = None,
                 **ingest) -> None:
    """A project folder with its own samples.yaml and config.yaml (preview preset)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "samples.yaml").write_text(yaml.safe_dump({"shots": shots}))
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["samples"] = str(workdir / "samples.yaml")
    config["warm_start"] = warm_start
    config["pretrain_faces"] = pretrain_faces
    config["ingest"].update(ingest)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def plumbing_numbers(config: dict, iterations: int = 5) -> dict:
    """``config`` (a whole config.yaml) with the preview preset's training cut to ``iterations`` steps.

    For tests that check what a run delivers (files, frames, jobs), not how good its picture is: the
    picture is checked once, at the preset's own numbers, on the shared trained project
    (tests/conftest.py).
    """
    preview = config["presets"]["preview"]
    preview["train"].update(iterations=iterations, warmup=0, bn_recalibration=1, log_every=iterations)
    preview["warm_start"].update(actor_iterations=iterations, finetune_iterations=iterations)
    preview["pretrain"].update(iterations=iterations)
    preview["sr"].update(iterations=iterations)
    return config


#: Snakemake's arguments for a plumbing run (:func:`plumbing_numbers`) of several shots. The rules that ask
#: for 2 threads (training, reenactment, evaluation) spend a run of a few steps mostly starting up on one
#: core, and with 2 threads each they ran one at a time: 241 of the editorial test's 313 s had one job running.
PLUMBING_RUN = ("--cores", "2", "--max-threads", "1")


def write_stand_in_perceptual_weights(folder: Path) -> tuple[Path, Path]:
    """LPIPS's AlexNet and FID's Inception weights in the upstream files' layout and names, with seeded
    random values: ``(alexnet file, inception file)`` in ``folder``.

    torchvision's AlexNet state dict is what lpips reads its backbone from; pytorch-fid's Inception state
    dict is what FID reads. Real weights cannot be downloaded here, so these stand-ins drive the real
    loading and computing code end to end; the values they give are not the published metrics'.
    """
    import torch
    import torchvision

    from vdub.evaluation import perceptual
    from vdub.evaluation.shot import FID_FILE, LPIPS_FILE

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), folder / LPIPS_FILE)
    net = perceptual._fid_inception_architecture()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")  # keeps features O(1)
    torch.save(net.state_dict(), folder / FID_FILE)
    return folder / LPIPS_FILE, folder / FID_FILE


def job_counts(out: str) -> dict[str, int]:
    """Jobs per rule from the table of a dry run's ``--quiet rules`` output."""
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def corrupt_copy(src: Path, dst: Path) -> None:
    """``src`` with its media data overwritten by noise: the header (moov) still probes as a
    video with audio, but nothing decodes."""
    data = bytearray(src.read_bytes())
    pos = 0
    while pos < len(data):  # top-level MP4 boxes: 4-byte size, 4-byte type
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), bytes(data[pos + 4:pos + 8])
        if kind == b"mdat":
            data[pos + 16:pos + size] = np.random.default_rng(0).integers(0, 256, size - 16, np.uint8).tobytes()
            break
        pos += size
    else:
        raise AssertionError(f"no mdat box in {src}")
    dst.write_bytes(bytes(data))


#: The test reel: (clip, first frame, frames) per shot, cut together at 30 fps, 480x480, in this order.
#: The second shot is a faceless passage (a corner of woman_bluewall's wall).
REEL_SHOTS = (("actor_glasses_man.mp4", 0, 45), ("actor_woman_bluewall.mp4", 0, 30),
              ("actor_woman_studio.mp4", 100, 40), ("actor_woman_bluewall.mp4", 60, 45),
              ("actor_glasses_man.mp4", 300, 40))
REEL_TIMECODE = "01:00:00:00"


def make_reel(path: Path) -> list[tuple[int, int]]:
    """A reel cut from the shared clips (:data:`REEL_SHOTS`), H.264 with timecode :data:`REEL_TIMECODE`.

    Returns each shot's frame range ``(start, end)`` in the reel.
    """
    parts, ranges, start = [], [], 0
    for k, (clip, first, n) in enumerate(REEL_SHOTS):
        crop = "crop=160:160:0:0," if k == 1 else ""  # the wall beside the actor: no face
        parts.append(f"[{k}:v]trim=start_frame={first}:end_frame={first + n},setpts=PTS-STARTPTS,{crop}"
                     f"scale=480:480,setsar=1,fps=30[v{k}]")
        ranges.append((start, start + n))
        start += n
    graph = ";".join(parts) + ";" + "".join(f"[v{k}]" for k in range(len(parts))) + \
        f"concat=n={len(parts)}:v=1:a=0[out]"
    inputs = [arg for clip, _, _ in REEL_SHOTS for arg in ("-i", str(MEDIA / clip))]
    subprocess.run(["ffmpeg", "-v", "error", *inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264",
                    "-crf", "14", "-pix_fmt", "yuv420p", "-timecode", REEL_TIMECODE, str(path)], check=True)
    return ranges


#: The shared trained project (tests/conftest.py, ``trained_project``): one shot of the first 2.5 s of
#: actor_woman_bluewall.mp4, with this timecode, driven by dubber_man_office.mp4 (30 vs 25 fps).
TRAINED_SHOT = "bluewall_office"
TRAINED_FRAMES = 75
TRAINED_TIMECODE = "01:00:10:00"


def real_shot(shot_id: str) -> dict:
    """A sample-sheet entry of the shared pair: woman_bluewall driven by dubber_man_office."""
    return {"id": shot_id, "actor": "woman_bluewall", "actor_video": str(MEDIA / "actor_woman_bluewall.mp4"),
            "dubber_video": str(MEDIA / "dubber_man_office.mp4")}


def copy_project(project: Path, to: Path) -> Path:
    """A copy of ``project`` that Snakemake sees as up to date (copy2 keeps mtimes), with its own sample sheet."""
    shutil.copytree(project, to, symlinks=True)
    config = yaml.safe_load((to / "config.yaml").read_text())
    config["samples"] = str(to / "samples.yaml")
    (to / "config.yaml").write_text(yaml.safe_dump(config))
    return to


#: Learned-quality checks with their margins, printed at the end of the run (tests/conftest.py).
MARGINS: list[str] = []


def assert_margin(what: str, value: float, op: str, bound: float) -> None:
    """Assert ``value <op> bound`` for a learned-quality figure and record the margin for the run's summary.

    A learned result passes or fails by how far it is from its bound; the summary shows how close each
    came, so a bound that is about to be crossed is seen before it is.
    """
    ops = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}
    line = f"{what}: {value:.4g} {op} {bound:.4g} (margin {abs(value - bound):.3g})"
    MARGINS.append(line)
    assert ops[op](float(value), float(bound)), line


#: The two-shot (tests/integration/test_actor_face.py): two shared clips side by side, each scaled to 480x480
#: (actor_glasses_man.mp4's 512x480 at SAR 15:16 is 480x480 on screen), 30 fps: (clip, first frame) per side.
TWO_SHOT = (("actor_woman_bluewall.mp4", 0), ("actor_glasses_man.mp4", 0))
TWO_SHOT_FRAMES = 60
#: Stills of each actor: frames of their clip well outside the two-shot's frames [0, 60).
TWO_SHOT_STILLS = {"actor_woman_bluewall.mp4": 150, "actor_glasses_man.mp4": 300}


def make_two_shot(path: Path, swap_at: int | None = None, n_frames: int = TWO_SHOT_FRAMES) -> None:
    """:data:`TWO_SHOT` side by side (960x480, 30 fps, H.264, ``n_frames`` frames), written to ``path``.

    swap_at: a cut at this frame after which the two people have swapped sides (each clip runs on
    without a jump in its own time), else the first clip stays on the left throughout.
    """
    sides = []
    for k, (clip, first) in enumerate(TWO_SHOT):
        sides.append(f"[{k}:v]trim=start_frame={first}:end_frame={first + n_frames},setpts=PTS-STARTPTS,"
                     f"scale=480:480,setsar=1,fps=30")
    if swap_at is None:
        graph = f"{sides[0]}[a];{sides[1]}[b];[a][b]hstack=inputs=2[out]"
    else:
        # each side split at the cut: before it woman | man, after it man | woman
        cut = "trim=start_frame={}:end_frame={},setpts=PTS-STARTPTS"
        graph = ";".join([
            f"{sides[0]},split[a0][a1]", f"{sides[1]},split[b0][b1]",
            f"[a0]{cut.format(0, swap_at)}[a_head]", f"[a1]{cut.format(swap_at, n_frames)}[a_tail]",
            f"[b0]{cut.format(0, swap_at)}[b_head]", f"[b1]{cut.format(swap_at, n_frames)}[b_tail]",
            "[a_head][b_head]hstack=inputs=2[head]", "[b_tail][a_tail]hstack=inputs=2[tail]",
            "[head][tail]concat=n=2:v=1:a=0[out]"])
    inputs = [arg for clip, _ in TWO_SHOT for arg in ("-i", str(MEDIA / clip))]
    subprocess.run(["ffmpeg", "-v", "error", *inputs, "-filter_complex", graph, "-map", "[out]", "-frames:v",
                    str(n_frames), "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(path)], check=True)


def make_still(path: Path, clip: str, frame: int, size: int = 480) -> None:
    """Frame ``frame`` of a shared clip as a PNG still, ``size`` x ``size`` in display geometry."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(MEDIA / clip), "-vf",
                    f"select=eq(n\\,{frame}),scale={size}:{size},setsar=1", "-frames:v", "1", str(path)], check=True)
