rule reference:
    """The actor's reference frame and the dubber's neutral frame, scored per frame."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        dubber_frames="work/{shot}/ingest/dubber.npy",
        dubber_mesh="work/{shot}/mesh/dubber.npz",
    output:
        reference="work/{shot}/reference.json",
    params:
        settings=settings("reference"),
        override=reference_override,
    log:
        "logs/{shot}/reference.log",
    benchmark:
        "benchmarks/{shot}/reference.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub reference --shot {wildcards.shot:q} --settings {params.settings:q} {params.override}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q} --dubber-mesh {input.dubber_mesh:q}"
        " --out {output.reference:q} 2> {log:q}"
