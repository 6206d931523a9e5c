"""Training that stops when it stops paying: a held-out score every few steps, and a plateau rule.

A trainer hands :class:`~vdub.training.loop.TrainingLoop` a ``score()`` of its held-out frames
(higher is better: the swapper's and the upscaler's are PSNR in dB) and an :class:`EarlyStop`.
The loop scores the model before its first step (the baseline: the network it starts from) and
every ``every`` steps; once ``patience`` scores in a row have not beaten the last gain by
``margin``, and at least ``min_steps`` steps have run, training ends there. ``iterations`` stays the
ceiling (the paper's schedule at the paper preset), and the learning-rate schedule is still the
ceiling's, so a run that never plateaus is the run it was.

Two choices that measurements made (docs/presets.md, "Why preview's numbers"):

- The margin only decides when a run ends; the weights kept are those of the highest score,
  the baseline's included. Moving the kept weights only on a gain of ``margin`` (Keras' rule)
  threw away real but small gains: the test project's swapper kept its step-25 weights, a tie
  with the composite, where 300 steps repair 0.09 dB.
- A network trained from scratch starts as no repair at all (the corrective decoder's last
  layer is zero), so its first scores are the composite's and a flat start is not a plateau:
  the patience only counts once a score has beaten the baseline by ``margin``, and a run that
  never does goes to its ceiling, as it did before the early stop. A warm-started network (the
  actor's model fine-tuned for a shot, pretrained GPEN) starts as a trained one: if ``patience``
  scores do not beat it, the shot keeps it and stops.

The scores are a column of the loss log, so the curve is in the report and a resumed run
replays it (:meth:`Plateau.replay`, the baseline from the checkpoint) and stops where an
uninterrupted one would.
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

    ``curve`` holds ``(step, score)`` of every score after the baseline; ``baseline`` the score
    before step 1 (NaN when unknown); ``best`` and ``best_step`` the highest score and its step
    (0: the baseline), whose weights the run keeps; ``reference`` the score of the last gain of
    ``margin``, which the patience counts from.
    """

    def __init__(self, cfg: EarlyStop, warm: bool = False) -> None:
        """warm: the network starts trained (a warm start), so not beating the baseline is a plateau."""
        self.cfg = cfg
        self.curve: list[tuple[int, float]] = []
        self.baseline = math.nan
        self.best = self.reference = -math.inf
        self.best_step = 0
        self.paying = warm  # whether the patience counts: a cold run starts counting at its first gain
        self.stale = 0  # scores since the last gain of `margin`

    def due(self, step: int) -> bool:
        """Whether step ``step`` (1-based) is a scoring step."""
        return self.cfg.active and step % self.cfg.every == 0

    def start(self, baseline: float) -> None:
        """Record the score of the network before its first step."""
        self.baseline = baseline
        if not math.isnan(baseline):
            self.best = self.reference = baseline

    def update(self, step: int, score: float) -> bool:
        """Record the score of step ``step``; True when the run should stop after it.

        A NaN score (no held-out frame could be scored) never ends a run.
        """
        self.curve.append((step, score))
        if math.isnan(score):
            return False
        if score > self.best:
            self.best, self.best_step = score, step
        if self.reference == -math.inf or score > self.reference + self.cfg.margin:
            self.reference, self.stale, self.paying = score, 0, True
        elif self.paying:
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
        """What the report and the log say: the baseline, the curve, the best score and step, where it ended."""
        return {"ceiling": ceiling, "stopped_at": stopped_at, "best_step": self.best_step,
                "best": None if self.best == -math.inf else self.best,
                "baseline": None if math.isnan(self.baseline) else self.baseline,
                "curve": [list(p) for p in self.curve],
                "rule": {"every": self.cfg.every, "patience": self.cfg.patience, "margin": self.cfg.margin,
                         "min_steps": self.cfg.min_steps}}


def scoring(score: object | None, early_stop: EarlyStop | None, iterations: int) -> bool:
    """Whether a trainer's run of ``iterations`` steps is scored: it has a held-out ``score``, an active
    ``early_stop``, and at least one scoring step (a baseline with no score to compare would keep the
    untrained weights)."""
    return score is not None and early_stop is not None and early_stop.active and early_stop.every <= iterations


def loss_columns(losses: tuple[str, ...], scored: bool) -> tuple[str, ...]:
    """A trainer's loss-log columns: its ``losses``, and the held-out score's when the run is scored."""
    return losses + ((HOLDOUT_COLUMN,) if scored else ())
