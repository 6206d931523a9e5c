"""The actor's face picked by who it is (FaceChooser with a still's descriptor): synthetic boxes and descriptors.

Two people, A (the still's) and B, stand still at two places; their descriptors are 0.9 apart (as different people
are on the shared clips), A's in each frame 0.1 from the still's. Each test counts the descriptors computed: they
are the expensive part (0.1-0.2 s a face), wanted only where the choice is in doubt.
"""

from __future__ import annotations

import numpy as np
import pytest

from vdub.face.config import FaceIdentityConfig
from vdub.face.mesh import FaceChooser

STILL = np.zeros(128)
A, B, C = STILL + np.eye(128)[0] * 0.1, STILL + np.eye(128)[1] * 0.9, STILL + np.eye(128)[2] * 0.8
LEFT, RIGHT = np.array([100.0, 100, 300, 340]), np.array([600.0, 80, 860, 380])  # B's face is the larger


class Frame:
    """One frame's faces: boxes with who they are; ``describe`` counts its calls."""

    def __init__(self, *faces: tuple[np.ndarray, np.ndarray]) -> None:
        self.boxes = [box for box, _ in faces]
        self.people = [who for _, who in faces]
        self.calls = 0

    def describe(self, index: int) -> np.ndarray:
        self.calls += 1
        return self.people[index]


def _run(frames: list[Frame], verify_every: int = 10) -> tuple[list[int | None], list[bool], int]:
    """Chosen index and whether acquired per frame, and the descriptors computed in all."""
    chooser = FaceChooser("largest", 0.5, STILL, FaceIdentityConfig(threshold=0.6, verify_every=verify_every))
    picks = [chooser.step(f.boxes, 960, 480, f.describe) for f in frames]
    return [p for p, _ in picks], [a for _, a in picks], sum(f.calls for f in frames)


def test_acquired_by_identity_not_by_the_rule():
    picks, acquired, calls = _run([Frame((LEFT, A), (RIGHT, B)) for _ in range(25)])
    assert picks == [0] * 25  # 'largest' would be B
    assert acquired == [True] + [False] * 24
    assert calls == 2 + 2  # both faces at the start; A checked again at frames 10 and 20


def test_nobody_like_the_still_is_no_face():
    picks, _, calls = _run([Frame((LEFT, C), (RIGHT, B)) for _ in range(12)], verify_every=5)
    assert picks == [None] * 12
    # Both described on frame 0, then known to be others: described again only every 5 frames.
    assert calls == 2 * 3


def test_a_swap_without_a_gap_is_caught_at_the_next_check():
    """A and B swap places at frame 12 with no frame between and the boxes unchanged: continuity cannot tell;
    the check at frame 15 (every 5) can."""
    frames = [Frame((LEFT, A), (RIGHT, B)) for _ in range(12)] + [Frame((LEFT, B), (RIGHT, A)) for _ in range(8)]
    picks, acquired, _ = _run(frames, verify_every=5)
    assert picks[:12] == [0] * 12 and picks[12:15] == [0] * 3 and picks[15:] == [1] * 5
    assert np.flatnonzero(acquired).tolist() == [0, 15]


def test_someone_entering_triggers_a_check():
    """A face entering (the count changes, as at a cut) has the followed face checked at once."""
    frames = [Frame((LEFT, A)) for _ in range(4)] + [Frame((LEFT, B), (RIGHT, A)) for _ in range(4)]
    picks, acquired, calls = _run(frames, verify_every=100)
    assert picks == [0] * 4 + [1] * 4 and np.flatnonzero(acquired).tolist() == [0, 4]
    assert calls == 1 + 2


def test_continuity_failing_reacquires_by_identity():
    """The actor jumps (a cut to another framing) while someone else stays: re-acquired by identity rather than
    marked faceless; when nobody is like the still, faceless."""
    moved = LEFT + [400, 0, 400, 0]
    faces = [((LEFT, A), (RIGHT, B))] * 3 + [((moved, A), (RIGHT, B))] * 3 + [((LEFT, C), (RIGHT, B))] * 3
    picks, acquired, _ = _run([Frame(*f) for f in faces], verify_every=100)
    assert picks[:6] == [0] * 6 and np.flatnonzero(acquired).tolist() == [0, 3]
    assert picks[6:] == [None] * 3


def test_the_rule_chooser_describes_nothing_and_a_still_needs_describe():
    chooser = FaceChooser("left", 0.5)
    assert chooser.step([LEFT, RIGHT], 960, 480) == (0, True) and chooser.distances == {}
    with pytest.raises(ValueError, match="describe"):
        FaceChooser("largest", 0.5, STILL).step([LEFT], 960, 480)


def test_identity_config_validation():
    with pytest.raises(ValueError, match="threshold"):
        FaceIdentityConfig(threshold=0)
    with pytest.raises(ValueError, match="verify_every"):
        FaceIdentityConfig(verify_every=0)
