"""Editorial: from the editor's timeline to shots and back (not in the paper; what a studio receives and returns).

A studio receives a locked cut as a reel plus an edit list, and hands back a reel in sync:
:mod:`~vdub.editorial.edit_list` reads the edit list's events (OpenTimelineIO: CMX 3600 EDL,
FCP XML, .otio), :mod:`~vdub.editorial.cuts` proposes events from the reel's cuts when there is
no edit list, :mod:`~vdub.editorial.sample_sheet` writes them as ``samples.yaml`` shots (ranges of the
reel) with their dubber takes.
"""
