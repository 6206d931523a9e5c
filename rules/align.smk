rule align:
    """Smoothed meshes, rigid alignment of the virtual dubber to the actor's head, render and composite."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        vd_frames="work/{shot}/virtual_dubber.npy",
        vd_mesh="work/{shot}/mesh/virtual_dubber.npz",
        dubber_mesh="work/{shot}/mesh/dubber.npz",
    output:
        aligned="work/{shot}/align/aligned.npy",
        composite="work/{shot}/align/composite.npy",
        mesh="work/{shot}/align/mesh.npz",
        qa="work/{shot}/align/qa.json",
        plot="work/{shot}/align/qa.png",
    params:
        settings=settings("align", smoothing=config["smoothing"]),
    log:
        "logs/{shot}/align.log",
    benchmark:
        "benchmarks/{shot}/align.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub align --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --vd-frames {input.vd_frames:q} --vd-mesh {input.vd_mesh:q} --dubber-mesh {input.dubber_mesh:q}"
        " --out-aligned {output.aligned:q} --out-composite {output.composite:q}"
        " --out-mesh {output.mesh:q} --out-qa {output.qa:q} --out-plot {output.plot:q} 2> {log:q}"
