# Two-shots: a shot's dub composited onto the delivered picture of the shot it is `over` (stack).


rule stack:
    """This shot's dubbed face composited onto the other shot's delivered picture: both faces dubbed."""
    input:
        base_frames=lambda wildcards: delivered_frames(SHOTS[wildcards.shot].over),
        base_matte=lambda wildcards: delivered_matte(SHOTS[wildcards.shot].over),
        frames=OUTPUT_FRAMES,
        matte=MATTE_FRAMES,
    output:
        frames=STACKED_FRAMES,
        matte=STACKED_MATTE,
    log:
        "logs/{shot}/stack.log",
    benchmark:
        "benchmarks/{shot}/stack.tsv"
    conda:
        "../envs/video.yaml"
    shell:
        "python -m vdub stack --shot {wildcards.shot:q}"
        " --base-frames {input.base_frames:q} --base-matte {input.base_matte:q}"
        " --frames {input.frames:q} --matte {input.matte:q}"
        " --out-frames {output.frames:q} --out-matte {output.matte:q} 2> {log:q}"
