# Paper 2.2, an addition: self-reenactment pairs, the swapper's repair examples and held-out test (self_pairs).


rule self_pairs:
    """Self-reenactment pairs: the actor's reference driven by the actor's own track, composited as at inference.

    Actor side only (a new dubber take never rebuilds them): the repair's training examples
    and, every `self_reenactment.holdout_every`-th frame, its held-out test against the real frames.
    """
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
        actor_crops=ACTOR_CROPS,
        visibility=VISIBILITY,
    output:
        pairs=SELF_PAIRS,
    log:
        "logs/{shot}/self_pairs.log",
    benchmark:
        "benchmarks/{shot}/self_pairs.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("self_pairs"),
        override=reference_override,
    shell:
        "python -m vdub self-pairs --shot {wildcards.shot:q} --settings {params.settings:q} {params.override}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --actor-crops {input.actor_crops:q} --out {output.pairs:q}"
        " --visibility {input.visibility:q} 2> {log:q}"
