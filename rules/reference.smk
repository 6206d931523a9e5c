# Paper 2.1: the actor's neutral front-facing reference frame (reference).


rule reference:
    """The actor's reference frame and the dubber's neutral frame, scored per frame."""
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
        dubber_frames=DUBBER_FRAMES,
        dubber_mesh=DUBBER_MESH,
        visibility=VISIBILITY,
    output:
        reference=REFERENCE,
    log:
        "logs/{shot}/reference.log",
    benchmark:
        "benchmarks/{shot}/reference.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("reference"),
        override=reference_override,
    shell:
        "python -m vdub reference --shot {wildcards.shot:q} --settings {params.settings:q} {params.override}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q} --dubber-mesh {input.dubber_mesh:q}"
        " --out {output.reference:q}"
        " --visibility {input.visibility:q} 2> {log:q}"
