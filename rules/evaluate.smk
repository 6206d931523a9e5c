# Paper Table 1, evaluation: the shot's metrics, of each variant against the actor video and the dubber (evaluate).


rule evaluate:
    """The shot's metric table: actor, composite, reenact and output against the actor video and the dubber."""
    input:
        actor_frames=ACTOR_FRAMES,
        composite=COMPOSITE,
        reenact_frames=REENACT_FRAMES,
        output_frames=OUTPUT_FRAMES,
        actor_mesh=ACTOR_MESH,
        dubber_mesh=DUBBER_MESH,
        crops=CROPS,
        model=SWAPPER_MODEL,
        self_pairs=SELF_PAIRS,
        visibility=VISIBILITY,
        # The configured LPIPS / FID weight files (checked in validate.smk): a new file re-scores.
        weights=[config["evaluation"][k] for k in ("lpips_weights", "fid_weights") if config["evaluation"][k]],
    output:
        metrics=METRICS,
        qc_thumbnails=QC_THUMBNAILS,
    log:
        "logs/{shot}/evaluate.log",
    benchmark:
        "benchmarks/{shot}/evaluate.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: 2
    params:
        settings=settings("evaluate"),
    shell:
        "python -m vdub evaluate --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --composite-frames {input.composite:q}"
        " --reenact-frames {input.reenact_frames:q} --output-frames {input.output_frames:q}"
        " --actor-mesh {input.actor_mesh:q} --dubber-mesh {input.dubber_mesh:q} --crops {input.crops:q}"
        " --model {input.model:q} --self-pairs {input.self_pairs:q} --visibility {input.visibility:q}"
        " --out {output.metrics:q} --out-qc-thumbnails {output.qc_thumbnails:q} 2> {log:q}"
