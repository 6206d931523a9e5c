"""The sample sheet: shot-id rules, path resolution, and input checks naming shot and file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vdub.core.errors import ShotError
from vdub.core.samples import (
    check_input_files,
    load_samples,
    parse_samples,
    reels,
    stacked_under,
    validate_shot_id,
)


@pytest.mark.parametrize("good", ["shot_010", "A-1", "take2.v3", "0abc"])
def test_valid_ids_pass(good):
    assert validate_shot_id(good) == good


@pytest.mark.parametrize("bad", ["shot 1", "a/b", "..", "a..b", ".hidden", "", "plan_é", "x" * 65, 12, None, "a\\b",
                                 "abc\n"])
def test_invalid_ids_rejected(bad):
    with pytest.raises(ShotError, match="invalid shot id"):
        validate_shot_id(bad)


@pytest.mark.parametrize("reserved", ["actors", "pretrain", "conformed"])
def test_the_projects_own_folders_are_no_shot_ids(reserved):
    import re

    from vdub.core.samples import SHOT_WILDCARD

    with pytest.raises(ShotError, match="project's own folders"):
        validate_shot_id(reserved)
    # The workflow's wildcard matches any valid shot as a folder of a path, never those folders.
    path = re.compile(rf"work/(?P<shot>{SHOT_WILDCARD})/swapper/model.pt")
    assert path.fullmatch("work/actors_2/swapper/model.pt") and path.fullmatch("work/sc001.v2/swapper/model.pt")
    assert not path.fullmatch(f"work/{reserved}/swapper/model.pt")


def _sheet(tmp_path: Path, shots: list[dict]) -> Path:
    path = tmp_path / "samples.yaml"
    path.write_text(yaml.safe_dump({"shots": shots}))
    return path


def _media(tmp_path: Path, name: str, content: bytes = b"x") -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def test_paths_resolved_relative_to_sheet(tmp_path, monkeypatch):
    sub = tmp_path / "project"
    sub.mkdir()
    _media(sub, "a.mp4")
    _media(sub, "d.mp4")
    sheet = _sheet(sub, [{"id": "s1", "actor": "ann", "actor_video": "a.mp4", "dubber_video": "d.mp4"}])
    monkeypatch.chdir(tmp_path)
    (shot,) = load_samples(sheet)
    assert shot.actor_video == "project/a.mp4"
    assert shot.audio is None and shot.reference_frame is None


def test_missing_file_names_shot_and_file(tmp_path):
    _media(tmp_path, "a.mp4")
    sheet = _sheet(tmp_path, [{"id": "s1", "actor": "ann", "actor_video": "a.mp4", "dubber_video": "missing take.mp4"}])
    shots = load_samples(sheet)
    with pytest.raises(ShotError) as err:
        check_input_files(shots)
    assert "shot 's1'" in str(err.value) and "missing take.mp4" in str(err.value) and "not found" in str(err.value)


def test_empty_file_rejected(tmp_path):
    _media(tmp_path, "a.mp4")
    _media(tmp_path, "d.mp4", b"")
    entry = {"id": "s2", "actor": "ann", "actor_video": "a.mp4", "dubber_video": "d.mp4"}
    shots = load_samples(_sheet(tmp_path, [entry]))
    with pytest.raises(ShotError, match=r"shot 's2'.*d\.mp4.*empty"):
        check_input_files(shots)


def test_generated_paths_need_not_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shots = parse_samples({"shots": [{"id": "demo", "actor": "a", "actor_video": "resources/demo/actor.mp4",
                                      "dubber_video": "resources/demo/dubber.mp4"}]}, tmp_path)
    check_input_files(shots, generated={"resources/demo/actor.mp4", "resources/demo/dubber.mp4"})


@pytest.mark.parametrize("entry, message", [
    ({"id": "s", "actor": "a", "actor_video": "x.mp4"}, "missing 'dubber_video'"),
    ({"id": "s", "actor": "a b", "actor_video": "x", "dubber_video": "y"}, "invalid actor id"),
    ({"id": "s", "actor": "a", "actor_video": "x", "dubber_video": "y", "reference_frame": -1}, "reference_frame"),
    ({"id": "s", "actor": "a", "actor_video": "x", "dubber_video": "y", "colour": 1}, "unknown fields"),
    ({"id": "s", "actor": "a", "actor_video": "x", "dubber_video": "y", "face": "middle"},
     r"shot 's': face must be one of \['largest', 'central', 'left', 'right'\], got 'middle'"),
    ({"id": "s", "actor": "a", "actor_video": "x", "dubber_video": "y", "actor_face": 3}, "actor_face must be"),
])
def test_bad_entries(tmp_path, entry, message):
    with pytest.raises(ShotError, match=message):
        parse_samples({"shots": [entry]}, tmp_path)


def test_face_choice_and_still(tmp_path, monkeypatch):
    """A shot's ``face`` rule and its still of the actor (relative to the sheet, like every path, and an input
    file checked with the others)."""
    sub = tmp_path / "project"
    sub.mkdir()
    for name in ("a.mp4", "d.mp4"):
        _media(sub, name)
    entry = {"id": "s1", "actor": "ann", "actor_video": "a.mp4", "dubber_video": "d.mp4", "face": "left",
             "actor_face": "stills/ann.png"}
    monkeypatch.chdir(tmp_path)
    (shot,) = load_samples(_sheet(sub, [entry]))
    assert (shot.face, shot.actor_face) == ("left", "project/stills/ann.png")
    assert shot.input_files()["actor_face"] == "project/stills/ann.png"
    with pytest.raises(ShotError, match=r"shot 's1': project/stills/ann\.png: actor_face not found"):
        check_input_files([shot])
    (plain,) = parse_samples({"shots": [{k: entry[k] for k in ("id", "actor", "actor_video", "dubber_video")}]}, sub)
    assert plain.face is None and plain.actor_face is None and "actor_face" not in plain.input_files()


def test_a_two_shot_stacks_shots_of_the_same_frames(tmp_path):
    """``over``: another shot of the sheet, of the same frames, not in a circle; the base is the one under."""
    def shot(shot_id, **extra):
        return {"id": shot_id, "actor": shot_id, "actor_video": "two.mp4", "dubber_video": f"{shot_id}.mp4",
                "actor_in": 0, "actor_out": 60, **extra}

    shots = parse_samples({"shots": [shot("a"), shot("b", over="a"), shot("c", over="b")]}, tmp_path)
    assert [s.over for s in shots] == [None, "a", "b"] and stacked_under(shots) == {"a", "b"}
    for entries, message in (
            ([shot("a"), shot("b", over="x")], "shot 'b': over must name another shot of the sheet, got 'x'"),
            ([shot("a", over="a")], "shot 'a': over must name another shot"),
            ([shot("a"), shot("b", over="a", actor_out=50)], "shot 'b': over 'a': .* actor_out differ"),
            ([shot("a"), dict(shot("b", over="a"), actor_video="other.mp4")], "actor_video differ"),
            ([shot("a", over="b"), shot("b", over="a")], r"composited onto each other in a circle")):
        with pytest.raises(ShotError, match=message):
            parse_samples({"shots": entries}, tmp_path)


def test_duplicate_ids(tmp_path):
    entry = {"id": "s", "actor": "a", "actor_video": "x", "dubber_video": "y"}
    with pytest.raises(ShotError, match="duplicate"):
        parse_samples({"shots": [entry, entry]}, tmp_path)


def test_actor_ranges_are_frame_numbers_or_timecodes(tmp_path):
    base = {"id": "s1", "actor": "a", "actor_video": "a.mp4", "dubber_video": "d.mp4"}
    shots = parse_samples({"shots": [{**base, "actor_in": 10, "actor_out": "01:00:02:00"}, {**base, "id": "s2"}]},
                          tmp_path)
    assert (shots[0].actor_in, shots[0].actor_out) == (10, "01:00:02:00")
    assert (shots[1].actor_in, shots[1].actor_out) == (None, None)  # a whole clip, as before
    for bad, message in (({"actor_in": -1}, "actor_in must be a frame number"),
                         ({"actor_out": "1:00:02"}, "actor_out must be a frame number"),
                         ({"actor_in": True}, "actor_in must be a frame number"),
                         ({"actor_in": 20, "actor_out": 20}, r"actor_out \(20\) must be after actor_in \(20\)"),
                         ({"handles": -1}, r"handles must be a frame count \(>= 0\) or \[head, tail\], got -1"),
                         ({"handles": [1]}, "handles must be"), ({"handles": "3"}, "handles must be"),
                         ({"actor_in": 10, "actor_out": 20, "handles": [5, 5]},
                          r"handles \[5, 5\] leave no frame of the range \[10, 20\)"),
                         ({"reel_video": "reel.mov"}, "reel_video and reel_in go together"),
                         ({"reel_video": "reel.mov", "reel_in": "1:00"}, "reel_in must be a frame number")):
        with pytest.raises(ShotError, match=message) as err:
            parse_samples({"shots": [{**base, **bad}]}, tmp_path)
        assert "s1" in str(err.value)


def test_unquoted_timecodes_stay_timecodes(tmp_path):
    # YAML 1.1 reads 10:00:01:00 as the base-60 number 2160060: the sheet must not.
    path = tmp_path / "samples.yaml"
    path.write_text("shots:\n  - {id: s1, actor: a, actor_video: a.mp4, dubber_video: d.mp4, actor_in: 10:00:01:00, "
                    "actor_out: 1500, reference_frame: 3}\n")
    shot = load_samples(path)[0]
    assert (shot.actor_in, shot.actor_out, shot.reference_frame) == ("10:00:01:00", 1500, 3)


def test_shots_go_back_into_their_reel(tmp_path):
    """A range of the actor video goes back into that video; a shot of a camera source into its reel_video;
    a whole clip into none."""
    base = {"actor": "a", "dubber_video": "d.mp4"}
    shots = parse_samples({"shots": [
        {**base, "id": "s1", "actor_video": "reel.mov", "actor_in": 0, "actor_out": 10},
        {**base, "id": "s2", "actor_video": "A001.mov", "actor_in": 5, "actor_out": 30, "handles": [5, 3],
         "reel_video": "reel.mov", "reel_in": "01:00:00:10"},
        {**base, "id": "s3", "actor_video": "clip.mov"}]}, tmp_path)
    assert shots[1].handles == (5, 3) and shots[0].handles == (0, 0) and shots[2].reel is None
    assert reels(shots) == {"reel": (shots[0].actor_video, ["s1", "s2"])}
    assert shots[1].input_files()["reel_video"] == shots[0].actor_video
