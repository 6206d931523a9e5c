# Paper 2.1, 3D face reconstruction: the face mesh of the actor, the dubber and the virtual dubber (face_geometry).


rule face_geometry:
    """478-point face mesh per frame of the actor, the dubber or the virtual dubber."""
    input:
        frames=lambda wildcards: FRAMES[wildcards.role].format(shot=wildcards.shot),
    output:
        mesh=MESH,
    log:
        "logs/{shot}/face_geometry_{role}.log",
    benchmark:
        "benchmarks/{shot}/face_geometry_{role}.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("face_geometry"),
    shell:
        "python -m vdub face-geometry --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --frames {input.frames:q} --out {output.mesh:q} 2> {log:q}"
