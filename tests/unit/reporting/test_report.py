"""The project report and the review files it shows, on a tiny synthetic project (no media, seconds).

* the output contact sheet has the four panels actor | dubber | virtual dubber | output per row;
* the side-by-side preview has the shot's frame count, the actor's exact rate and the audio;
* results/report.html is self-contained (data: URIs or existing relative files, no URL),
  names every shot, prints the project table as the mean over shots, n/a with its
  (escaped) reason for null metrics, and reads metrics.json with and without ``table``;
* rendered by headless Chromium it is a page with tables and images (skipped without it).
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
import wave
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import REPO

from vdub.core.io import save_frames, save_json, save_npz
from vdub.reporting.config import ReportConfig
from vdub.reporting.report import build_report
from vdub.reporting.side_by_side import side_by_side
from vdub.reporting.stages import output_sheet_files
from vdub.reporting.tables import FLAT_MISSING_REASON, format_value, project_table, shot_table

T, FPS = 12, "25/1"
# One flat colour per role, so a sheet's or a preview's panels can be told apart by colour.
COLOURS = {"actor": (200, 30, 30), "dubber": (30, 200, 30), "virtual_dubber": (30, 30, 200), "output": (230, 230, 230)}
SIZES = {"actor": (48, 64), "dubber": (40, 40), "virtual_dubber": (48, 64), "output": (48, 64)}
REASON = "no weights: <alexnet.pth> & friends not found"

TABLE_A = {
    "actor": {"psnr": 100.0, "ssim": 1.0, "lpips": None, "lmd": 0.08, "mouth_corr": -0.2, "flicker": 5.0},
    "composite": {"psnr": 30.0, "ssim": 0.95, "lpips": None, "lmd": 0.04, "mouth_corr": 0.9, "flicker": 4.0},
    "reenact": {"psnr": 26.0, "ssim": 0.90, "lpips": None, "lmd": 0.06, "mouth_corr": 0.5, "flicker": 2.5},
    "output": {"psnr": 24.0, "ssim": 0.88, "lpips": None, "lmd": 0.065, "mouth_corr": 0.4, "flicker": 2.0},
}
TABLE_B = {
    "actor": {"psnr": 100.0, "ssim": 1.0, "lpips": 0.0, "lmd": 0.10, "mouth_corr": 0.1, "flicker": 3.0},
    "composite": {"psnr": 28.0, "ssim": 0.91, "lpips": 0.2, "lmd": 0.05, "mouth_corr": 0.8, "flicker": None},
    "reenact": {"psnr": 25.0, "ssim": 0.85, "lpips": 0.3, "lmd": 0.07, "mouth_corr": 0.3, "flicker": 2.0},
    "output": {"psnr": 25.5, "ssim": 0.86, "lpips": 0.25, "lmd": 0.06, "mouth_corr": 0.35, "flicker": 1.5},
}
FLAT = {"psnr": 22.0, "ssim": 0.8, "head_delta_e": 0.7, "lmd_output_vs_dubber": 0.07, "lmd_actor_vs_dubber": 0.09,
        "lmd_composite_vs_dubber": 0.045, "mouth_corr_output_vs_dubber": 0.3, "mouth_corr_actor_vs_dubber": 0.0,
        "mouth_corr_composite_vs_dubber": 0.95, "flicker_actor": 4.0, "flicker_output": 2.2, "flicker_ratio": 0.55}


QC_A = {"thresholds": {"mouth": 0.1, "identity": 0.5, "jitter": 0.05},
        "ranges": [{"kind": "identity", "start": 20, "end": 34, "frames": 15, "worst": 31, "value": 0.93},
                   {"kind": "faceless", "start": 40, "end": 44, "frames": 5, "worst": 40, "value": None,
                    "actor_face": True}],
        "more": {"mouth": 2}}


def _frames(role: str) -> np.ndarray:
    h, w = SIZES[role]
    frames = np.empty((T, h, w, 3), np.uint8)
    frames[:] = COLOURS[role]
    return frames


def _no_face(path: Path) -> None:
    """A face track without a face (every frame invalid): tiles show the whole frame."""
    save_npz(path, points=np.full((T, 478, 3), np.nan, np.float32), valid=np.zeros(T, bool))


def _wav(path: Path, seconds: float, rate: int = 48000) -> None:
    t = np.arange(int(round(seconds * rate))) / rate
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())


def _shot_files(root: Path, shot: str, metrics: dict) -> dict[str, Path]:
    """A shot's files as the stages leave them (tiny, synthetic); returns the report manifest entry."""
    work, results = root / "work" / shot, root / "results" / shot
    for role in ("actor", "dubber", "virtual_dubber", "output"):
        save_frames(work / f"{role}.npy", _frames(role))
    for role in ("actor", "dubber", "virtual_dubber"):
        _no_face(work / f"{role}_mesh.npz")
    _wav(work / "audio.wav", T / 25)
    save_json(work / "info.json", {"fps": 25.0, "fps_str": FPS, "n_frames": T})
    save_json(results / "metrics.json", {"shot": shot, "frames": T, **metrics})
    # A swapper run scored every 10 steps that its held-out score ended at step 40 (the report's ceiling: 300).
    (work / "swapper_losses.csv").write_text("step,loss_actor,loss_dubber,holdout_psnr,loss_total,seconds\n" + "".join(
        f"{s},{1 / s:.4f},{1.2 / s:.4f},{22 + s / 100 if s % 10 == 0 else 'nan'},{2.2 / s:.4f},{0.5 * s}\n"
        for s in range(1, 41)))
    (work / "sr_losses.csv").write_text("step,loss,l1,edge,seconds\n1,0.08,0.07,0.02,0.9\n2,0.05,0.04,0.02,1.8\n")
    save_json(work / "holdout.json", {"frames": [3, 7], "downscaled_actor": {"psnr_sr": 28.0, "psnr_bicubic": 27.5}})
    save_json(work / "qa.json", {"jitter": {"actor": {"raw_px": 3.0, "smoothed_px": 0.8}}, "residual_iod_median": 0.01,
                                 "frames_without_face": {"actor": [], "dubber": [4]}})
    cv2.imwrite(str(work / "qa.png"), np.full((30, 40, 3), 128, np.uint8))
    cv2.imwrite(str(results / "virtual_dubber_sheet.png"), np.full((30, 90, 3), 90, np.uint8))
    (results / "dubbed.mp4").write_bytes(b"not really a video")
    return {"metrics": results / "metrics.json", "dubbed": results / "dubbed.mp4",
            "side_by_side": results / "side_by_side.mp4", "output_sheet": results / "output_sheet.png",
            "vd_sheet": results / "virtual_dubber_sheet.png", "qa": work / "qa.json", "qa_plot": work / "qa.png",
            "holdout": work / "holdout.json", "swapper_losses": work / "swapper_losses.csv",
            "sr_losses": work / "sr_losses.csv"}


def _make_sheet_and_preview(shot: str, files: dict[str, Path], **preview) -> None:
    work = files["qa"].parent
    output_sheet_files(shot, work / "actor.npy", work / "actor_mesh.npz", work / "dubber.npy", work / "dubber_mesh.npz",
                       work / "virtual_dubber.npy", work / "virtual_dubber_mesh.npz", work / "output.npy",
                       files["output_sheet"], count=4)
    side_by_side(shot, [(p, work / f"{p}.npy") for p in ("actor", "virtual_dubber", "output")], work / "audio.wav",
                 work / "info.json", files["side_by_side"], **preview)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Three shots: two with the metric table (one with an unavailable metric), one older flat metrics.json."""
    root = tmp_path_factory.mktemp("project")
    manifest = {
        "shot_a": _shot_files(root, "shot_a", {"table": TABLE_A, "unavailable": {"lpips": REASON},
                                               "psnr_outside_head": 100.0, "qc": QC_A}),
        "shot_b": _shot_files(root, "shot_b", {"table": TABLE_B, "unavailable": {}, "faceless_frames_unchanged": True,
                                               "frames_without_face": [7, 8, 9, 12]}),
        "shot.old-1": _shot_files(root, "shot.old-1", FLAT),
    }
    manifest["shot_a"]["qc_thumbnails"] = root / "work" / "shot_a" / "qc_thumbnails.npz"
    save_npz(manifest["shot_a"]["qc_thumbnails"], thumbnails=np.stack(
        [np.full((16, 48, 3), (200, 30, 30), np.uint8), np.full((16, 48, 3), (30, 30, 200), np.uint8)]))
    for shot, files in manifest.items():
        _make_sheet_and_preview(shot, files)
    html = build_report(manifest, root / "results" / "report.html", ReportConfig(), preset="preview",
                        preset_settings={"crop_size": 64})
    return root, manifest, html


class _Sources(HTMLParser):
    """Every src/href in a page, and the text of every n/a cell's title."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.na_titles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("img", "video", "source") and a.get("src") is not None:
            self.sources.append((tag, a["src"]))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "td" and "na" in (a.get("class") or "").split():
            self.na_titles.append(a.get("title") or "")


def test_output_sheet_has_four_panels_per_row(project):
    root, manifest, _ = project
    sheet = cv2.cvtColor(cv2.imread(str(manifest["shot_a"]["output_sheet"])), cv2.COLOR_BGR2RGB)
    rows = 4  # count=4 over 12 frames: 3 spread + the widest mouth, which is undefined without a face
    tile = 200  # the sheet's tile height
    assert sheet.shape[0] in ((tile + 2) * (rows - 1), (tile + 2) * rows)
    for r in range(sheet.shape[0] // (tile + 2)):
        line = sheet[r * (tile + 2) + tile // 2].astype(int)  # a pixel row below the label bar
        runs = [tuple(line[0])]
        for pixel in map(tuple, line[1:]):
            if pixel != runs[-1]:
                runs.append(pixel)
        expected = [COLOURS[role] for role in ("actor", "dubber", "virtual_dubber", "output")]
        assert [tuple(c) for c in runs[:4]] == expected, runs
        # Each panel resized to the common height, aspect ratio kept: 64x48 -> 267 wide, 40x40 -> 200.
        widths = [np.count_nonzero((line == c).all(axis=1)) for c in expected]
        assert widths == [267, 200, 267, 267], widths


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_type,width,height,r_frame_rate,nb_read_frames,duration", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def test_side_by_side_has_the_shots_frames_rate_and_audio(project, tmp_path):
    root, manifest, _ = project
    streams = _probe(manifest["shot_a"]["side_by_side"])
    video = streams["video"]
    assert int(video["nb_read_frames"]) == T and video["r_frame_rate"] == FPS
    assert (video["height"], video["width"]) == (48, 3 * 64)  # actor height under the cap, three panels
    assert "audio" in streams and float(streams["audio"]["duration"]) == pytest.approx(T / 25, abs=0.05)
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(manifest["shot_a"]["side_by_side"]), "-frames:v",
                              "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frame = np.frombuffer(decoded, np.uint8).reshape(48, 192, 3).astype(int)
    for i, role in enumerate(("actor", "virtual_dubber", "output")):  # panels in order, below the label bar
        assert np.abs(frame[32, 64 * i + 32] - COLOURS[role]).max() < 12, (role, frame[32, 64 * i + 32])

    # The height cap: panels scaled down to an even height, every panel width even.
    work = manifest["shot_a"]["qa"].parent
    out = tmp_path / "capped.mp4"
    side_by_side("shot_a", [("actor", work / "actor.npy"), ("dubber", work / "dubber.npy")], None,
                 work / "info.json", out, max_height=31)
    video = _probe(out)["video"]
    assert (video["height"], video["width"]) == (30, 40 + 30) and "audio" not in _probe(out)


def test_shot_table_reads_the_table_and_the_flat_keys():
    table, unavailable = shot_table({"table": TABLE_A, "unavailable": {"lpips": REASON}})
    assert table["output"]["psnr"] == 24.0 and table["output"]["lpips"] is None and unavailable == {"lpips": REASON}
    table, unavailable = shot_table(FLAT)
    assert list(table) == ["actor", "composite", "reenact", "output"]
    assert table["output"]["lmd"] == 0.07 and table["composite"]["mouth_corr"] == 0.95
    assert table["actor"]["flicker"] == 4.0 and table["output"]["psnr"] == 22.0
    assert table["reenact"]["lmd"] is None and table["composite"]["psnr"] is None
    assert unavailable["lpips"] == FLAT_MISSING_REASON and "lmd" not in unavailable
    nan = shot_table({"table": {"output": {"psnr": float("nan")}}})[0]
    assert nan["output"]["psnr"] is None


def test_project_table_is_the_mean_over_shots_with_a_value():
    tables = [TABLE_A, TABLE_B, shot_table(FLAT)[0]]
    project = project_table(tables)
    for variant in TABLE_A:
        for metric in TABLE_A[variant]:
            values = [t[variant].get(metric) for t in tables if t[variant].get(metric) is not None]
            mean, count = project[variant][metric]
            assert count == len(values)
            assert (mean is None) if not values else math.isclose(mean, float(np.mean(values))), (variant, metric)
    assert project["output"]["psnr"] == (pytest.approx((24.0 + 25.5 + 22.0) / 3), 3)
    assert project["output"]["lpips"] == (0.25, 1) and project["reenact"]["mouth_corr"][1] == 2


def test_report_is_self_contained_and_shows_every_shot(project):
    root, manifest, html = project
    out_dir = root / "results"
    assert (out_dir / "report.html").read_text(encoding="utf-8") == html
    for shot in manifest:
        assert f'id="shot-{shot}"' in html and f'href="#shot-{shot}"' in html
    parser = _Sources()
    parser.feed(html)
    tags = [tag for tag, _ in parser.sources]
    # Sheet, loss curves, QA plot, VD sheet; shot_a's two QC thumbnails.
    assert tags.count("video") == 3 and tags.count("img") == 3 * 4 + 2
    for tag, src in parser.sources:
        assert src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,", "data:video/mp4;base64,")) or \
            (out_dir / src).is_file(), (tag, src[:80])
    for href in parser.links:
        assert href.startswith("#") or (out_dir / href).is_file(), href
    assert "http://" not in html and "https://" not in html and "<script" not in html.lower()
    assert "preset <b>preview</b>" in html and "Generated " in html


def test_report_project_table_and_na_reasons(project):
    _, manifest, html = project
    project_html = html[html.index('id="project"'):html.index('id="shot-shot_a"')]
    tables = [TABLE_A, TABLE_B, shot_table(FLAT)[0]]
    for variant, metric in (("output", "psnr"), ("output", "lmd"), ("reenact", "ssim"), ("actor", "flicker")):
        mean = project_table(tables)[variant][metric][0]
        assert f">{format_value(metric, mean)}<" in project_html, (variant, metric, format_value(metric, mean))
    assert "2 of 3 shots" in project_html  # reenact rows: the flat metrics.json has none
    # A null metric shows n/a with its reason, escaped, as tooltip and footnote.
    escaped = "no weights: &lt;alexnet.pth&gt; &amp; friends not found"
    assert escaped in html and REASON not in html
    parser = _Sources()
    parser.feed(html[html.index('id="shot-shot_a"'):html.index('id="shot-shot_b"')])
    assert parser.na_titles.count(REASON) == 4  # lpips of every variant of shot_a (the parser unescapes)
    assert FLAT_MISSING_REASON in html  # the older metrics.json: metrics it never computed


def test_qc_ranges_are_listed_with_their_worst_frame(project):
    _, _, html = project
    shot_a = html[html.index('id="shot-shot_a"'):html.index('id="shot-shot_b"')]
    qc = shot_a[shot_a.index("QC: frames to look at"):shot_a.index("Side-by-side preview")]
    assert "<td>identity drifts</td><td>20-34</td><td>31 (dlib distance 0.930)</td>" in qc
    assert "<td>no face in the output (lost: the actor has one)</td><td>40-44</td><td>40</td>" in qc
    assert qc.count('src="data:image/jpeg;base64,') == 2 and "Not listed: 2 more mouth disagrees" in qc
    assert "opening error ≥ 0.1, dlib distance ≥ 0.5" in qc  # the thresholds it used
    shot_b = html[html.index('id="shot-shot_b"'):html.index('id="shot-shot.old-1"')]
    assert "QC ranges (metrics.json from before QC: re-run evaluate): not available" in shot_b


def test_frames_without_a_face_are_listed(project):
    _, _, html = project
    shot_b = html[html.index('id="shot-shot_b"'):html.index('id="shot-shot.old-1"')]
    assert "passed through and left out of the metrics: 7-9, 12 (unchanged in the output)" in shot_b
    assert "dubber: 1 frames without a face (4)" in shot_b  # from the geometry QA


def test_large_videos_are_linked_and_missing_files_reported(project, tmp_path):
    root, manifest, _ = project
    out = root / "results" / "linked.html"
    partial = {"shot_a": manifest["shot_a"], "shot_x": {"metrics": tmp_path / "absent.json"}}
    html = build_report(partial, out, ReportConfig(embed_video_mb=0, sheet_jpeg_quality=0))
    parser = _Sources()
    parser.feed(html)
    videos = [src for tag, src in parser.sources if tag == "video"]
    assert videos == ["shot_a/side_by_side.mp4"] and (out.parent / videos[0]).is_file()
    assert all(src.startswith("data:image/png;base64,") for tag, src in parser.sources if tag == "img")
    assert 'id="shot-shot_x"' in html and "metrics.json: not available" in html


def test_report_command_line(project, tmp_path, capsys):
    from vdub.cli.main import main
    from vdub.workflow.settings import ReportSettings

    root, manifest, _ = project
    settings = ReportSettings(ReportConfig(embed_video_mb=1), "paper", {}, {"swapper_losses": 300}).to_json()
    out = tmp_path / "report.html"
    # As the workflow calls it: path templates and SHOT=ACTOR pairs (one short argument per shot).
    layout = {k: str(v).replace("shot_b", "{shot}") for k, v in manifest["shot_b"].items()}
    actor_losses = tmp_path / "actors" / "anna" / "losses.csv"
    actor_losses.parent.mkdir(parents=True)
    shutil.copy(manifest["shot_b"]["swapper_losses"], actor_losses)
    layout["actor_losses"] = str(tmp_path / "actors" / "{actor}" / "losses.csv")
    assert main(["report", "--settings", settings,
                 "--layout", json.dumps(layout), "--shots", "shot_b=anna", "shot_a=anna", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "preset <b>paper</b>" in html and html.index('id="shot-shot_b"') < html.index('id="shot-shot_a"')
    # The actor's model's losses ({actor} filled in) are a third panel of the loss curves: 3 x 5 in at 90 dpi.
    uri = re.search(r'src="data:image/png;base64,([^"]+)" alt="shot_b loss curves"', html)
    assert uri is not None
    plot = cv2.imdecode(np.frombuffer(base64.b64decode(uri.group(1)), np.uint8), cv2.IMREAD_COLOR)
    assert plot.shape[1] == 3 * 5 * 90, plot.shape
    # By hand: a manifest file.
    (tmp_path / "manifest.json").write_text(json.dumps({"shot_a": {k: str(v) for k, v in manifest["shot_a"].items()}}))
    assert main(["report", "--settings", settings, "--manifest", str(tmp_path / "manifest.json"),
                 "--out", str(out)]) == 0
    assert 'id="shot-shot_a"' in out.read_text(encoding="utf-8")
    # Settings that are not the report's: a one-line error, no report.
    out.unlink()
    typo = json.loads(settings)
    typo["report"]["embed_video"] = typo["report"].pop("embed_video_mb")
    assert main(["report", "--settings", json.dumps(typo), "--manifest", str(tmp_path / "manifest.json"),
                 "--out", str(out)]) == 2
    assert "--settings: report: ReportConfig settings ['embed_video_mb'] missing and ['embed_video'] unknown" \
        in capsys.readouterr().err
    assert not out.exists()


def test_workflow_schedules_the_report_rules(tmp_path):
    """Dry run on the embedded demo's sheet (its clips are made by a rule: no media needed)."""
    import os
    import shlex
    import sys

    import yaml

    from vdub.cli.main import build_parser

    repo = REPO
    shutil.copy(repo / "samples.yaml", tmp_path / "samples.yaml")
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config.update(samples=str(tmp_path / "samples.yaml"), warm_start=True)
    config["report"]["preview_panels"] = ["dubber", "output"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(tmp_path / "config.yaml"), "-n", "-p", "--cores", "2"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    commands = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        line = line.removeprefix("Shell command: ")
        if line.startswith("python -m vdub "):
            argv = shlex.split(line.split(" 2> ")[0])[3:]
            commands[argv[0]] = build_parser().parse_args(argv)  # the rule's command line parses
    assert {"output-sheet", "side-by-side", "report"} <= set(commands), sorted(commands)
    assert commands["side-by-side"].panel == [("dubber", Path("work/demo/ingest/dubber.npy")),
                                              ("output", Path("work/demo/sr/frames.npy"))]
    report = commands["report"]
    assert report.shots == [("demo", "astronaut")]
    assert report.layout["actor_losses"] == "work/actors/{actor}/swapper/losses.csv"  # warm start: the actor's curve
    assert report.layout["metrics"] == "results/{shot}/metrics.json"


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if (path := shutil.which(name))), None)


@pytest.mark.skipif(_chromium() is None, reason="no chromium/google-chrome binary on PATH "
                    "(Debian: apt-get install chromium) to render the report headless")
def test_report_renders_in_headless_chromium(project, tmp_path):
    root, _, _ = project
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1280,2000", (root / "results" / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    image = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    assert image.shape[:2] == (2000, 1280)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # text, tables, images: not a blank page
    # The metric tables' header background (#dde6f0) covers a good part of the first screen.
    header = (np.abs(image.astype(int) - (0xDD, 0xE6, 0xF0)).max(axis=2) <= 2)
    assert header.sum() > 20000, header.sum()
    rows = np.flatnonzero(header.sum(axis=1) > 300)
    assert len(rows) and rows[0] < 1000, "no table header in the first screen"
    # The embedded contact sheet is drawn: a block of the actor tiles' red (JPEG: within a few levels).
    red = (np.abs(image.astype(int) - COLOURS["actor"]).max(axis=2) <= 12)
    assert red.sum() > 20000, red.sum()
