# Paper 2.1: the virtual dubber, the actor's reference frame driven by the dubber (virtual_dubber).


rule virtual_dubber:
    """The actor's reference frame animated with the dubber's mouth (static background).

    One rule for both backends; the shot's backend (config `virtual_dubber`, or the shot's
    `virtual_dubber` in samples.yaml) arrives in the settings. builtin: warps the reference
    frame from the face meshes. liveportrait: runs the studio's LivePortrait checkout on the
    reference frame and the conformed dubber frames (it needs `info` for the frame rate).
    LivePortrait's own files (its `.pkl` beside the driving video, its `_concat.mp4`) are
    written in a private temporary folder that vdub removes, so no shadow directory is
    needed and the .npy is the only output.
    """
    input:
        actor_frames=ACTOR_FRAMES,
        actor_mesh=ACTOR_MESH,
        dubber_frames=DUBBER_FRAMES,
        dubber_mesh=DUBBER_MESH,
        reference=REFERENCE,
        info=SHOT_INFO,
        visibility=VISIBILITY,
    output:
        frames=VD_FRAMES,
    log:
        "logs/{shot}/virtual_dubber.log",
    benchmark:
        "benchmarks/{shot}/virtual_dubber.tsv"
    # face.yaml for both backends: the vdub side (decoding, conversion, the builtin warp)
    # runs here. LivePortrait runs in its own environment (envs/liveportrait.yaml: Python
    # 3.10, its torch and onnxruntime pins), which the studio creates once and names in
    # `liveportrait.python`; vdub calls that interpreter, so the two dependency sets never
    # have to resolve together.
    conda:
        "../envs/face.yaml"
    params:
        # The shot's backend (its own in samples.yaml, else config `virtual_dubber`) and that backend's numbers only,
        # so that changing LivePortrait's settings re-runs no builtin shot (nor a builtin number a LivePortrait one).
        settings=shot_settings("virtual_dubber"),
    shell:
        "python -m vdub virtual-dubber --shot {wildcards.shot:q} --settings {params.settings:q}"
        " --actor-frames {input.actor_frames:q} --actor-mesh {input.actor_mesh:q}"
        " --dubber-frames {input.dubber_frames:q} --dubber-mesh {input.dubber_mesh:q}"
        " --reference {input.reference:q} --info {input.info:q} --out {output.frames:q}"
        " --visibility {input.visibility:q} 2> {log:q}"
