rule pretrain:
    """Generic pretraining of the swapper on the `pretrain_faces` folder (the paper's CelebA-HQ stage)."""
    input:
        faces=lambda wildcards: PRETRAIN_IMAGES,
    output:
        model="work/pretrain/swapper/model.pt",
        losses="work/pretrain/swapper/losses.csv",
    params:
        settings=json.dumps({**json.loads(swapper_settings(**PRESET["pretrain"])), "masks": config["masks"]},
                            sort_keys=True),
        faces=lambda wildcards: shlex.quote(PRETRAIN_FACES),
    threads: 2
    log:
        "logs/pretrain/pretrain.log",
    benchmark:
        "benchmarks/pretrain/pretrain.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub pretrain --settings {params.settings:q} --faces {params.faces}"
        " --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"


rule train_actor:
    """The per-actor model (warm start): both decoders on the actor crops of all the actor's shots."""
    input:
        crops=actor_crops_of,
        self_pairs=self_pairs_of,
        init=pretrained_model(),
    output:
        model="work/actors/{actor}/swapper/model.pt",
        losses="work/actors/{actor}/swapper/losses.csv",
    params:
        settings=swapper_settings(iterations=PRESET["warm_start"]["actor_iterations"]),
        crops=lambda wildcards, input: " ".join(shlex.quote(c) for c in input.crops),
        self_pairs=lambda wildcards, input: " ".join(shlex.quote(c) for c in input.self_pairs),
        init=init_argument,
    threads: 2
    log:
        "logs/actors/{actor}/train_actor.log",
    benchmark:
        "benchmarks/actors/{actor}/train_actor.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub train-actor --actor {wildcards.actor:q} --settings {params.settings:q} {params.init}"
        " --crops {params.crops} --self-pairs {params.self_pairs} --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"


rule train_swapper:
    """The identity-swapping network (GPU on a cluster); resumes from its checkpoint after a kill.

    With `warm_start: true` it fine-tunes the actor's model for the preset's
    `warm_start.finetune_iterations`; else it trains for `train.iterations`, from the
    generic pretrained model when `pretrain_faces` is set, else from scratch.
    """
    input:
        crops="work/{shot}/crops.npz",
        self_pairs="work/{shot}/self_pairs.npz",
        init=actor_model_of,
    output:
        model="work/{shot}/swapper/model.pt",
        losses="work/{shot}/swapper/losses.csv",
    params:
        settings=swapper_settings(**({"iterations": PRESET["warm_start"]["finetune_iterations"]}
                                     if config["warm_start"] else {})),
        init=init_argument,
    threads: 2
    log:
        "logs/{shot}/train_swapper.log",
    benchmark:
        "benchmarks/{shot}/train_swapper.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub train-swapper --shot {wildcards.shot:q} --settings {params.settings:q} {params.init}"
        " --crops {input.crops:q} --self-pairs {input.self_pairs:q}"
        " --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"
