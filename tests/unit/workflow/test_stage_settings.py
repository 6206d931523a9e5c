"""Each stage's settings, built from the config in one place (vdub.workflow.settings): every number from
config.yaml, each stage only its own, read back by the command line as the same dataclass. Seconds, no media."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys

import pytest
import yaml
from support import REPO

from vdub.cli.main import main
from vdub.core.samples import Shot
from vdub.workflow.settings import (
    STAGES,
    BuiltinDubberSettings,
    LivePortraitDubberSettings,
    MuxSettings,
    StageSettings,
    TrainSwapperSettings,
    stage_settings,
)

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SHOT = Shot(id="s1", actor="a", actor_video="actor.mp4", dubber_video="dubber.mp4")
LIVEPORTRAIT_SHOT = dataclasses.replace(SHOT, id="s2", virtual_dubber="liveportrait")


def every_stage(config: dict, shot: Shot = SHOT) -> dict[str, str]:
    """Rule -> its settings' JSON, as the rules pass them."""
    return {stage: stage_settings(config, stage, shot).to_json() for stage in STAGES}


def test_every_rule_with_settings_names_a_stage_that_has_them():
    """The rules' ``settings("<rule>")`` / ``shot_settings("<rule>")`` / ``warm_settings("<rule>")`` calls, read
    from rules/*.smk: each names its own rule, and every stage the builder knows is some rule's."""
    called = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for rule, body in re.findall(r"(?ms)^rule (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text()):
            calls = re.findall(r"\bsettings=(?:shot_|warm_)?settings\(\"(\w+)\"\)", body)
            called.update({rule: stage for stage in calls})
    assert called == {stage: stage for stage in STAGES}


@pytest.mark.parametrize("preset", sorted(CONFIG["presets"]))
def test_config_yaml_gives_every_stage_every_number(preset):
    """Each preset builds every stage's settings (a missing key would fail), and the JSON reads back as the
    same dataclass."""
    config = {**CONFIG, "preset": preset}
    for shot in (SHOT, LIVEPORTRAIT_SHOT):
        for stage in STAGES:
            settings = stage_settings(config, stage, shot)
            assert type(settings).from_json(settings.to_json()) == settings, stage


def test_no_stage_settings_has_a_default():
    """Defaults live in config.yaml only: a stage's dataclass takes every field from the config."""
    classes = {type(stage_settings(CONFIG, stage, shot)) for stage in STAGES for shot in (SHOT, LIVEPORTRAIT_SHOT)}
    assert len(classes) >= 20
    for cls in classes:
        assert issubclass(cls, StageSettings)
        for field in dataclasses.fields(cls):
            assert field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING, \
                (cls.__name__, field.name)


def test_a_missing_key_names_its_section():
    config = copy.deepcopy(CONFIG)
    del config["presets"]["preview"]["train"]["lr"]
    with pytest.raises(ValueError, match=r"presets\.preview\.train: TrainConfig settings \['lr'\] missing"):
        stage_settings(config, "train_swapper")
    del config["reenact"]["colour_window"]
    with pytest.raises(ValueError, match=r"reenact and presets\.preview\.paste: PasteConfig settings "
                                         r"\['colour_window'\] missing"):
        stage_settings(config, "super_resolution")


@pytest.mark.parametrize("change, expected", [
    # The paste: reenact and super_resolution paste with it; evaluate repairs the held-out frames with it.
    (lambda c: c["reenact"].update(colour_window=5), {"reenact", "super_resolution", "evaluate"}),
    # paste.detail also shapes the held-out repair the early stop scores: the trainings' settings carry it.
    (lambda c: c["presets"]["preview"]["paste"].update(detail=0.5), {"reenact", "super_resolution", "evaluate",
                                                                     "report", "train_actor", "train_swapper"}),
    # The preset's numbers: their stages, and the report that shows them.
    (lambda c: c["presets"]["preview"]["sr"].update(iterations=200), {"train_sr", "report"}),
    (lambda c: c["presets"]["preview"]["train"].update(batch_size=8),
     {"pretrain", "train_actor", "train_swapper", "report"}),
    # Pretraining has its own learning rate (presets.<p>.pretrain.lr).
    (lambda c: c["presets"]["preview"]["train"].update(lr=0.001), {"train_actor", "train_swapper", "report"}),
    (lambda c: c["presets"]["preview"]["warm_start"].update(finetune_iterations=10), {"report"}),
    (lambda c: c.update(warm_start=True), {"train_swapper"}),
    (lambda c: c["presets"]["preview"].update(crop_size=128),
     {"actor_crops", "pretrain", "train_actor", "train_swapper", "train_sr", "report"}),
    (lambda c: c.update(gpen_weights="GPEN-BFR-512.pth"), set()),  # the residual backend never reads it
    (lambda c: c["ingest"].update(max_frames=10), {"ingest_actor", "ingest_dubber"}),
    (lambda c: c["ingest"].update(conform="stretch"), {"ingest_dubber"}),
    (lambda c: c["smoothing"].update(pose_window=7), {"virtual_dubber", "align", "self_pairs"}),
    (lambda c: c["liveportrait"].update(driving_multiplier=1.5), set()),  # no LivePortrait shot
    (lambda c: c["mux"].update(crf=20), {"mux"}),
    (lambda c: c["finishing"].update(master="prores_422hq"), {"master"}),
    (lambda c: c["report"].update(preview_crf=30), {"side_by_side", "report"}),
    (lambda c: c["conform"].update(codec="ffv1"), {"conform"}),
    (lambda c: c["face_mesh"].update(max_jump=0.4), {"face_geometry", "actor_face_geometry", "self_pairs",
                                                     "evaluate"}),
    (lambda c: c["face_identity"].update(verify_every=5), set()),  # no still of the actor in this shot
])
def test_a_changed_number_changes_only_its_stages_settings(change, expected):
    """The params side of tests/workflow/test_workflow.py::test_a_changed_number_reruns_only_what_depends_on_it:
    a stage's settings change (and the stage re-runs) only for numbers it reads."""
    config = copy.deepcopy(CONFIG)
    change(config)
    before, after = every_stage(CONFIG), every_stage(config)
    assert {stage for stage in before if before[stage] != after[stage]} == expected


def test_each_virtual_dubber_backend_gets_only_its_own_numbers():
    builtin = stage_settings(CONFIG, "virtual_dubber", SHOT)
    live = stage_settings(CONFIG, "virtual_dubber", LIVEPORTRAIT_SHOT)
    assert isinstance(builtin, BuiltinDubberSettings) and builtin.backend == "builtin"
    assert isinstance(live, LivePortraitDubberSettings) and set(json.loads(live.to_json())) == {"backend",
                                                                                               "liveportrait"}
    config = copy.deepcopy(CONFIG)
    config["virtual_dubber"] = "liveportrait"  # the project's default; a shot's own choice wins
    assert stage_settings(config, "virtual_dubber", SHOT) == live
    assert stage_settings(config, "virtual_dubber", dataclasses.replace(SHOT, virtual_dubber="builtin")) == builtin
    with pytest.raises(ValueError, match="no shot given"):
        stage_settings(CONFIG, "virtual_dubber")


def test_the_actors_face_is_the_shots_choice():
    """A shot's ``face`` replaces face_mesh.choose for its actor's track only; the identity numbers reach only a
    shot with a still of the actor."""
    chosen = dataclasses.replace(SHOT, face="right")
    still = dataclasses.replace(SHOT, actor_face="stills/ann.png")
    assert stage_settings(CONFIG, "actor_face_geometry", SHOT).face_mesh.choose == CONFIG["face_mesh"]["choose"]
    assert stage_settings(CONFIG, "actor_face_geometry", chosen).face_mesh.choose == "right"
    assert stage_settings(CONFIG, "face_geometry", chosen).face_mesh.choose == CONFIG["face_mesh"]["choose"]
    assert stage_settings(CONFIG, "actor_face_geometry", SHOT).face_identity is None
    identity = stage_settings(CONFIG, "actor_face_geometry", still)
    assert identity.face_identity.threshold == CONFIG["face_identity"]["threshold"] == 0.6
    assert type(identity).from_json(identity.to_json()) == identity
    config = copy.deepcopy(CONFIG)
    config["face_identity"].update(verify_every=5)
    before, after = every_stage(CONFIG, still), every_stage(config, still)
    assert {stage for stage in before if before[stage] != after[stage]} == {"actor_face_geometry"}
    with pytest.raises(ValueError, match="no shot given"):
        stage_settings(CONFIG, "actor_face_geometry")


def test_warm_start_auto_gives_an_actor_a_model_where_it_trains_fewer_steps():
    from vdub.workflow.settings import warm_actors

    counts = {"lead": 12, "two": 2, "three": 3, "once": 1}
    # preview: 300 + k * 150 < k * 300 from three shots on; studio: 20000 + k * 2000 < k * 20000 from two.
    assert warm_actors(CONFIG, counts) == {"lead", "three"}
    assert warm_actors({**CONFIG, "preset": "studio"}, counts) == {"lead", "three", "two"}
    assert warm_actors({**CONFIG, "warm_start": True}, counts) == set(counts)
    assert warm_actors({**CONFIG, "warm_start": False}, counts) == set()
    with pytest.raises(ValueError, match="true, false or auto"):
        warm_actors({**CONFIG, "warm_start": "yes"}, counts)


def test_warm_start_iterations_and_pretraining_numbers_go_over_the_train_block():
    preset = CONFIG["presets"]["preview"]
    assert stage_settings(CONFIG, "train_swapper").train.iterations == preset["train"]["iterations"]
    assert stage_settings({**CONFIG, "warm_start": True}, "train_swapper").train.iterations == \
        preset["warm_start"]["finetune_iterations"]
    assert stage_settings(CONFIG, "train_actor").train.iterations == preset["warm_start"]["actor_iterations"]
    pretrain = stage_settings(CONFIG, "pretrain").train
    assert (pretrain.iterations, pretrain.lr) == (preset["pretrain"]["iterations"], preset["pretrain"]["lr"])
    # The preset's losses over the config's: preview normalises by area, the paper's numbers stay.
    losses = stage_settings(CONFIG, "train_swapper").losses
    assert losses.area_normalised is True and losses.lambda_2 == CONFIG["losses"]["lambda_2"]


def test_gpen_weights_reach_only_the_gpen_backend(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {**CONFIG, "preset": "paper", "gpen_weights": "weights/GPEN-BFR-512.pth"}
    sr = stage_settings(config, "train_sr")
    assert sr.sr.gpen_weights == str(tmp_path / "weights" / "GPEN-BFR-512.pth")  # absolute, as the job's cwd may differ
    assert sr.sr.in_size == CONFIG["presets"]["paper"]["crop_size"] and sr.holdout_every == 10
    assert stage_settings({**config, "preset": "preview"}, "train_sr").sr.gpen_weights is None


def test_the_command_line_reads_what_the_workflow_writes(tmp_path, capsys):
    """A stage's --settings must be its dataclass whole: a missing or unknown key is a one-line error."""
    settings = json.loads(stage_settings(CONFIG, "mux").to_json())
    assert MuxSettings.from_json(json.dumps(settings)) == MuxSettings(crf=18, odd_size="exact")
    args = ["mux", "--shot", "s1", "--frames", "f.npy", "--audio", "a.wav", "--info", "i.json",
            "--out", str(tmp_path / "out.mp4")]
    del settings["crf"]
    assert main([*args, "--settings", json.dumps(settings)]) == 2
    assert "shot 's1': --settings: MuxSettings: settings ['crf'] missing" in capsys.readouterr().err
    train = json.loads(stage_settings(CONFIG, "train_swapper").to_json())
    train["train"]["iterations_typo"] = train["train"].pop("iterations")
    with pytest.raises(ValueError, match=r"train: TrainConfig settings \['iterations'\] missing and "
                                         r"\['iterations_typo'\] unknown"):
        TrainSwapperSettings.from_json(json.dumps(train))


def test_the_settings_builder_stays_light():
    """The Snakefile imports it at every start: no torch, OpenCV, MediaPipe, LPIPS or SciPy."""
    heavy = ("torch", "cv2", "mediapipe", "lpips", "scipy")
    code = f"import sys, vdub.workflow.settings; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
