"""Frame numbers and timecodes of a source; a shot as a range of it, checked against the file."""

from __future__ import annotations

import subprocess

import pytest

from vdub.core.errors import ShotError
from vdub.media.timecode import frame_number, shifted_timecode, source_range, source_timecode


def test_frame_numbers_from_timecodes_in_the_source_timecode_space():
    assert frame_number(7, "25/1", "01:00:00:00") == 7  # a frame number is the file's, whatever its timecode
    assert frame_number("01:00:10:05", "25/1", "01:00:00:00") == 255
    assert frame_number("00:00:01:00", "30000/1001", None) == 30  # no timecode in the file: it starts at zero
    assert frame_number("00:01:00;02", "30000/1001", "00:00:00;00") == 1800  # drop-frame: ;00 and ;01 skipped
    with pytest.raises(ValueError, match="before the source's start timecode"):
        frame_number("00:59:59:24", "25/1", "01:00:00:00")


def test_shifted_timecodes():
    assert shifted_timecode("01:00:10:00", 27, "25/1") == "01:00:11:02"
    assert shifted_timecode("00:00:59;28", 4, "30000/1001") == "00:01:00;04"


@pytest.fixture(scope="module")
def timecoded(tmp_path_factory):
    """50 frames at 25 fps starting at 10:00:00:00."""
    path = tmp_path_factory.mktemp("tc") / "reel.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
                    "-c:v", "mpeg4", "-timecode", "10:00:00:00", str(path)], check=True)
    return path


def test_source_range_resolves_and_checks_against_the_file(timecoded):
    assert source_timecode(timecoded) == "10:00:00:00"
    assert source_range("s1", timecoded, "25/1", 50, "10:00:01:00", None) == (25, 50)
    assert source_range("s1", timecoded, "25/1", 50, None, 10) == (0, 10)
    for first, end, message in ((40, 60, "ends at frame 60, past the video's 50 frames"),
                                ("10:00:01:00", 20, r"is empty: frames \[25, 20\)"),
                                ("09:59:00:00", None, "before the source's start timecode 10:00:00:00"),
                                ("10:00:00:99x", None, "is not a timecode")):
        with pytest.raises(ShotError, match=message) as err:
            source_range("s1", timecoded, "25/1", 50, first, end)
        assert "s1" in str(err.value) and "reel.mov" in str(err.value)


def test_a_timecode_is_read_again_when_the_file_changes(tmp_path):
    """A reel's timecode is read once for all its shots, and again once the file is replaced."""
    import os

    path = tmp_path / "reel.mov"
    for version, timecode in enumerate(("10:00:00:00", "02:00:00:00")):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1",
                        "-c:v", "mpeg4", "-timecode", timecode, str(path)], check=True)
        os.utime(path, ns=(0, version))  # a new modification time is a new version, whatever the size
        assert source_timecode(path) == source_timecode(path) == timecode
