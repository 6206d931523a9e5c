rule masks:
    """Stable head crops with soft head / eyes / mouth masks, for actor and composite frames."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        composite="work/{shot}/align/composite.npy",
        aligned_mesh="work/{shot}/align/mesh.npz",
    output:
        crops="work/{shot}/crops.npz",
    params:
        settings=settings("masks", crop_size=PRESET["crop_size"]),
    log:
        "logs/{shot}/masks.log",
    benchmark:
        "benchmarks/{shot}/masks.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub masks --shot {wildcards.shot} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --composite-frames {input.composite:q} --aligned-mesh {input.aligned_mesh:q}"
        " --out {output.crops:q} 2> {log:q}"
