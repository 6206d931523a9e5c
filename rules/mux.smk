# Infrastructure, mux: the dubbed shot as a video file with the dubbed audio (mux).


rule mux:
    """The dubbed shot: H.264 at the actor's size and frame rate with the dubbed audio."""
    input:
        frames=lambda wildcards: delivered_frames(wildcards.shot),
        audio=DUBBED_AUDIO,
        info=SHOT_INFO,
    output:
        video=DUBBED_VIDEO,
    log:
        "logs/{shot}/mux.log",
    benchmark:
        "benchmarks/{shot}/mux.tsv"
    conda:
        "../envs/video.yaml"
    params:
        settings=settings("mux"),
    shell:
        "python -m vdub mux --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --frames {input.frames:q} --audio {input.audio:q} --info {input.info:q}"
        " --out {output.video:q} 2> {log:q}"
