rule train_actor:
    """The per-actor model (warm start): both decoders on the actor crops of all the actor's shots."""
    input:
        crops=actor_crops_of,
    output:
        model="work/actors/{actor}/swapper/model.pt",
        losses="work/actors/{actor}/swapper/losses.csv",
    params:
        settings=swapper_settings("actor_iterations"),
        crops=lambda wildcards, input: " ".join(shlex.quote(c) for c in input.crops),
    threads: 2
    log:
        "logs/actors/{actor}/train_actor.log",
    benchmark:
        "benchmarks/actors/{actor}/train_actor.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub train-actor --actor {wildcards.actor} --settings {params.settings:q}"
        " --crops {params.crops} --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"


rule train_swapper:
    """The identity-swapping network (GPU on a cluster); resumes from its checkpoint after a kill.

    With `warm_start: true` it fine-tunes the actor's model for the preset's
    `warm_start.finetune_iterations`; else it trains from scratch for `train.iterations`.
    """
    input:
        crops="work/{shot}/crops.npz",
        init=actor_model_of,
    output:
        model="work/{shot}/swapper/model.pt",
        losses="work/{shot}/swapper/losses.csv",
    params:
        settings=swapper_settings("finetune_iterations" if config["warm_start"] else None),
        init=lambda wildcards, input: f"--init {shlex.quote(input.init[0])}" if input.init else "",
    threads: 2
    log:
        "logs/{shot}/train_swapper.log",
    benchmark:
        "benchmarks/{shot}/train_swapper.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub train-swapper --shot {wildcards.shot} --settings {params.settings:q} {params.init}"
        " --crops {input.crops:q} --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"
