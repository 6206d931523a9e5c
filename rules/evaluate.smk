rule evaluate:
    """PSNR and SSIM against the actor video, LMD of the mouth against the dubber (output, actor, composite)."""
    input:
        actor_frames="work/{shot}/ingest/actor.npy",
        output_frames="work/{shot}/sr/frames.npy",
        composite="work/{shot}/align/composite.npy",
        actor_mesh="work/{shot}/mesh/actor.npz",
        dubber_mesh="work/{shot}/mesh/dubber.npz",
        crops="work/{shot}/crops.npz",
    output:
        metrics="results/{shot}/metrics.json",
    params:
        settings=settings("face_mesh"),
    log:
        "logs/{shot}/evaluate.log",
    benchmark:
        "benchmarks/{shot}/evaluate.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub evaluate --shot {wildcards.shot} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --output-frames {input.output_frames:q}"
        " --composite-frames {input.composite:q}"
        " --actor-mesh {input.actor_mesh:q} --dubber-mesh {input.dubber_mesh:q} --crops {input.crops:q}"
        " --out {output.metrics:q} 2> {log:q}"
