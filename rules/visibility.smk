# Footage as it comes: occluders in front of the actor's face and the dub's weight per frame (visibility).


rule visibility:
    """Hands and objects in front of the actor's face (kept in front of the dub) and where the dub fades out."""
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
    output:
        occluders=OCCLUDERS,
        visibility=VISIBILITY,
    log:
        "logs/{shot}/visibility.log",
    benchmark:
        "benchmarks/{shot}/visibility.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("visibility"),
    shell:
        "python -m vdub visibility --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --out-occluders {output.occluders:q} --out-visibility {output.visibility:q} 2> {log:q}"
