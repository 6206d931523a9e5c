# Infrastructure, ingest: decode the actor footage, conform the dubber take to it (ingest_actor, ingest_dubber).


rule ingest_actor:
    """Decode the actor footage: it defines the shot (a new dubber take never re-runs this side)."""
    input:
        actor=lambda wildcards: shot_of(wildcards).actor_video,
    output:
        actor=ACTOR_FRAMES,
        info=ACTOR_INFO,
    log:
        "logs/{shot}/ingest_actor.log",
    benchmark:
        "benchmarks/{shot}/ingest_actor.tsv"
    conda:
        "../envs/video.yaml"
    params:
        settings=settings("ingest_actor"),
        # The shot's range of the actor video and its handles (samples.yaml actor_in / actor_out / handles):
        # a new range re-runs the shot.
        range=lambda wildcards: " ".join(
            [
                f"--actor-{end} {shlex.quote(str(value))}"
                for end, value in (("in", shot_of(wildcards).actor_in), ("out", shot_of(wildcards).actor_out))
                if value is not None
            ]
            + ["--handles {} {}".format(*shot_of(wildcards).handles)] * any(shot_of(wildcards).handles)
        ),
    shell:
        "python -m vdub ingest-actor --shot {wildcards.shot:q} --settings {params.settings:q} {params.range}"
        " --actor-video {input.actor:q} --out-actor {output.actor:q} --out-json {output.info:q} 2> {log:q}"


rule ingest_dubber:
    """Conform the dubber take to the actor's timeline, extract the dubbed audio."""
    input:
        actor=ACTOR_INFO,
        dubber=lambda wildcards: shot_of(wildcards).dubber_video,
        # The explicit dubbed-audio file as a list (empty: the dubber video's own track).
        audio=lambda wildcards: [shot_of(wildcards).audio] if shot_of(wildcards).audio else [],
    output:
        dubber=DUBBER_FRAMES,
        audio=DUBBED_AUDIO,
        info=SHOT_INFO,
    log:
        "logs/{shot}/ingest_dubber.log",
    benchmark:
        "benchmarks/{shot}/ingest_dubber.tsv"
    conda:
        "../envs/video.yaml"
    params:
        settings=settings("ingest_dubber"),
        # ``--audio <file>`` (shell-quoted) when the shot has an explicit dubbed-audio file.
        audio=lambda wildcards, input: f"--audio {shlex.quote(input.audio[0])}" if input.audio else "",
    shell:
        "python -m vdub ingest-dubber --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-json {input.actor:q} --dubber-video {input.dubber:q} {params.audio}"
        " --out-dubber {output.dubber:q} --out-audio {output.audio:q} --out-info {output.info:q} 2> {log:q}"
