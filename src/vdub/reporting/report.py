"""The project report: one self-contained HTML page a supervisor opens in a browser.

``results/report.html`` holds, for the project and for every shot, the metric table
(variants ``actor``, ``composite``, ``reenact``, ``output`` against the metrics of
:mod:`vdub.evaluation.shot`), the QC ranges with their worst frames, the training loss
curves, the SR held-out score, the geometry QA plot, the contact sheets and the
side-by-side preview video. Images are embedded as base64 ``data:`` URIs and small videos
too, so the file can be mailed or archived alone; larger videos are linked by a path
relative to the report. No script, no external URL:
it renders offline, in any browser.

The page is built only from the stages' files (listed per shot in a manifest), never
from Snakemake, so ``python -m vdub report`` rebuilds it by hand.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from vdub.core.io import atomic_path, load_json
from vdub.reporting.config import ReportConfig
from vdub.reporting.embed import data_uri, image_uri
from vdub.reporting.losses import loss_plot, read_losses
from vdub.reporting.tables import (
    METRICS,
    SELF_REENACTMENT_VARIANTS,
    VARIANTS,
    Table,
    finite_number,
    format_value,
    ordered_keys,
    project_table,
    shot_table,
)

log = logging.getLogger(__name__)


#: Scalars of metrics.json shown under a shot's table, with their labels.
SHOT_FACTS = {
    "frames": "frames",
    "frames_with_face_output": "frames with a face in the output",
    "psnr_outside_head": "output PSNR outside the head (dB; 100 = untouched)",
    "flicker_ratio": "flicker, output / actor",
}

#: Loss curves of a shot: manifest key -> plot title.
LOSS_CURVES = {
    "actor_losses": "per-actor model (warm start)",
    "swapper_losses": "identity swapper",
    "sr_losses": "super-resolution",
}


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;
padding:0 24px 48px;color:#1d2127;background:#fff;line-height:1.4}
header{border-bottom:2px solid #2c5d8f;margin-bottom:16px}
h1{margin:20px 0 4px;font-size:26px}h2{margin-top:36px;border-bottom:1px solid #ccd;padding-bottom:4px}
h3{margin:22px 0 8px;font-size:16px;color:#2c5d8f}
.meta{color:#555;font-size:14px;margin:4px 0 12px}
nav ol{columns:2;font-size:14px}
table.metrics{border-collapse:collapse;font-size:14px;margin:8px 0}
table.metrics th,table.metrics td{border:1px solid #b9c3cf;padding:4px 9px;text-align:right}
table.metrics th{background:#dde6f0;font-weight:600}
table.metrics td.rowname,table.metrics th.rowname{text-align:left}
table.metrics td.best{font-weight:700;background:#e4f3e1}
table.qc{border-collapse:collapse;font-size:14px;margin:8px 0}
table.qc th,table.qc td{border:1px solid #b9c3cf;padding:4px 9px;text-align:left;vertical-align:middle}
table.qc th{background:#dde6f0;font-weight:600}
td.na{color:#8a8f96;font-style:italic}
.hint{display:block;font-weight:400;font-size:11px;color:#4b5563}
.count{display:block;color:#777;font-size:11px;white-space:nowrap}
ol.notes,ul.facts{font-size:13px;color:#444}
img.figure{max-width:100%;border:1px solid #dde;display:block;margin:6px 0}
video{max-width:100%;background:#000;display:block;margin:6px 0}
.missing{color:#a33;font-style:italic}
pre{background:#f5f7fa;padding:8px;font-size:12px;overflow:auto}
"""


def _header_cell(metric: str) -> str:
    info = METRICS.get(metric)
    if info is None:
        return f'<th>{escape(metric)}</th>'
    arrow = {"higher": "&uarr; higher is better", "lower": "&darr; lower is better"}.get(info.better, "")
    unit = f" ({escape(info.unit)})" if info.unit else ""
    return (f'<th title="{escape(info.description)}">{escape(info.title)}{unit}'
            f'<span class="hint">{arrow}</span></th>')


def _best_variants(values: Mapping[str, float | None], metric: str) -> set[str]:
    """The variant(s) with the best value among the edited ones (the actor is the reference, not a candidate)."""
    info = METRICS.get(metric)
    candidates = {v: x for v, x in values.items() if v != "actor" and x is not None}
    if info is None or not info.better or len(candidates) < 2:
        return set()
    best = (max if info.better == "higher" else min)(candidates.values())
    return {v for v, x in candidates.items() if x == best}


def metric_table_html(cells: Mapping[str, Mapping[str, tuple[float | None, int | None]]],
                      unavailable: Mapping[str, str], shots: int | None = None, anchor: str = "table") -> str:
    """A metric table: rows = variants, columns = metrics, with footnotes for the n/a cells.

    cells: ``{variant: {metric: (value or None, shots averaged or None)}}``; with ``shots``
    given (the project table) a cell averaged over fewer shots says so. unavailable: metric
    -> why it is null, shown as the cell's tooltip and a numbered footnote. anchor: prefix
    of the footnotes' ids (unique in the page).
    """
    prefix = escape(anchor)
    variants = ordered_keys(list(cells), VARIANTS)
    metrics = ordered_keys([m for row in cells.values() for m in row], METRICS)
    notes: dict[str, int] = {}
    for m in metrics:
        if m in unavailable and any(cells[v].get(m, (None, 0))[0] is None for v in variants):
            notes[m] = len(notes) + 1
    rows = []
    for v in variants:
        tds = [f'<td class="rowname" title="{escape(VARIANTS.get(v, ""))}"><b>{escape(v)}</b></td>']
        for m in metrics:
            best = _best_variants({u: cells[u].get(m, (None, 0))[0] for u in variants}, m)
            value, count = cells[v].get(m, (None, 0))
            if value is None:
                reason = unavailable.get(m, "not computed for this variant")
                mark = f'<sup><a href="#{prefix}-note-{notes[m]}">{notes[m]}</a></sup>' if m in notes else ""
                tds.append(f'<td class="na" title="{escape(reason)}">n/a{mark}</td>')
                continue
            partial = (f'<span class="count">{count} of {shots} shots</span>'
                       if shots is not None and count is not None and count < shots else "")
            css = ' class="best"' if v in best else ""
            tds.append(f"<td{css}>{format_value(m, value)}{partial}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    head = '<tr><th class="rowname">variant</th>' + "".join(_header_cell(m) for m in metrics) + "</tr>"
    html_notes = ""
    if notes:
        items = "".join(f'<li id="{prefix}-note-{n}"><b>{escape(m)}</b> n/a: {escape(unavailable[m])}</li>'
                        for m, n in notes.items())
        html_notes = f'<ol class="notes">{items}</ol>'
    return f'<table class="metrics"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>{html_notes}'


def _img(uri: str, alt: str) -> str:
    return f'<img class="figure" src="{uri}" alt="{escape(alt)}">'


def _missing(what: str) -> str:
    return f'<p class="missing">{escape(what)}: not available</p>'


def _relative(path: Path, out_dir: Path) -> str:
    """A link from the report to ``path``: relative, with forward slashes, each part URL-safe."""
    from urllib.parse import quote

    return "/".join(quote(part) for part in Path(os.path.relpath(path, out_dir)).parts)


def _video_html(path: Path, out_dir: Path, cap_mb: float, label: str) -> str:
    size = path.stat().st_size
    # An embedded video is in the page already: "auto" shows its first frame instead of black.
    if size <= cap_mb * 1e6:
        src, how, preload = data_uri(path.read_bytes(), "video/mp4"), f"embedded, {size / 1e6:.1f} MB", "auto"
    else:
        src, how, preload = (_relative(path, out_dir), f"linked: {size / 1e6:.1f} MB is over the {cap_mb:g} MB "
                             "embed cap", "metadata")
    return (f'<video controls preload="{preload}" src="{escape(src)}" title="{escape(label)}"></video>'
            f'<p class="meta">{escape(label)} ({escape(how)})</p>')


def _holdout_html(holdout: Mapping[str, Any]) -> str:
    rows = []
    for name, scores in holdout.items():
        if not isinstance(scores, Mapping) or "psnr_sr" not in scores:
            continue
        sr, bicubic = finite_number(scores.get("psnr_sr")), finite_number(scores.get("psnr_bicubic"))
        gain = sr - bicubic if sr is not None and bicubic is not None else None
        rows.append(f'<tr><td class="rowname">{escape(name.replace("_", " "))}</td>'
                    f"<td>{format_value('psnr', sr)}</td><td>{format_value('psnr', bicubic)}</td>"
                    f"<td{' class=best' if gain is not None and gain > 0 else ''}>"
                    f"{'n/a' if gain is None else f'{gain:+.2f}'}</td></tr>")
    if not rows:
        return _missing("SR held-out scores")
    frames = holdout.get("frames")
    count = f" on {len(frames)} held-out actor frames" if isinstance(frames, list) else ""
    return (f"<p>Super-resolution against bicubic upscaling, PSNR inside the head{count} "
            "(frames kept out of the upscaler's training):</p>"
            '<table class="metrics"><thead><tr><th class="rowname">input</th><th>SR (dB)</th>'
            "<th>bicubic (dB)</th><th>gain (dB) <span class=hint>&uarr; higher is better</span></th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _self_reenactment_html(scores: Mapping[str, Any]) -> str:
    """The held-out self-reenactment scores: composite, network and repair against the real frames."""
    rows = []
    for name, label in SELF_REENACTMENT_VARIANTS.items():
        row = scores.get(name)
        if not isinstance(row, Mapping):
            continue
        cells = "".join(f"<td>{format_value(m, finite_number(row.get(m)))}</td>" for m in ("psnr", "ssim", "lpips"))
        rows.append(f'<tr><td class="rowname" title="{escape(label)}">{escape(name)}</td>{cells}</tr>')
    if not rows:
        return _missing("held-out self-reenactment scores")
    frames = scores.get("frames")
    count = f"{len(frames)} held-out frames" if isinstance(frames, list) else "held-out frames"
    return (f"<p>Self-reenactment against the real actor frames ({count}, never trained on), lower face "
            "(PSNR, SSIM) and head crop (LPIPS): the one measure against a true answer.</p>"
            '<table class="metrics"><thead><tr><th class="rowname">variant</th><th>PSNR (dB) '
            "<span class=hint>&uarr;</span></th><th>SSIM <span class=hint>&uarr;</span></th><th>LPIPS "
            f"<span class=hint>&darr;</span></th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _frame_ranges(frames: list[int]) -> str:
    """Frame numbers as compact ranges: [3, 4, 5, 9] -> '3-5, 9'."""
    runs: list[list[int]] = []
    for t in sorted(int(f) for f in frames):
        if runs and t == runs[-1][1] + 1:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _qa_html(qa: Mapping[str, Any]) -> str:
    facts = []
    for role, j in (qa.get("jitter") or {}).items():
        raw, smooth = finite_number(j.get("raw_px")), finite_number(j.get("smoothed_px"))
        if raw is not None and smooth is not None:
            facts.append(f"{escape(role.replace('_', ' '))} tracking jitter {raw:.2f} px raw, {smooth:.2f} px smoothed")
    residual = finite_number(qa.get("residual_iod_median"))
    if residual is not None:
        facts.append(f"median alignment residual {100 * residual:.2f}% of the inter-ocular distance")
    for role, frames in (qa.get("frames_without_face") or {}).items():
        if isinstance(frames, list) and frames:
            facts.append(f"{escape(role.replace('_', ' '))}: {len(frames)} frames without a face "
                         f"({_frame_ranges(frames)})")
    return f'<ul class="facts">{"".join(f"<li>{f}</li>" for f in facts)}</ul>' if facts else ""


#: How each QC kind reads in the report: label, unit of its value.
QC_KINDS = {
    "mouth": ("mouth disagrees with the dubber", "opening error"),
    "identity": ("identity drifts", "dlib distance"),
    "jitter": ("head jitters", "acceleration, IOD/frame²"),
    "faceless": ("no face in the output", ""),
    "occluded": ("mouth behind an occluder (dub faded out)", "share of the mouth covered"),
    "faded": ("dub faded out", "fade"),
}


def _thumbnail_uri(image: Any, jpeg_quality: int) -> str:
    """One RGB uint8 thumbnail (H x W x 3) as a data URI: JPEG at ``jpeg_quality``, PNG when it is 0."""
    import cv2

    if jpeg_quality > 0:
        ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        return data_uri(encoded.tobytes(), "image/jpeg")
    ok, encoded = cv2.imencode(".png", image[..., ::-1])
    return data_uri(encoded.tobytes(), "image/png")


def _qc_html(qc: Mapping[str, Any], thumbnails_path: Path | None, jpeg_quality: int) -> str:
    """The QC ranges of a shot: kind, frames, worst frame and value, and the worst frame's thumbnail."""
    ranges = [r for r in qc.get("ranges") or [] if isinstance(r, Mapping)]
    thresholds = qc.get("thresholds") or {}
    limits = ", ".join(f"{escape(QC_KINDS[k][1])} ≥ {v:g}" for k, v in thresholds.items()
                       if k in QC_KINDS and finite_number(v) is not None)
    head = f'<p class="meta">Thresholds (config section <code>qc</code>): {limits}.</p>' if limits else ""
    if not ranges:
        return head + "<p>No frame range over a threshold.</p>"
    images = None
    if thumbnails_path is not None and thumbnails_path.is_file():
        import numpy as np

        with np.load(thumbnails_path) as data:
            images = data["thumbnails"] if len(data["thumbnails"]) == len(ranges) else None
    rows = []
    for k, r in enumerate(ranges):
        kind = str(r.get("kind"))
        label, unit = QC_KINDS.get(kind, (kind, ""))
        if kind == "faceless":
            label += " (lost: the actor has one)" if r.get("actor_face") else " (none in the actor: passed through)"
        if kind == "faded" and r.get("why"):
            label += " (" + ", ".join(str(w).replace("_", " ") for w in r["why"]) + ")"
        value = finite_number(r.get("value"))
        worst = f"{r.get('worst')}" + (f" ({escape(unit)} {value:.3f})" if value is not None else "")
        thumb = (_img(_thumbnail_uri(images[k], jpeg_quality), f"frame {r.get('worst')}: actor | composite | output")
                 if images is not None else "")
        rows.append(f"<tr><td>{escape(label)}</td><td>{r.get('start')}-{r.get('end')}</td><td>{worst}</td>"
                    f"<td>{thumb}</td></tr>")
    more = ", ".join(f"{n} more {escape(QC_KINDS.get(k, (k,))[0])}" for k, n in (qc.get("more") or {}).items())
    return (head + '<table class="qc"><tr><th>what</th><th>frames</th><th>worst frame</th>'
            "<th>actor | composite | output</th></tr>" + "".join(rows) + "</table>"
            + (f"<p>Not listed: {more}.</p>" if more else ""))


def _shot_section(shot: str, files: Mapping[str, Path], out_dir: Path, cfg: ReportConfig,
                  table: Table | None, unavailable: Mapping[str, str], metrics: Mapping[str, Any],
                  ceilings: Mapping[str, int]) -> str:
    anchor = f"shot-{shot}"
    parts = [f'<section id="{escape(anchor)}"><h2>Shot {escape(shot)}</h2>']
    links = [f'<a href="{escape(_relative(files[k], out_dir))}">{escape(files[k].name)}</a>'
             for k in ("dubbed", "metrics") if k in files and files[k].is_file()]
    if links:
        parts.append(f'<p class="meta">Files: {" · ".join(links)}</p>')

    parts.append("<h3>Metrics</h3>")
    if table is None:
        parts.append(_missing("metrics.json"))
    else:
        cells = {v: {m: (x, None) for m, x in row.items()} for v, row in table.items()}
        parts.append(metric_table_html(cells, unavailable, anchor=anchor))
        facts = []
        for key, label in SHOT_FACTS.items():
            x = finite_number(metrics.get(key))
            if x is not None:
                facts.append(f"{escape(label)}: {int(x) if key.startswith('frames') else f'{x:.2f}'}")
        faceless = metrics.get("frames_without_face")
        if isinstance(faceless, list) and faceless and len(faceless) == metrics.get("frames"):
            facts.append("<strong>no face in any actor frame</strong>: delivered with the actor's picture unchanged "
                         "and the dubbed audio")
        elif isinstance(faceless, list) and faceless:
            kept = {True: "unchanged", False: "<strong>changed</strong>"}.get(metrics.get("faceless_frames_unchanged"),
                                                                               "not checked")
            facts.append(f"frames without a head crop, passed through and left out of the metrics: "
                         f"{_frame_ranges(faceless)} ({kept} in the output)")
        if facts:
            parts.append(f'<ul class="facts">{"".join(f"<li>{f}</li>" for f in facts)}</ul>')

    parts.append("<h3>QC: frames to look at</h3>")
    if isinstance(metrics.get("qc"), Mapping):
        parts.append(_qc_html(metrics["qc"], files.get("qc_thumbnails"), cfg.sheet_jpeg_quality))
    else:
        parts.append(_missing("QC ranges (metrics.json from before QC: re-run evaluate)"))

    parts.append("<h3>Side-by-side preview</h3>")
    video = files.get("side_by_side")
    parts.append(_video_html(video, out_dir, cfg.embed_video_mb, " | ".join(cfg.preview_panels) + ", dubbed audio")
                 if video is not None and video.is_file() else _missing("side-by-side preview"))

    parts.append("<h3>Contact sheet: actor | dubber | virtual dubber | output</h3>")
    sheet = files.get("output_sheet")
    parts.append(_img(image_uri(sheet, cfg.sheet_jpeg_quality), f"{shot} output contact sheet")
                 if sheet is not None and sheet.is_file() else _missing("output contact sheet"))

    parts.append("<h3>Training</h3>")
    # A shot whose actor has a model (warm start) fine-tuned it: the swapper's ceiling is the fine-tune's.
    warm = "actor_losses" in files and files["actor_losses"].is_file()
    curves = [(title, read_losses(files[key]), ceilings.get(f"{key}_warm" if warm and key == "swapper_losses" else key))
              for key, title in LOSS_CURVES.items() if key in files and files[key].is_file()]
    png = loss_plot(curves)
    parts.append(_img(data_uri(png, "image/png"), f"{shot} loss curves") if png else _missing("loss curves"))
    if isinstance(metrics.get("self_reenactment"), Mapping):
        parts.append(_self_reenactment_html(metrics["self_reenactment"]))
    holdout = files.get("holdout")
    if holdout is not None and holdout.is_file():
        parts.append(_holdout_html(load_json(holdout)))

    parts.append("<h3>Geometry QA</h3>")
    qa = files.get("qa")
    if qa is not None and qa.is_file():
        parts.append(_qa_html(load_json(qa)))
    plot = files.get("qa_plot")
    parts.append(_img(image_uri(plot), f"{shot} geometry QA") if plot is not None and plot.is_file()
                 else _missing("geometry QA plot"))

    parts.append("<h3>Virtual dubber: dubber | virtual dubber | actor reference</h3>")
    sheet = files.get("vd_sheet")
    parts.append(_img(image_uri(sheet, cfg.sheet_jpeg_quality), f"{shot} virtual dubber contact sheet")
                 if sheet is not None and sheet.is_file() else _missing("virtual-dubber contact sheet"))
    parts.append("</section>")
    return "\n".join(parts)


def _overview_html(tables: Mapping[str, Table]) -> str:
    """One row per shot: the output variant's metrics, to compare the shots at a glance."""
    rows = {shot: table.get("output", {}) for shot, table in tables.items()}
    metrics = ordered_keys([m for row in rows.values() for m in row], METRICS)
    head = '<tr><th class="rowname">shot</th>' + "".join(_header_cell(m) for m in metrics) + "</tr>"
    body = "".join(
        f'<tr><td class="rowname"><a href="#shot-{escape(shot)}">{escape(shot)}</a></td>'
        + "".join(f'<td{" class=na" if row.get(m) is None else ""}>{format_value(m, row.get(m))}</td>'
                  for m in metrics) + "</tr>"
        for shot, row in rows.items())
    return f'<table class="metrics"><thead>{head}</thead><tbody>{body}</tbody></table>'


def manifest_from_layout(layout: Mapping[str, str], shots: Sequence[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """The manifest of :func:`build_report` from path templates: ``{shot: {kind: template.format(shot, actor)}}``.

    layout: kind -> template with ``{shot}`` and ``{actor}`` (``results/{shot}/metrics.json``);
    shots: ``(shot, actor)`` pairs in the report's order.
    """
    return {shot: {kind: template.format(shot=shot, actor=actor) for kind, template in layout.items()}
            for shot, actor in shots}


def build_report(manifest: Mapping[str, Mapping[str, str | Path]], out_html: str | Path, cfg: ReportConfig,
                 preset: str = "", preset_settings: Mapping[str, Any] | None = None,
                 generated: datetime | None = None, ceilings: Mapping[str, int] | None = None) -> str:
    """Write the project report and return its HTML.

    manifest: shot id -> {kind: file}, kinds ``metrics`` (metrics.json), ``dubbed``,
    ``side_by_side`` (mp4), ``output_sheet``, ``vd_sheet``, ``qa_plot`` (PNG), ``qa``,
    ``holdout`` (JSON), ``swapper_losses``, ``sr_losses``, ``actor_losses`` (CSV); a kind
    that is absent or a file that does not exist shows as "not available" (the report of
    a half-finished project still opens). Relative links are taken from ``out_html``'s
    folder. preset, preset_settings: the configuration preset used, shown in the header.
    ceilings: loss kind -> the training's ceiling of steps, so that a run ended early by its
    held-out score shows where it stopped.
    """
    out_html = Path(out_html)
    out_dir = out_html.parent.resolve()
    generated = generated or datetime.now(timezone.utc)
    shots = {str(shot): {k: Path(p).resolve() for k, p in files.items()} for shot, files in manifest.items()}

    tables: dict[str, Table] = {}
    unavailable: dict[str, dict[str, str]] = {}
    metrics: dict[str, Mapping[str, Any]] = {}
    for shot, files in shots.items():
        path = files.get("metrics")
        if path is not None and path.is_file():
            metrics[shot] = load_json(path)
            tables[shot], unavailable[shot] = shot_table(metrics[shot])

    project = project_table(list(tables.values()))
    project_reasons: dict[str, str] = {}
    for reasons in unavailable.values():
        for m, r in reasons.items():
            project_reasons.setdefault(m, r)
            if r not in project_reasons[m]:
                project_reasons[m] += f"; {r}"

    toc = "".join(f'<li><a href="#shot-{escape(s)}">{escape(s)}</a></li>' for s in shots)
    settings = (f"<details><summary>preset settings</summary><pre>"
                f"{escape(json.dumps(preset_settings, indent=2, sort_keys=True))}</pre></details>"
                if preset_settings else "")
    from vdub import __version__

    head = (f"<header><h1>Visual dubbing: project report</h1>"
            f'<p class="meta">Generated {escape(generated.strftime("%Y-%m-%d %H:%M:%S %Z").strip())} · '
            f"preset <b>{escape(preset or 'unknown')}</b> · {len(shots)} shot{'s' if len(shots) != 1 else ''} · "
            f"vdub {escape(__version__)}</p>{settings}</header>")
    legend = "".join(f"<li><b>{escape(v)}</b>: {escape(d)}</li>" for v, d in VARIANTS.items())
    project_html = (f'<section id="project"><h2>Project: mean over {len(tables)} shot'
                    f"{'s' if len(tables) != 1 else ''}</h2>"
                    + (metric_table_html(project, project_reasons, shots=len(tables), anchor="project") if tables
                       else _missing("metrics"))
                    + f'<ul class="facts">{legend}<li>bold on green: the best of composite, reenact, output'
                    "</li></ul>"
                    + ("<h3>Output per shot</h3>" + _overview_html(tables) if tables else "")
                    + "</section>")
    sections = [_shot_section(s, files, out_dir, cfg, tables.get(s), unavailable.get(s, {}), metrics.get(s, {}),
                              ceilings or {}) for s, files in shots.items()]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>vdub report ({escape(preset or 'unknown')} preset)</title><style>{_CSS}</style></head>\n<body>"
            f"{head}<nav><h2>Contents</h2><ol><li><a href=\"#project\">Project summary</a></li>{toc}</ol></nav>\n"
            f"{project_html}\n" + "\n".join(sections) + "\n</body></html>\n")
    with atomic_path(out_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("report of %d shots (%d with metrics): %s, %.1f MB", len(shots), len(tables), out_html,
             len(page) / 1e6)
    return page
