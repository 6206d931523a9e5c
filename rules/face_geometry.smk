rule face_geometry:
    """478-point face mesh per frame of the actor, the dubber or the virtual dubber."""
    input:
        frames=frames_of_role,
    output:
        mesh="work/{shot}/mesh/{role}.npz",
    params:
        settings=settings("face_mesh"),
    log:
        "logs/{shot}/face_geometry_{role}.log",
    benchmark:
        "benchmarks/{shot}/face_geometry_{role}.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub face-geometry --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --frames {input.frames:q} --out {output.mesh:q} 2> {log:q}"
