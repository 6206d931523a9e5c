# Paper 2.1, 3D face reconstruction: the face mesh of the actor, the dubber and the virtual dubber (face_geometry).
# The actor's has its own rule: which face is the actor's is the shot's choice (samples.yaml: face, actor_face).


rule actor_face_geometry:
    """478-point face mesh per actor frame, following the shot's choice of face (by rule, or by a still)."""
    input:
        frames=ACTOR_FRAMES,
        still=actor_face_still,
    output:
        mesh=ACTOR_MESH,
    log:
        "logs/{shot}/face_geometry_actor.log",
    benchmark:
        "benchmarks/{shot}/face_geometry_actor.tsv"
    conda:
        "../envs/face.yaml"
    params:
        settings=shot_settings("actor_face_geometry"),
        actor_face=actor_face_option,
    shell:
        "python -m vdub face-geometry --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --frames {input.frames:q} {params.actor_face} --out {output.mesh:q} 2> {log:q}"


rule face_geometry:
    """478-point face mesh per frame of the dubber or the virtual dubber (the face where the actor's is in the
    reference frame: in a two-shot, not the other person's)."""
    input:
        frames=lambda wildcards: FRAMES[wildcards.role].format(shot=wildcards.shot),
        follow=follow_inputs,
    output:
        mesh=MESH,
    log:
        "logs/{shot}/face_geometry_{role}.log",
    benchmark:
        "benchmarks/{shot}/face_geometry_{role}.tsv"
    wildcard_constraints:
        role="dubber|virtual_dubber",
    conda:
        "../envs/face.yaml"
    params:
        settings=settings("face_geometry"),
        follow=follow_option,
    shell:
        "python -m vdub face-geometry --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --frames {input.frames:q} {params.follow} --out {output.mesh:q} 2> {log:q}"
