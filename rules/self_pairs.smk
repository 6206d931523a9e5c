rule self_pairs:
    """Self-reenactment pairs: the actor's reference driven by the actor's own track, composited as at inference.

    Actor side only (a new dubber take never rebuilds them): the repair's training examples
    and, every `self_reenactment.holdout_every`-th frame, its held-out test against the real frames.
    """
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        actor_crops="work/{shot}/actor_crops.npz",
    output:
        pairs="work/{shot}/self_pairs.npz",
    params:
        settings=settings(
            builtin_dubber=config["builtin_dubber"],
            self_reenactment=config["self_reenactment"],
            align=config["align"],
            smoothing=config["smoothing"],
            face_mesh=config["face_mesh"],
            masks=config["masks"],
            reference=config["reference"],
        ),
        override=reference_override,
    log:
        "logs/{shot}/self_pairs.log",
    benchmark:
        "benchmarks/{shot}/self_pairs.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub self-pairs --shot {wildcards.shot:q} --settings {params.settings:q} {params.override}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --actor-crops {input.actor_crops:q} --out {output.pairs:q} 2> {log:q}"
