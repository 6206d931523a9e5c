rule ingest_actor:
    """Decode the actor footage: it defines the shot (a new dubber take never re-runs this side)."""
    input:
        actor=actor_video,
    output:
        actor="work/{shot}/ingest/actor.npy",
        info="work/{shot}/ingest/actor.json",
    params:
        # Only what the actor side uses: a conform or audio setting must not re-run it.
        settings=json.dumps({"max_frames": config["ingest"]["max_frames"]}),
    log:
        "logs/{shot}/ingest_actor.log",
    benchmark:
        "benchmarks/{shot}/ingest_actor.tsv"
    conda:
        "../envs/video.yaml"
    shell:
        "python -m vdub ingest-actor --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-video {input.actor:q} --out-actor {output.actor:q} --out-json {output.info:q} 2> {log:q}"


rule ingest_dubber:
    """Conform the dubber take to the actor's timeline, extract the dubbed audio."""
    input:
        actor="work/{shot}/ingest/actor.json",
        dubber=dubber_video,
        audio=shot_audio,
    output:
        dubber="work/{shot}/ingest/dubber.npy",
        audio="work/{shot}/ingest/audio.wav",
        info="work/{shot}/ingest/info.json",
    params:
        settings=settings("ingest"),
        audio=audio_argument,
    log:
        "logs/{shot}/ingest_dubber.log",
    benchmark:
        "benchmarks/{shot}/ingest_dubber.tsv"
    conda:
        "../envs/video.yaml"
    shell:
        "python -m vdub ingest-dubber --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-json {input.actor:q} --dubber-video {input.dubber:q} {params.audio}"
        " --out-dubber {output.dubber:q} --out-audio {output.audio:q} --out-info {output.info:q} 2> {log:q}"
