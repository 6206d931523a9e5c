rule virtual_dubber_sheet:
    """Report: dubber | virtual dubber | actor reference, for a few frames of the shot."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        dubber_frames="work/{shot}/ingest/dubber.npy",
        dubber_mesh="work/{shot}/mesh/dubber.npz",
        vd_frames="work/{shot}/virtual_dubber.npy",
        reference="work/{shot}/reference.json",
    output:
        sheet="results/{shot}/virtual_dubber_sheet.png",
    log:
        "logs/{shot}/virtual_dubber_sheet.log",
    benchmark:
        "benchmarks/{shot}/virtual_dubber_sheet.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub virtual-dubber-sheet --shot {wildcards.shot:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q}"
        " --dubber-mesh {input.dubber_mesh:q} --vd-frames {input.vd_frames:q}"
        " --reference {input.reference:q} --out {output.sheet:q} 2> {log:q}"
