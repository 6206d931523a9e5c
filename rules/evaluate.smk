rule evaluate:
    """The shot's metric table: actor, composite, reenact and output against the actor video and the dubber."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        composite="work/{shot}/align/composite.npy",
        reenact_frames="work/{shot}/reenact/frames.npy",
        output_frames="work/{shot}/sr/frames.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        dubber_mesh="work/{shot}/mesh/dubber.npz",
        crops="work/{shot}/crops.npz",
        model="work/{shot}/swapper/model.pt",
        self_pairs="work/{shot}/self_pairs.npz",
        weights=evaluation_weights(),
    output:
        metrics="results/{shot}/metrics.json",
    params:
        settings=json.dumps(
            {"face_mesh": config["face_mesh"], "evaluation": config["evaluation"], "detail": PRESET["paste"]["detail"]},
            sort_keys=True,
        ),
    threads: 2
    log:
        "logs/{shot}/evaluate.log",
    benchmark:
        "benchmarks/{shot}/evaluate.tsv"
    conda:
        "../envs/evaluate.yaml"
    shell:
        "python -m vdub evaluate --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --composite-frames {input.composite:q}"
        " --reenact-frames {input.reenact_frames:q} --output-frames {input.output_frames:q}"
        " --actor-mesh {input.actor_mesh:q} --dubber-mesh {input.dubber_mesh:q} --crops {input.crops:q}"
        " --model {input.model:q} --self-pairs {input.self_pairs:q}"
        " --out {output.metrics:q} 2> {log:q}"
