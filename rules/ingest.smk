rule ingest:
    """Decode actor and dubber, conform the dubber to the actor's timeline, extract the dubbed audio."""
    input:
        actor=actor_video,
        dubber=dubber_video,
        audio=shot_audio,
    output:
        actor="work/{shot}/ingest/actor.npy",
        dubber="work/{shot}/ingest/dubber.npy",
        audio="work/{shot}/ingest/audio.wav",
        info="work/{shot}/ingest/info.json",
    params:
        settings=settings("ingest"),
        audio=audio_argument,
    log:
        "logs/{shot}/ingest.log",
    benchmark:
        "benchmarks/{shot}/ingest.tsv"
    conda:
        "../envs/video.yaml"
    shell:
        "python -m vdub ingest --shot {wildcards.shot} --settings {params.settings:q}"
        " --actor-video {input.actor:q} --dubber-video {input.dubber:q} {params.audio}"
        " --out-actor {output.actor:q} --out-dubber {output.dubber:q} --out-audio {output.audio:q}"
        " --out-info {output.info:q} 2> {log:q}"
