# Editorial: every reel that shots are ranges of, with its dubbed shots put back in place (conform).


rule conform:
    """The reel with its dubbed shots' cuts in place (frame count and timecode of the source), the dubbed
    dialogue stem at their positions, and an OpenTimelineIO timeline of the result."""
    input:
        reel=lambda wildcards: REELS[wildcards.reel][0],
        shots=conform_inputs,
    output:
        video=CONFORMED_VIDEO,
        dialogue=CONFORMED_DIALOGUE,
        timeline=CONFORMED_TIMELINE,
    log:
        "logs/conform/{reel}.log",
    benchmark:
        "benchmarks/conform/{reel}.tsv"
    conda:
        "../envs/video.yaml"
    params:
        settings=settings("conform"),
        # A function: the templates' {shot} must reach vdub, not Snakemake's wildcard expansion.
        layout=lambda wildcards: json.dumps({**CONFORM_LAYOUT, "stacked_frames": STACKED_FRAMES}, sort_keys=True),
        # Two-shots: shot -> the shot it is composited onto (its picture goes in, both shots' audio).
        over=lambda wildcards: json.dumps(
            {s: SHOTS[s].over for s in REELS[wildcards.reel][1] if SHOTS[s].over}, sort_keys=True
        ),
        shots=lambda wildcards: " ".join(shlex.quote(s) for s in REELS[wildcards.reel][1]),
        # Where the cuts of shots from camera sources go (samples.yaml reel_in): a moved cut re-runs only this.
        positions=lambda wildcards: json.dumps(
            {s: SHOTS[s].reel_in for s in REELS[wildcards.reel][1] if SHOTS[s].reel_video}, sort_keys=True
        ),
    shell:
        "python -m vdub conform --reel-id {wildcards.reel:q} --settings {params.settings:q} --reel {input.reel:q}"
        " --layout {params.layout:q} --shots {params.shots} --positions {params.positions:q} --over {params.over:q}"
        " --out-video {output.video:q}"
        " --out-dialogue {output.dialogue:q} --out-timeline {output.timeline:q} 2> {log:q}"
