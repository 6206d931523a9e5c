# What a supervisor looks at: per shot a contact sheet of the result and a small side-by-side
# preview, and one self-contained HTML page over the whole project (see README "Report").

rule output_sheet:
    """Report: actor | dubber | virtual dubber | output, for a few frames of the shot."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        dubber_frames="work/{shot}/ingest/dubber.npy",
        dubber_mesh="work/{shot}/mesh/dubber.npz",
        vd_frames="work/{shot}/virtual_dubber.npy",
        vd_mesh="work/{shot}/mesh/virtual_dubber.npz",
        output_frames="work/{shot}/sr/frames.npy",
    output:
        sheet="results/{shot}/output_sheet.png",
    params:
        settings=json.dumps({"sheet_frames": config["report"]["sheet_frames"]}),
    log:
        "logs/{shot}/output_sheet.log",
    benchmark:
        "benchmarks/{shot}/output_sheet.tsv"
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vdub output-sheet --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q} --dubber-mesh {input.dubber_mesh:q}"
        " --vd-frames {input.vd_frames:q} --vd-mesh {input.vd_mesh:q}"
        " --output-frames {input.output_frames:q} --out {output.sheet:q} 2> {log:q}"


rule side_by_side:
    """Report: a small preview, the panels of `report.preview_panels` side by side, with the dubbed audio."""
    input:
        unpack(preview_panel_frames),
        audio="work/{shot}/ingest/audio.wav",
        info="work/{shot}/ingest/info.json",
    output:
        video="results/{shot}/side_by_side.mp4",
    params:
        settings=json.dumps({k: config["report"][k] for k in ("preview_height", "preview_crf")}, sort_keys=True),
        panels=preview_panel_arguments,
    log:
        "logs/{shot}/side_by_side.log",
    benchmark:
        "benchmarks/{shot}/side_by_side.tsv"
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vdub side-by-side --shot {wildcards.shot:q} --settings {params.settings:q} {params.panels}"
        " --audio {input.audio:q} --info {input.info:q} --out {output.video:q} 2> {log:q}"


rule report:
    """The project report: metric tables (per shot and mean), loss curves, QA, contact sheets, previews."""
    input:
        report_inputs,
    output:
        html="results/report.html",
    params:
        settings=json.dumps({**{k: config["report"][k] for k in ("embed_video_mb", "sheet_jpeg_quality",
                                                                 "preview_panels")},
                             "preset": config["preset"], "preset_settings": PRESET}, sort_keys=True),
        # A function: the templates' {shot} must reach vdub, not Snakemake's wildcard expansion.
        layout=lambda wildcards: json.dumps(report_layout(), sort_keys=True),
        shots=report_shots,
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vdub report --settings {params.settings:q} --layout {params.layout:q} --shots {params.shots}"
        " --out {output.html:q} 2> {log:q}"
