# Infrastructure, finishing: the matte of the changed pixels and the optional ProRes master (matte, master).


rule matte:
    """The pasted head's alpha at full resolution, lossless grey, frame for frame with dubbed.mp4."""
    input:
        matte=lambda wildcards: delivered_matte(wildcards.shot),
        info=SHOT_INFO,
    output:
        video=MATTE,
    log:
        "logs/{shot}/matte.log",
    benchmark:
        "benchmarks/{shot}/matte.tsv"
    conda:
        "../envs/video.yaml"
    shell:
        "python -m vdub matte --shot {wildcards.shot:q}"
        " --matte {input.matte:q} --info {input.info:q} --out {output.video:q} 2> {log:q}"


rule master:
    """The finishing master (config finishing.master): ProRes with the matte as alpha, the dubbed audio, the timecode."""
    input:
        frames=lambda wildcards: delivered_frames(wildcards.shot),
        matte=lambda wildcards: delivered_matte(wildcards.shot),
        audio=DUBBED_AUDIO,
        info=SHOT_INFO,
        actor=lambda wildcards: shot_of(wildcards).actor_video,
    output:
        video=MASTER,
    log:
        "logs/{shot}/master.log",
    benchmark:
        "benchmarks/{shot}/master.tsv"
    conda:
        "../envs/video.yaml"
    params:
        settings=settings("master"),
    shell:
        "python -m vdub master --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --frames {input.frames:q} --matte {input.matte:q} --audio {input.audio:q} --info {input.info:q}"
        " --actor-video {input.actor:q} --out {output.video:q} 2> {log:q}"
