rule train_swapper:
    """The identity-swapping network (GPU on a cluster); resumes from its checkpoint after a kill."""
    input:
        crops="work/{shot}/crops.npz",
    output:
        model="work/{shot}/swapper/model.pt",
        losses="work/{shot}/swapper/losses.csv",
    params:
        settings=json.dumps(
            {
                "crop_size": PRESET["crop_size"],
                "swapper": PRESET["swapper"],
                "train": PRESET["train"],
                "losses": config["losses"],
            },
            sort_keys=True,
        ),
    threads: 2
    log:
        "logs/{shot}/train_swapper.log",
    benchmark:
        "benchmarks/{shot}/train_swapper.tsv"
    conda:
        "../envs/torch.yaml"
    shell:
        "python -m vdub train-swapper --shot {wildcards.shot} --settings {params.settings:q}"
        " --crops {input.crops:q} --out-model {output.model:q} --out-losses {output.losses:q} 2> {log:q}"
