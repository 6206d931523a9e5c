rule reenact:
    """Composite crops through the actor decoder; the head pasted back with the head mask (the preset's paste)."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        composite="work/{shot}/align/composite.npy",
        crops="work/{shot}/crops.npz",
        model="work/{shot}/swapper/model.pt",
    output:
        swapped="work/{shot}/reenact/swapped.npy",
        frames="work/{shot}/reenact/frames.npy",
    params:
        settings=json.dumps({**config["reenact"], "detail": PRESET["paste"]["detail"]}, sort_keys=True),
    threads: 2
    log:
        "logs/{shot}/reenact.log",
    benchmark:
        "benchmarks/{shot}/reenact.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub reenact --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --composite-frames {input.composite:q} --crops {input.crops:q} --model {input.model:q}"
        " --out-swapped {output.swapped:q} --out-frames {output.frames:q} 2> {log:q}"
