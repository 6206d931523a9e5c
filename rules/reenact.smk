# Paper 2.2, full-head reenactment: the composite through the actor decoder, the head pasted back (reenact).


rule reenact:
    """Composite crops through the actor decoder; the head pasted back with the head mask (the preset's paste)."""
    input:
        actor_frames=ACTOR_FRAMES,
        composite=COMPOSITE,
        crops=CROPS,
        model=SWAPPER_MODEL,
        occluders=OCCLUDERS,
        visibility=VISIBILITY,
    output:
        swapped=SWAPPED,
        frames=REENACT_FRAMES,
    log:
        "logs/{shot}/reenact.log",
    benchmark:
        "benchmarks/{shot}/reenact.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    params:
        settings=settings("reenact"),
    shell:
        "python -m vdub reenact --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --composite-frames {input.composite:q} --crops {input.crops:q} --model {input.model:q}"
        " --out-swapped {output.swapped:q} --out-frames {output.frames:q}"
        " --occluders {input.occluders:q} --visibility {input.visibility:q} 2> {log:q}"
