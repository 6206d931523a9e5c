# Reporting: contact sheets, preview, project report (virtual_dubber_sheet, output_sheet, side_by_side, report).

# What a supervisor looks at: per shot contact sheets of the virtual dubber and of the result and a small
# side-by-side preview, and one self-contained HTML page over the whole project (see README "Report").

# What the report shows of each shot: kind -> path template ({shot}, {actor}); `vdub report --layout`.
REPORT_LAYOUT = {
    "metrics": METRICS,
    "qc_thumbnails": QC_THUMBNAILS,
    "dubbed": DUBBED_VIDEO,
    "side_by_side": SIDE_BY_SIDE,
    "output_sheet": OUTPUT_SHEET,
    "vd_sheet": VD_SHEET,
    "qa": QA,
    "qa_plot": QA_PLOT,
    "holdout": SR_HOLDOUT,
    "swapper_losses": SWAPPER_LOSSES,
    "sr_losses": SR_LOSSES,
}
if WARM_ACTORS:
    REPORT_LAYOUT["actor_losses"] = ACTOR_LOSSES


rule virtual_dubber_sheet:
    """Report: dubber | virtual dubber | actor reference, for a few frames of the shot."""
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
        dubber_frames=DUBBER_FRAMES,
        dubber_mesh=DUBBER_MESH,
        vd_frames=VD_FRAMES,
        reference=REFERENCE,
    output:
        sheet=VD_SHEET,
    log:
        "logs/{shot}/virtual_dubber_sheet.log",
    benchmark:
        "benchmarks/{shot}/virtual_dubber_sheet.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("virtual_dubber_sheet"),
    shell:
        "python -m vdub virtual-dubber-sheet --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q}"
        " --dubber-mesh {input.dubber_mesh:q} --vd-frames {input.vd_frames:q}"
        " --reference {input.reference:q} --out {output.sheet:q} 2> {log:q}"


rule output_sheet:
    """Report: actor | dubber | virtual dubber | output, for a few frames of the shot."""
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
        dubber_frames=DUBBER_FRAMES,
        dubber_mesh=DUBBER_MESH,
        vd_frames=VD_FRAMES,
        vd_mesh=VD_MESH,
        output_frames=lambda wildcards: delivered_frames(wildcards.shot),
    output:
        sheet=OUTPUT_SHEET,
    log:
        "logs/{shot}/output_sheet.log",
    benchmark:
        "benchmarks/{shot}/output_sheet.tsv"
    conda:
        "../envs/report.yaml"
    params:
        settings=settings("output_sheet"),
    shell:
        "python -m vdub output-sheet --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q} --dubber-mesh {input.dubber_mesh:q}"
        " --vd-frames {input.vd_frames:q} --vd-mesh {input.vd_mesh:q}"
        " --output-frames {input.output_frames:q} --out {output.sheet:q} 2> {log:q}"


rule side_by_side:
    """Report: a small preview, the panels of `report.preview_panels` side by side, with the dubbed audio."""
    input:
        # The frames files of the preview's panels, named ``panel_<name>``, in config order.
        unpack(
            lambda wildcards: {
                f"panel_{p}": (
                    delivered_frames(wildcards.shot) if p == "output" else FRAMES[p].format(shot=wildcards.shot)
                )
                for p in config["report"]["preview_panels"]
            }
        ),
        audio=DUBBED_AUDIO,
        info=SHOT_INFO,
    output:
        video=SIDE_BY_SIDE,
    log:
        "logs/{shot}/side_by_side.log",
    benchmark:
        "benchmarks/{shot}/side_by_side.tsv"
    conda:
        "../envs/report.yaml"
    params:
        settings=settings("side_by_side"),
        # ``--panel name=file`` per panel, left to right, shell-quoted.
        panels=lambda wildcards, input: " ".join(
            f"--panel {shlex.quote(panel)}"
            for panel in (f"{p}={input[f'panel_{p}']}" for p in config["report"]["preview_panels"])
        ),
    shell:
        "python -m vdub side-by-side --shot {wildcards.shot:q} --settings {params.settings:q} {params.panels}"
        " --audio {input.audio:q} --info {input.info:q} --out {output.video:q} 2> {log:q}"


rule report:
    """The project report: metric tables (per shot and mean), loss curves, QA, contact sheets, previews."""
    input:
        # Every file the report shows, of every shot.
        lambda wildcards: [
            t.format(shot=s, actor=shot.actor)
            for s, shot in sorted(SHOTS.items())
            for kind, t in REPORT_LAYOUT.items()
            if kind != "actor_losses" or shot.actor in WARM_ACTORS
        ],
    output:
        html=REPORT_HTML,
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    conda:
        "../envs/report.yaml"
    params:
        settings=settings("report"),
        # A function: the templates' {shot} must reach vdub, not Snakemake's wildcard expansion.
        layout=lambda wildcards: json.dumps(REPORT_LAYOUT, sort_keys=True),
        # ``shot=actor`` per shot, shell-quoted: the shots of `vdub report --shots`, one short argument each
        # (a single JSON argument of every path would hit the kernel's 128 KiB limit on one argument).
        shots=lambda wildcards: " ".join(shlex.quote(f"{s}={shot.actor}") for s, shot in sorted(SHOTS.items())),
    shell:
        "python -m vdub report --settings {params.settings:q} --layout {params.layout:q} --shots {params.shots}"
        " --out {output.html:q} 2> {log:q}"
