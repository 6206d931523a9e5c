# Paper 2.2: head crops with soft head / eyes / mouth masks, of the actor and of the composite (actor_crops, masks).


rule actor_crops:
    """Stable head crops with soft head / eyes / mouth masks of the actor frames (no dubber in them)."""
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
        occluders=OCCLUDERS,
    output:
        crops=ACTOR_CROPS,
    log:
        "logs/{shot}/actor_crops.log",
    benchmark:
        "benchmarks/{shot}/actor_crops.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("actor_crops"),
    shell:
        "python -m vdub actor-crops --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q} --out {output.crops:q}"
        " --occluders {input.occluders:q} 2> {log:q}"


rule masks:
    """Composite crops and masks in the actor's crop boxes, bundled with the actor's crops."""
    input:
        actor_crops=ACTOR_CROPS,
        composite=COMPOSITE,
        aligned_mesh=ALIGNED_MESH,
    output:
        crops=CROPS,
    log:
        "logs/{shot}/masks.log",
    benchmark:
        "benchmarks/{shot}/masks.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("masks"),
    shell:
        "python -m vdub masks --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-crops {input.actor_crops:q} --composite-frames {input.composite:q}"
        " --aligned-mesh {input.aligned_mesh:q} --out {output.crops:q} 2> {log:q}"
