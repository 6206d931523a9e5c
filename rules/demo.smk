# Infrastructure: the embedded demo's input clips (demo_input).


rule demo_input:
    """The embedded demo's clips, synthesised from scikit-image's astronaut photograph."""
    output:
        actor=DEMO_ACTOR_VIDEO,
        dubber=DEMO_DUBBER_VIDEO,
    log:
        "logs/demo_input.log",
    benchmark:
        "benchmarks/demo_input.tsv"
    conda:
        "../envs/face.yaml"
    shell:
        "python -m vdub demo --out-actor {output.actor:q} --out-dubber {output.dubber:q} 2> {log:q}"
