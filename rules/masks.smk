rule actor_crops:
    """Stable head crops with soft head / eyes / mouth masks of the actor frames (no dubber in them)."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
    output:
        crops="work/{shot}/actor_crops.npz",
    params:
        settings=settings("masks", crop_size=PRESET["crop_size"]),
    log:
        "logs/{shot}/actor_crops.log",
    benchmark:
        "benchmarks/{shot}/actor_crops.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub actor-crops --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q} --out {output.crops:q} 2> {log:q}"


rule masks:
    """Composite crops and masks in the actor's crop boxes, bundled with the actor's crops."""
    input:
        actor_crops="work/{shot}/actor_crops.npz",
        composite="work/{shot}/align/composite.npy",
        aligned_mesh="work/{shot}/align/mesh.npz",
    output:
        crops="work/{shot}/crops.npz",
    params:
        settings=settings("masks"),
    log:
        "logs/{shot}/masks.log",
    benchmark:
        "benchmarks/{shot}/masks.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub masks --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-crops {input.actor_crops:q} --composite-frames {input.composite:q}"
        " --aligned-mesh {input.aligned_mesh:q} --out {output.crops:q} 2> {log:q}"
