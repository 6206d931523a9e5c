# Paper 2.1, 3D face alignment: mesh smoothing, rigid alignment, render and composite (align).


rule align:
    """Smoothed meshes, rigid alignment of the virtual dubber to the actor's head, render and composite."""
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
        vd_frames=VD_FRAMES,
        vd_mesh=VD_MESH,
        dubber_mesh=DUBBER_MESH,
        occluders=OCCLUDERS,
        visibility=VISIBILITY,
    output:
        aligned=ALIGNED,
        composite=COMPOSITE,
        mesh=ALIGNED_MESH,
        qa=QA,
        plot=QA_PLOT,
    log:
        "logs/{shot}/align.log",
    benchmark:
        "benchmarks/{shot}/align.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("align"),
    shell:
        "python -m vdub align --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --vd-frames {input.vd_frames:q} --vd-mesh {input.vd_mesh:q} --dubber-mesh {input.dubber_mesh:q}"
        " --out-aligned {output.aligned:q} --out-composite {output.composite:q}"
        " --out-mesh {output.mesh:q} --out-qa {output.qa:q} --out-plot {output.plot:q}"
        " --occluders {input.occluders:q} --visibility {input.visibility:q} 2> {log:q}"
