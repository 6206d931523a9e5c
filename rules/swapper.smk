# Paper 2.2, identity swapping: the swapper trained generic, per actor, per shot (pretrain, train_actor, train_swapper).

# The generic pretrained model as a list (empty without `pretrain_faces`).
PRETRAINED = [PRETRAIN_MODEL] if PRETRAIN_FACES else []


rule pretrain:
    """Generic pretraining of the swapper on the `pretrain_faces` folder (the paper's CelebA-HQ stage)."""
    input:
        faces=lambda wildcards: PRETRAIN_IMAGES,
    output:
        model=PRETRAIN_MODEL,
        losses=PRETRAIN_LOSSES,
    log:
        "logs/pretrain/pretrain.log",
    benchmark:
        "benchmarks/pretrain/pretrain.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    params:
        settings=settings("pretrain"),
        faces=lambda wildcards: shlex.quote(PRETRAIN_FACES),
    shell:
        "python -m vdub pretrain --settings {params.settings:q} --faces {params.faces}"
        " --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"


rule train_actor:
    """The per-actor model (warm start): both decoders on the actor crops of all the actor's shots."""
    input:
        crops=lambda wildcards: [ACTOR_CROPS.format(shot=s) for s in SHOTS_OF_ACTOR[wildcards.actor]],
        self_pairs=lambda wildcards: [SELF_PAIRS.format(shot=s) for s in SHOTS_OF_ACTOR[wildcards.actor]],
        init=PRETRAINED,
    output:
        model=ACTOR_MODEL,
        losses=ACTOR_LOSSES,
    log:
        "logs/actors/{actor}/train_actor.log",
    benchmark:
        "benchmarks/actors/{actor}/train_actor.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    params:
        settings=settings("train_actor"),
        crops=lambda wildcards, input: " ".join(shlex.quote(c) for c in input.crops),
        self_pairs=lambda wildcards, input: " ".join(shlex.quote(c) for c in input.self_pairs),
        # ``--init <model>`` when the rule starts from another model.
        init=lambda wildcards, input: f"--init {shlex.quote(input.init[0])}" if input.init else "",
    shell:
        "python -m vdub train-actor --actor {wildcards.actor:q} --settings {params.settings:q} {params.init}"
        " --crops {params.crops} --self-pairs {params.self_pairs} --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"


rule train_swapper:
    """The identity-swapping network (GPU on a cluster); resumes from its checkpoint after a kill.

    A shot of a warm actor (WARM_ACTORS) fine-tunes the actor's model for at most the preset's
    `warm_start.finetune_iterations`; else it trains for at most `train.iterations`, from the
    generic pretrained model when `pretrain_faces` is set, else from scratch.
    """
    input:
        crops=CROPS,
        self_pairs=SELF_PAIRS,
        # What the shot's swapper fine-tunes from: the actor's model, else the generic one, else nothing.
        init=lambda wildcards: [ACTOR_MODEL.format(actor=shot_of(wildcards).actor)] if warm(wildcards) else PRETRAINED,
    output:
        model=SWAPPER_MODEL,
        losses=SWAPPER_LOSSES,
    log:
        "logs/{shot}/train_swapper.log",
    benchmark:
        "benchmarks/{shot}/train_swapper.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    params:
        settings=warm_settings("train_swapper"),
        # ``--init <model>`` when the rule starts from another model.
        init=lambda wildcards, input: f"--init {shlex.quote(input.init[0])}" if input.init else "",
    shell:
        "python -m vdub train-swapper --shot {wildcards.shot:q} --settings {params.settings:q} {params.init}"
        " --crops {input.crops:q} --self-pairs {input.self_pairs:q}"
        " --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"
