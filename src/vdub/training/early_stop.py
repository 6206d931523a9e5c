"""Training that stops when it stops paying: a held-out score every few steps, and a plateau rule.

A trainer hands :class:`~vdub.training.loop.TrainingLoop` a ``score()`` of its held-out frames
(higher is better: the swapper's and the upscaler's are PSNR in dB) and an :class:`EarlyStop`.
Every ``every`` steps the loop scores the model; once ``patience`` scores in a row have not
beaten the best so far by ``margin``, and at least ``min_steps`` steps have run, training ends
there. ``iterations`` stays the ceiling (the paper's schedule at the paper preset), and the
learning-rate schedule is still the ceiling's, so a run that never plateaus is the run it was.

The scores are a column of the loss log, so the curve is in the report and a resumed run
replays it (:meth:`Plateau.replay`) and stops where an uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from vdub.core.settings import Settings

#: The loss-log column of the held-out score (empty between scoring steps).
HOLDOUT_COLUMN = "holdout_psnr"
#: The most held-out frames a score is taken on. The same frames every time, so the scores compare like
#: with like; more would only cost time (a 1,008-frame shot holds out about 100).
SCORE_FRAMES = 32


def score_frames(n: int, most: int = SCORE_FRAMES) -> np.ndarray:
    """Which of ``n`` held-out frames the early stop scores: all up to ``most``, else ``most`` evenly spaced."""
    return np.arange(n) if n <= most else np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


@dataclass
class EarlyStop(Settings):
    """When a training run stops before its ceiling (config ``presets.<p>.train.stop`` and ``sr.stop``)."""

    every: int = 0  # steps between held-out scores (0: no scoring, the run goes to its ceiling)
    patience: int = 3  # scores in a row without a gain of `margin` over the best that end the run
    margin: float = 0.05  # the gain (dB of held-out PSNR) that counts as still improving
    min_steps: int = 0  # the floor: never stop before this many steps

    def __post_init__(self) -> None:
        if self.every < 0 or self.patience < 1 or self.margin < 0 or self.min_steps < 0:
            raise ValueError(f"stop: every and min_steps must be >= 0, patience >= 1 and margin >= 0, got {self}")

    @property
    def active(self) -> bool:
        return self.every > 0


class Plateau:
    """The plateau rule over a run's held-out scores (see the module docstring).

    ``curve`` holds ``(step, score)`` of every score so far; ``best`` the score of the last gain
    of ``margin`` (Keras' rule: smaller gains do not move it) and ``best_step`` its step.
    """

    def __init__(self, cfg: EarlyStop) -> None:
        self.cfg = cfg
        self.curve: list[tuple[int, float]] = []
        self.best = -math.inf
        self.best_step = 0
        self.stale = 0  # scores since the last gain of `margin`

    def due(self, step: int) -> bool:
        """Whether step ``step`` (1-based) is a scoring step."""
        return self.cfg.active and step % self.cfg.every == 0

    def update(self, step: int, score: float) -> bool:
        """Record the score of step ``step``; True when the run should stop after it.

        A NaN score (no held-out frame could be scored) never ends a run.
        """
        self.curve.append((step, score))
        if math.isnan(score):
            return False
        if self.best == -math.inf or score > self.best + self.cfg.margin:
            self.best, self.best_step, self.stale = score, step, 0
        else:
            self.stale += 1
        return self.stale >= self.cfg.patience and step >= self.cfg.min_steps

    def replay(self, scored: Iterable[tuple[int, float]]) -> int | None:
        """Update with a resumed run's earlier scores, in order; the step they had ended the run at, if
        any (a signal that came during that very step interrupted it before it could stop)."""
        ended = None
        for step, score in scored:
            ended = step if self.update(step, score) else ended
        return ended

    def summary(self, stopped_at: int | None, ceiling: int) -> dict:
        """What the report and the log say: the curve, the best score and step, where and why it ended."""
        return {"ceiling": ceiling, "stopped_at": stopped_at, "best_step": self.best_step,
                "best": None if self.best == -math.inf else self.best, "curve": [list(p) for p in self.curve],
                "rule": {"every": self.cfg.every, "patience": self.cfg.patience, "margin": self.cfg.margin,
                         "min_steps": self.cfg.min_steps}}
