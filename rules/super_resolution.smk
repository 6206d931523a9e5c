rule train_sr:
    """Identity-specific upscaler trained on the actor's own frames (GPU on a cluster); held-out scores."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        crops="work/{shot}/crops.npz",
        swapper="work/{shot}/swapper/model.pt",
        gpen_weights=gpen_weights(),
    output:
        model="work/{shot}/sr/model.pt",
        losses="work/{shot}/sr/losses.csv",
        holdout="work/{shot}/sr/holdout.json",
    params:
        settings=sr_settings(),
    threads: 2
    log:
        "logs/{shot}/train_sr.log",
    benchmark:
        "benchmarks/{shot}/train_sr.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub train-sr --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --crops {input.crops:q} --swapper {input.swapper:q}"
        " --out-model {output.model:q} --out-losses {output.losses:q} --out-holdout {output.holdout:q} 2> {log:q}"


rule super_resolution:
    """The swapped heads upscaled, colour-matched, stabilised and pasted at full resolution."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        composite="work/{shot}/align/composite.npy",
        crops="work/{shot}/crops.npz",
        model="work/{shot}/sr/model.pt",
        swapped="work/{shot}/reenact/swapped.npy",
    output:
        frames="work/{shot}/sr/frames.npy",
    params:
        settings=sr_paste_settings(),
    threads: 2
    log:
        "logs/{shot}/super_resolution.log",
    benchmark:
        "benchmarks/{shot}/super_resolution.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub super-resolution --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --composite-frames {input.composite:q} --crops {input.crops:q}"
        " --model {input.model:q} --swapped {input.swapped:q} --out-frames {output.frames:q} 2> {log:q}"
