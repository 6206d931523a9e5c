rule demo_input:
    """The embedded demo's clips, synthesised from scikit-image's astronaut photograph."""
    output:
        actor="resources/demo/actor.mp4",
        dubber="resources/demo/dubber.mp4",
    log:
        "logs/demo_input.log",
    benchmark:
        "benchmarks/demo_input.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub demo --out-actor {output.actor:q} --out-dubber {output.dubber:q} 2> {log:q}"
