# Paper 2.3, identity-specific super-resolution: train the upscaler, upscale and paste (train_sr, super_resolution).

# The GPEN weights file as a list, when the preset's SR backend uses it (else empty).
GPEN_INPUT = [GPEN_WEIGHTS] if GPEN_WEIGHTS and PRESET["sr"]["backend"] == "gpen" else []


rule train_sr:
    """Identity-specific upscaler trained on the actor's own frames (GPU on a cluster); held-out scores."""
    input:
        actor_frames=ACTOR_FRAMES,
        crops=CROPS,
        swapper=SWAPPER_MODEL,
        gpen_weights=GPEN_INPUT,
    output:
        model=SR_MODEL,
        losses=SR_LOSSES,
        holdout=SR_HOLDOUT,
    log:
        "logs/{shot}/train_sr.log",
    benchmark:
        "benchmarks/{shot}/train_sr.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    params:
        # The preset's sr block with the configured GPEN weights; no paste setting, so that one never
        # retrains the upscaler.
        settings=settings("train_sr"),
    shell:
        "python -m vdub train-sr --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --crops {input.crops:q} --swapper {input.swapper:q}"
        " --out-model {output.model:q} --out-losses {output.losses:q} --out-holdout {output.holdout:q} 2> {log:q}"


rule super_resolution:
    """The swapped heads upscaled, colour-matched, stabilised and pasted at full resolution."""
    input:
        actor_frames=ACTOR_FRAMES,
        composite=COMPOSITE,
        crops=CROPS,
        model=SR_MODEL,
        swapped=SWAPPED,
        occluders=OCCLUDERS,
        visibility=VISIBILITY,
    output:
        frames=OUTPUT_FRAMES,
        matte=MATTE_FRAMES,
    log:
        "logs/{shot}/super_resolution.log",
    benchmark:
        "benchmarks/{shot}/super_resolution.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 2
    params:
        # Colour matching and stabilisation of the pasted head, and the preset's paste form.
        settings=settings("super_resolution"),
    shell:
        "python -m vdub super-resolution --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --composite-frames {input.composite:q} --crops {input.crops:q}"
        " --model {input.model:q} --swapped {input.swapped:q} --out-frames {output.frames:q}"
        " --out-matte {output.matte:q}"
        " --occluders {input.occluders:q} --visibility {input.visibility:q} 2> {log:q}"
