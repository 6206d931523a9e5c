"""From the editor's timeline to a sample sheet: a reel cut from the shared clips and the EDL written
for it give the expected sheet; bad edit lists fail with one line naming the event; cut detection on
the same reel finds its cuts."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from support import REEL_SHOTS, make_reel, needs_media

from vdub.core.errors import ShotError
from vdub.core.samples import load_samples
from vdub.editorial.cuts import detect_cuts
from vdub.editorial.stages import sheet

pytestmark = [pytest.mark.media, needs_media]
NAMES = ("sc01_anna.mov", "sc01_wall.mov", "sc02_ben.mov", "sc03_anna.mov", "sc04_carl.mov")


def _timecode(frame: int, fps: int = 30) -> str:
    return f"01:{frame // (60 * fps):02d}:{frame // fps % 60:02d}:{frame % fps:02d}"


def _edl(path, ranges, names=NAMES, record=None, reels=("AX",) * 5, hour="00") -> None:
    """A CMX 3600 EDL of the reel's shots: source timecodes of each clip (hour ``hour``, source reel ``reels``),
    record timecodes of the reel."""
    lines = ["TITLE: VDUB TEST REEL", "FCM: NON-DROP FRAME", ""]
    for k, ((start, end), name, (_, first, n), source) in enumerate(zip(record or ranges, names, REEL_SHOTS, reels), 1):
        src_in, src_out = _timecode(first)[3:], _timecode(first + end - start)[3:]
        lines += [f"{k:03d}  {source:<8} V     C        {hour}:{src_in} {hour}:{src_out} {_timecode(start)} "
                  f"{_timecode(end)}", f"* FROM CLIP NAME: {name}", ""]
    path.write_text("\n".join(lines))


@pytest.fixture(scope="module")
def reel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reel")
    ranges = make_reel(folder / "reel.mov")
    takes = folder / "takes"
    takes.mkdir()
    for name in NAMES[:3] + NAMES[4:]:  # sc03_anna has no take yet
        (takes / name.replace(".mov", "_fr.mp4")).write_bytes(b"take")
    return folder, ranges


def test_sheet_from_the_edl_is_the_expected_one(reel):
    folder, ranges = reel
    _edl(folder / "cut.edl", ranges)
    result = sheet(folder / "samples.yaml", folder / "reel.mov", "anna", edit_list=folder / "cut.edl",
                   takes="takes/{name}_fr.mp4")
    assert result == {"events": 5, "shots": 4, "without_take": ["sc03_anna"]}
    written = yaml.safe_load((folder / "samples.yaml").read_text())
    assert written == {"shots": [
        {"id": "sc01_anna", "actor": "anna", "actor_video": "reel.mov", "actor_in": "01:00:00:00",
         "actor_out": "01:00:01:15", "dubber_video": "takes/sc01_anna_fr.mp4"},
        {"id": "sc01_wall", "actor": "anna", "actor_video": "reel.mov", "actor_in": "01:00:01:15",
         "actor_out": "01:00:02:15", "dubber_video": "takes/sc01_wall_fr.mp4"},
        {"id": "sc02_ben", "actor": "anna", "actor_video": "reel.mov", "actor_in": "01:00:02:15",
         "actor_out": "01:00:03:25", "dubber_video": "takes/sc02_ben_fr.mp4"},
        {"id": "sc04_carl", "actor": "anna", "actor_video": "reel.mov", "actor_in": "01:00:05:10",
         "actor_out": "01:00:06:20", "dubber_video": "takes/sc04_carl_fr.mp4"}]}
    text = (folder / "samples.yaml").read_text()
    assert "#  - {id: sc03_anna, actor: anna, actor_video: reel.mov, actor_in: '01:00:03:25', " \
           "actor_out: '01:00:05:10', dubber_video: ???}" in text  # listed, not guessed
    # The sheet reads back as shots, each a range of the reel.
    shots = load_samples(folder / "samples.yaml")
    assert [(s.id, s.actor_in, s.actor_out) for s in shots][0] == ("sc01_anna", "01:00:00:00", "01:00:01:15")


def test_takes_from_a_csv(reel):
    folder, ranges = reel
    _edl(folder / "cut.edl", ranges)
    (folder / "takes.csv").write_text("event,dubber_video,audio\n3,takes/sc02_ben_fr.mp4,mix/ben.wav\n"
                                      "sc01_anna.mov,takes/sc01_anna_fr.mp4,\n")
    result = sheet(folder / "csv.yaml", folder / "reel.mov", "anna", edit_list=folder / "cut.edl",
                   takes_csv=folder / "takes.csv")
    assert result["without_take"] == ["sc01_wall", "sc03_anna", "sc04_carl"]
    shots = yaml.safe_load((folder / "csv.yaml").read_text())["shots"]
    assert [(s["id"], s["dubber_video"], s.get("audio")) for s in shots] == [
        ("sc01_anna", "takes/sc01_anna_fr.mp4", None), ("sc02_ben", "takes/sc02_ben_fr.mp4", "mix/ben.wav")]
    (folder / "bad.csv").write_text("event,dubber_video\n9,takes/x.mp4\n")
    with pytest.raises(ShotError, match=r"bad\.csv: line 2: event '9' is not in the edit list"):
        sheet(folder / "bad.yaml", folder / "reel.mov", "anna", edit_list=folder / "cut.edl",
              takes_csv=folder / "bad.csv")


@pytest.mark.parametrize("case, message", [
    ("outside", r"event 5 'sc04_carl.mov' \(record 01:00:05:10-01:00:07:10\) falls outside the reel "
                r"\(01:00:00:00-01:00:06:20, 200 frames\)"),
    ("overlap", r"event 'sc02_ben.mov': its record in 01:00:01:20 overlaps the event before it"),
    ("rate", r"event 2: timecode 01:00:01:35 has frame 35, beyond the reel's 30 fps"),
])
def test_bad_edit_lists_fail_with_one_line_naming_the_event(reel, case, message):
    folder, ranges = reel
    record = list(ranges)
    if case == "outside":
        record[4] = (160, 220)
    elif case == "overlap":
        record[2] = (50, 90)
    _edl(folder / f"{case}.edl", ranges, record=record)
    if case == "rate":
        text = (folder / f"{case}.edl").read_text().replace("01:00:01:15 01:00:02:15", "01:00:01:35 01:00:02:15")
        (folder / f"{case}.edl").write_text(text)
    with pytest.raises(ShotError, match=message) as err:
        sheet(folder / f"{case}.yaml", folder / "reel.mov", "anna", edit_list=folder / f"{case}.edl",
              takes="takes/{name}_fr.mp4")
    assert str(err.value).startswith(str(folder / f"{case}.edl")) and "\n" not in str(err.value)
    assert not (folder / f"{case}.yaml").exists()


def test_an_edit_list_at_another_rate_is_refused(reel, tmp_path):
    import opentimelineio as otio

    folder, ranges = reel
    timeline = otio.schema.Timeline("cut at 25 fps")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    track.append(otio.schema.Clip("sc01_anna.mov", source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(40, 25))))
    otio.adapters.write_to_file(timeline, str(tmp_path / "cut.otio"))
    with pytest.raises(ShotError, match=r"cut\.otio: event 1 'sc01_anna.mov': cut at 25 fps, the reel is 30 fps"):
        sheet(tmp_path / "s.yaml", folder / "reel.mov", "anna", edit_list=tmp_path / "cut.otio", takes="{id}.mp4")


def test_cut_detection_finds_the_reels_cuts_and_proposes_the_same_ranges(reel):
    folder, ranges = reel
    assert detect_cuts(folder / "reel.mov") == [start for start, _ in ranges[1:]]  # exactly, and no other
    (folder / "takes" / "cut_003.mp4").write_bytes(b"take")
    result = sheet(folder / "cuts.yaml", folder / "reel.mov", "anna", takes="takes/{id}.mp4")
    assert result["events"] == 5 and result["shots"] == 1
    shot = yaml.safe_load((folder / "cuts.yaml").read_text())["shots"][0]
    assert (shot["id"], shot["actor_in"], shot["actor_out"]) == ("cut_003", "01:00:02:15", "01:00:03:25")


def test_the_same_cut_as_fcp_xml_gives_the_same_sheet(reel):
    import opentimelineio as otio

    folder, ranges = reel
    _edl(folder / "cut.edl", ranges)
    timeline = otio.adapters.read_from_file(str(folder / "cut.edl"), rate=30)
    track = timeline.tracks[0]
    timeline.global_start_time = -track.source_range.start_time  # FCP XML keeps the record start on the sequence
    track.source_range = None
    otio.adapters.write_to_file(timeline, str(folder / "cut.xml"))
    sheet(folder / "from_edl.yaml", folder / "reel.mov", "anna", edit_list=folder / "cut.edl",
          takes="takes/{name}_fr.mp4")
    sheet(folder / "from_xml.yaml", folder / "reel.mov", "anna", edit_list=folder / "cut.xml",
          takes="takes/{name}_fr.mp4")
    assert yaml.safe_load((folder / "from_xml.yaml").read_text()) == \
        yaml.safe_load((folder / "from_edl.yaml").read_text())


def _source(path, frames: int, rate: int = 30, size: str = "480x480") -> None:
    """A camera source: its frame count, rate, size and timecode 02:00:00:00 are what the sheet reads of it."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-frames:v",
                    str(frames), "-c:v", "libx264", "-preset", "ultrafast", "-timecode", "02:00:00:00", str(path)],
                   check=True)


def test_with_camera_sources_shots_are_ranges_of_them_with_handles(reel, tmp_path, caplog):
    """Events whose source reel is in --sources become ranges of that file with up to --handles frames each
    side (as many as it has: event 1 starts at its first frame), put back at their record position; the
    others stay ranges of the reel, and say so."""
    folder, ranges = reel
    (folder / "sources").mkdir(exist_ok=True)
    _source(folder / "sources" / "A001.mov", 400)
    _edl(folder / "camera.edl", ranges, reels=("A001", "AX", "B002", "A001", "A001"), hour="02")
    result = sheet(folder / "camera.yaml", folder / "reel.mov", "anna", edit_list=folder / "camera.edl",
                   takes="takes/{name}_fr.mp4", sources=folder / "sources", handles=5)
    assert result == {"events": 5, "shots": 4, "without_take": ["sc03_anna"]}
    shots = {s["id"]: s for s in yaml.safe_load((folder / "camera.yaml").read_text())["shots"]}
    assert shots["sc01_anna"] == {
        "id": "sc01_anna", "actor": "anna", "actor_video": "sources/A001.mov", "actor_in": "02:00:00:00",
        "actor_out": "02:00:01:20", "handles": [0, 5], "reel_video": "reel.mov", "reel_in": "01:00:00:00",
        "dubber_video": "takes/sc01_anna_fr.mp4"}
    assert {k: shots["sc04_carl"][k] for k in ("actor_in", "actor_out", "handles", "reel_in")} == {
        "actor_in": "02:00:09:25", "actor_out": "02:00:11:15", "handles": [5, 5], "reel_in": "01:00:05:10"}
    assert shots["sc02_ben"]["actor_video"] == "reel.mov" and "handles" not in shots["sc02_ben"]
    # An event without a take is listed as the shot it would be: a range of its camera source, with handles.
    assert "#  - {id: sc03_anna, actor: anna, actor_video: sources/A001.mov, actor_in: '02:00:01:25', actor_out: " \
           "'02:00:03:20', handles: [5, 5], reel_video: reel.mov, reel_in: '01:00:03:25', dubber_video: ???}" \
           in (folder / "camera.yaml").read_text()
    assert "event 3 'sc02_ben.mov': no camera source in" in caplog.text and "B002" in caplog.text
    assert "event 1 'sc01_anna.mov': handles 0 + 5 frames: the camera source A001.mov has no more" in caplog.text
    # A001 here is a test pattern, not the glasses clip the reel shows: said for each of its events.
    assert "event 5 'sc04_carl.mov': the camera source's frame 300 does not look like the reel's frame 160" \
           in caplog.text and "is A001.mov the event's source?" in caplog.text
    loaded = {s.id: s for s in load_samples(folder / "camera.yaml")}
    assert loaded["sc04_carl"].handles == (5, 5) and loaded["sc04_carl"].reel == loaded["sc02_ben"].actor_video


@pytest.mark.parametrize("case, message", [
    ("no sources", r"handles need the camera sources \(--sources\)"),
    ("rate", r"sc01_anna.*A001\.mov: event 1 'sc01_anna\.mov': the camera source is 25/1 fps, 480x480; the reel "
             r"30/1 fps, 480x480: its shot could not go back into the reel"),
    ("size", r"event 1 'sc01_anna\.mov': the camera source is 30/1 fps, 64x64; the reel 30/1 fps, 480x480"),
    ("short", r"sc04_carl.*A001\.mov: event 5 'sc04_carl\.mov': its source frames 300-339 are not in the camera "
              r"source \(200 frames from 02:00:00:00\)"),
])
def test_bad_camera_sources_fail_naming_the_event(reel, tmp_path, case, message):
    folder, ranges = reel
    _edl(tmp_path / "camera.edl", ranges, reels=("A001", "AX", "AX", "AX", "A001"), hour="02")
    (tmp_path / "sources").mkdir()
    _source(tmp_path / "sources" / "A001.mov", 200, rate=25 if case == "rate" else 30,
            size="64x64" if case == "size" else "480x480")
    with pytest.raises(ShotError, match=message):
        sheet(tmp_path / "s.yaml", folder / "reel.mov", "anna", edit_list=tmp_path / "camera.edl",
              takes="{id}.mp4", sources=None if case == "no sources" else tmp_path / "sources", handles=5)
    assert not (tmp_path / "s.yaml").exists()


def test_an_fcp_xml_names_its_camera_source_by_file_and_source_timecode(tmp_path):
    """FCP XML keeps a clip's media file and its in point relative to the file; read back, the event names
    the file and its source timecode, as an EDL's reel and source in do."""
    import opentimelineio as otio
    from opentimelineio import opentime

    from vdub.editorial.edit_list import read_events

    timeline = otio.schema.Timeline("cut")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    media = otio.schema.ExternalReference(target_url="file:///data/camera%20day%201/A001.mov",
                                          available_range=opentime.TimeRange(opentime.from_timecode("02:00:00:00", 30),
                                                                             opentime.RationalTime(400, 30)))
    track.append(otio.schema.Clip("sc04_carl.mov", media_reference=media, source_range=opentime.TimeRange(
        opentime.from_timecode("02:00:10:00", 30), opentime.RationalTime(40, 30))))
    otio.adapters.write_to_file(timeline, str(tmp_path / "cut.xml"))
    (event,) = read_events(tmp_path / "cut.xml", "30/1", None, 100)
    assert event.source_names[0] == "A001.mov" and event.source_in == opentime.from_timecode("02:00:10:00", 30).value
    assert (event.start, event.end) == (0, 40)
