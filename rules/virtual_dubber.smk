rule virtual_dubber:
    """The actor's reference frame animated with the dubber's mouth and jaw (static background)."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        dubber_frames="work/{shot}/ingest/dubber.npy",
        dubber_mesh="work/{shot}/mesh/dubber.npz",
        reference="work/{shot}/reference.json",
    output:
        frames="work/{shot}/virtual_dubber.npy",
    params:
        settings=dubber_settings,
    log:
        "logs/{shot}/virtual_dubber.log",
    benchmark:
        "benchmarks/{shot}/virtual_dubber.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub virtual-dubber --shot {wildcards.shot} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q} --dubber-mesh {input.dubber_mesh:q}"
        " --reference {input.reference:q} --out {output.frames:q} 2> {log:q}"
