rule mux:
    """The dubbed shot: H.264 at the actor's size and frame rate with the dubbed audio."""
    input:
        frames="work/{shot}/sr/frames.npy",
        audio="work/{shot}/ingest/audio.wav",
        info="work/{shot}/ingest/info.json",
    output:
        video="results/{shot}/dubbed.mp4",
    params:
        settings=settings("mux"),
    log:
        "logs/{shot}/mux.log",
    benchmark:
        "benchmarks/{shot}/mux.tsv"
    conda:
        "../envs/video.yaml"
    shell:
        "python -m vdub mux --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --frames {input.frames:q} --audio {input.audio:q} --info {input.info:q}"
        " --out {output.video:q} 2> {log:q}"
