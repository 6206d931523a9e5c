rule super_resolution:
    """Identity-specific upscaler trained on the actor's frames; upscaled heads pasted at full resolution."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        crops="work/{shot}/crops.npz",
        swapper="work/{shot}/swapper/model.pt",
        swapped="work/{shot}/reenact/swapped.npy",
        gpen_weights=gpen_weights(),
    output:
        model="work/{shot}/sr/model.pt",
        losses="work/{shot}/sr/losses.csv",
        frames="work/{shot}/sr/frames.npy",
        holdout="work/{shot}/sr/holdout.json",
    params:
        settings=sr_settings(),
    threads: 2
    log:
        "logs/{shot}/super_resolution.log",
    benchmark:
        "benchmarks/{shot}/super_resolution.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub super-resolution --shot {wildcards.shot} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --crops {input.crops:q} --swapper {input.swapper:q}"
        " --swapped {input.swapped:q} --out-model {output.model:q} --out-losses {output.losses:q}"
        " --out-frames {output.frames:q} --out-holdout {output.holdout:q} 2> {log:q}"
