"""The one training loop: resume, signals, checkpoints, loss log, progress and the final model.

A trainer (the swapper's, the upscaler's) builds its model, optimiser and data, seeds the
random generators before building the model, and hands :class:`TrainingLoop` one ``step(n)``
callable that runs optimiser step n and returns its losses. The loop owns everything around
the steps, the same for every network:

- resuming: the checkpoint at ``resume_path`` is loaded (model, optimiser, RNG, the loss
  history so far) only when it was written for the same run fingerprint
  (:mod:`vdub.training.fingerprint`); any other is ignored with a warning;
- checkpoints every ``checkpoint_every`` steps and on SIGTERM/SIGINT (how Slurm preempts a
  job), after which :class:`~vdub.core.errors.TrainingInterrupted` is raised;
- the loss log (:class:`LossLog`): one CSV row per step, flushed as it is written; on resume
  the rows past the resumed step are dropped, so a resumed run's log reads like an
  uninterrupted one;
- progress: a bar on a terminal, a log line every ``log_every`` steps;
- the final model, written atomically, after which the resume checkpoint is deleted; and a
  run with nothing to train on (:func:`save_untrained`).

- the early stop (:mod:`vdub.training.early_stop`): with a trainer's ``score`` of its held-out
  frames, the model is scored before its first step and every ``stop.every`` steps (in eval
  mode, without gradients; the score is the loss log's ``holdout_psnr`` column, the baseline
  is in the checkpoint), the run ends at the plateau, and the weights of the highest score,
  the starting network's included, are the ones kept.

Checkpointing and scoring only read the RNG state, so where and how often checkpoints are written never
changes a run's result: on CPU a resumed run ends with the weights of an uninterrupted one, and
stops at the same step.
"""

from __future__ import annotations

import csv
import logging
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from vdub.core.errors import TrainingInterrupted
from vdub.core.io import atomic_path
from vdub.training.checkpoint import load_checkpoint, save_checkpoint, save_torch
from vdub.training.early_stop import HOLDOUT_COLUMN, EarlyStop, Plateau, scoring

log = logging.getLogger(__name__)

Step = Callable[[int], Mapping[str, float]]
OnStep = Callable[[int, Mapping[str, float]], None]
Score = Callable[[], float]


@dataclass(frozen=True)
class LossLog:
    """A training run's loss CSV: columns ``step``, one per loss, ``seconds`` (since the run began).

    A row is a tuple ``(step, *losses in column order, seconds)``, the form the history takes
    in the resume checkpoint too.
    """

    path: Path
    losses: tuple[str, ...]  # the loss columns: the keys of a step's losses, in this order
    value_format: str = ""  # format spec of a loss value; "" writes the shortest text that reads back exactly

    def row(self, step: int, losses: Mapping[str, float], seconds: float) -> tuple:
        """The row of one step; seconds kept to the millisecond."""
        return (step, *(losses[name] for name in self.losses), round(seconds, 3))

    def cells(self, row: tuple) -> list[str]:
        """A row as CSV text."""
        step, *values, seconds = row
        return [str(step), *(format(v, self.value_format) for v in values), f"{seconds:.3f}"]

    def rewrite(self, rows: list[tuple]) -> None:
        """Write the header and ``rows`` atomically, replacing whatever the file held."""
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(("step", *self.losses, "seconds"))
            writer.writerows(self.cells(row) for row in rows)


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict copied to the CPU (what a later step's updates cannot change)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def model_payload(config: Mapping[str, Any], model: torch.nn.Module, extra: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """What a network's model file holds: ``{"config", "state_dict" (CPU, contiguous), **extra}``."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return {"config": dict(config), "state_dict": state, **(extra or {})}


def save_untrained(out_model: str | Path, config: Mapping[str, Any], model: torch.nn.Module, loss_log: LossLog,
                   reason: str) -> None:
    """Deliver the model of a run with nothing to train on: ``model`` as it is, ``reason`` stored in the file.

    A shot without a face in any frame changes nothing (every frame passes through), but its
    rules still need a model file and a loss log; the log has its header only.
    """
    save_torch(out_model, model_payload(config, model, {"untrained": reason}))
    loss_log.rewrite([])


class StopRequested:
    """Flag set by SIGTERM/SIGINT so that the loop can checkpoint and exit cleanly."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None


@contextmanager
def stop_on_signals() -> Iterator[StopRequested]:
    """Install SIGTERM/SIGINT handlers for the block; yields a flag the loop polls after each step.

    The previous handlers are restored afterwards.
    """
    flag = StopRequested()

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        flag.signum = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class TrainingLoop:
    """Runs a trainer's steps resumably; see the module docstring.

    After :meth:`run`, ``history`` holds every step's row (:class:`LossLog`) of the whole run,
    including those before a resume, ``start`` the step it resumed after (0: from scratch),
    ``seconds`` the time this process spent in the steps, ``stopped_at`` the step an early stop
    ended it at (None: it ran to ``iterations``) and ``plateau`` the held-out curve (None
    without scoring).
    """

    def __init__(self, name: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, fingerprint: str,
                 resume_path: str | Path, loss_log: LossLog, iterations: int, checkpoint_every: int,
                 log_every: int) -> None:
        """name: the network, in progress lines; fingerprint: :func:`~vdub.training.fingerprint.run_fingerprint`
        of the run; checkpoint_every: steps between resume checkpoints (0: only on a signal);
        log_every: steps between progress lines."""
        self.name, self.model, self.optimizer = name, model, optimizer
        self.fingerprint, self.resume_path, self.loss_log = fingerprint, Path(resume_path), loss_log
        self.iterations, self.checkpoint_every, self.log_every = iterations, checkpoint_every, log_every
        self.history: list[tuple] = []
        self.start = 0
        self.seconds = 0.0
        self.stopped_at: int | None = None
        self.plateau: Plateau | None = None

    def run(self, step: Step, on_step: OnStep | None = None, score: Score | None = None,
            early_stop: EarlyStop | None = None, warm: bool = False) -> None:
        """Resume from a matching checkpoint, then run steps ``start + 1 .. iterations``, or until the plateau.

        step: ``step(n)`` runs optimiser step n (1-based) and returns its losses by name
            (the keys of ``loss_log.losses``, and possibly more).
        on_step: ``on_step(n, losses)`` after step n is logged (progress reporting; tests
            that preempt a run).
        score: the model's held-out score, higher is better (called in eval mode without
            gradients); with an active ``early_stop``, every ``early_stop.every`` steps, and the loss log
            must have the ``holdout_psnr`` column (:data:`~vdub.training.early_stop.HOLDOUT_COLUMN`).
        warm: the model starts trained (loaded weights), which the plateau rule treats as a
            baseline to beat rather than a start to leave (:class:`~vdub.training.early_stop.Plateau`).

        Raises:
            TrainingInterrupted: after writing the resume checkpoint on SIGTERM/SIGINT, unless
                the signal came during the last step (then the run finishes).
        """
        seconds_before = 0.0
        resumed = load_checkpoint(self.resume_path, self.model, self.optimizer, self.fingerprint)
        if resumed is not None:
            self.start, extra = resumed
            self.history, seconds_before = list(extra["history"]), float(extra["seconds"])
        scored = scoring(score, early_stop, self.iterations)
        best_state = None  # the weights of the best held-out score so far (CPU copies)
        if scored:
            column = 1 + self.loss_log.losses.index(HOLDOUT_COLUMN)
            self.plateau = Plateau(early_stop, warm)
            if resumed is None:
                self.plateau.start(self._score(score))
                best_state = _cpu_copy(self.model.state_dict())
            else:
                self.plateau.start(float(extra.get("baseline", math.nan)))
                best_state = extra.get("best_state")
            self.stopped_at = self.plateau.replay((row[0], row[column]) for row in self.history
                                                  if self.plateau.due(row[0]))
        self.loss_log.rewrite(self.history)
        self.model.train()
        t0 = time.perf_counter()
        window_t0, window_step = t0, self.start
        # A live bar on a terminal; in a job's log file (not a TTY) a line every 30 s at most.
        bar = tqdm(total=self.iterations, initial=self.start, desc=self.name, unit="it", dynamic_ncols=True,
                   mininterval=1.0 if sys.stderr.isatty() else 30.0)
        with stop_on_signals() as stop, bar, open(self.loss_log.path, "a", newline="") as log_file:
            writer = csv.writer(log_file)
            for n in range(self.start + 1, self.iterations + 1 if self.stopped_at is None else 0):
                losses = step(n)
                plateaued = False
                if scored:
                    held_out = float("nan")
                    if self.plateau.due(n):
                        held_out = self._score(score)
                        plateaued = self.plateau.update(n, held_out)
                        if self.plateau.best_step == n:
                            best_state = _cpu_copy(self.model.state_dict())
                    losses = {**losses, HOLDOUT_COLUMN: held_out}
                elapsed = seconds_before + time.perf_counter() - t0
                row = self.loss_log.row(n, losses, elapsed)
                self.history.append(row)
                writer.writerow(self.loss_log.cells(row))
                log_file.flush()
                bar.set_postfix({name: f"{losses[name]:.4f}" for name in self.loss_log.losses
                                 if math.isfinite(losses[name])}, refresh=False)
                bar.update(1)
                if on_step is not None:
                    on_step(n, losses)
                if n % self.log_every == 0 or n == self.iterations:
                    now = time.perf_counter()
                    rate = (n - window_step) / max(now - window_t0, 1e-9)
                    window_t0, window_step = now, n
                    log.info("%s step %d/%d  %s  %.2f it/s  eta %.0f s", self.name, n, self.iterations,
                             "  ".join(f"{name} {losses[name]:.4f}" for name in self.loss_log.losses
                                       if math.isfinite(losses[name])), rate,
                             (self.iterations - n) / max(rate, 1e-9))
                interrupted = bool(stop) and n < self.iterations
                periodic = self.checkpoint_every > 0 and n % self.checkpoint_every == 0 and n < self.iterations
                if periodic or interrupted:
                    save_checkpoint(self.resume_path, self.model, self.optimizer, n, self.fingerprint,
                                    extra={"history": self.history, "seconds": elapsed,
                                           **({"best_state": best_state, "baseline": self.plateau.baseline}
                                              if scored else {})})
                if interrupted:
                    log.warning("%s: stopped by signal %s at step %d; resume checkpoint %s", self.name, stop.signum,
                                n, self.resume_path)
                    raise TrainingInterrupted(f"{self.name} stopped at step {n}; resume from {self.resume_path}")
                if plateaued:
                    self.stopped_at = n
                    log.info("%s: held-out score %.3f has not gained %.3f over %.3f in %d scores: stopped at step "
                             "%d of %d", self.name, self.plateau.curve[-1][1], early_stop.margin,
                             self.plateau.reference, early_stop.patience, n, self.iterations)
                    break
        self.seconds = time.perf_counter() - t0
        if best_state is not None and self.plateau.best_step != len(self.history):
            # The model the held-out score preferred, not the last steps' past it.
            self.model.load_state_dict(best_state)
            log.info("%s: the weights of step %d (held-out score %.3f; %.3f before training) are kept", self.name,
                     self.plateau.best_step, self.plateau.best, self.plateau.baseline)

    def _score(self, score: Score) -> float:
        """The held-out score of the model as it is now, in eval mode; training mode is restored."""
        self.model.eval()
        try:
            with torch.no_grad():
                return float(score())
        finally:
            self.model.train()

    def early_stop_summary(self) -> dict | None:
        """The held-out curve and where the run ended (:meth:`Plateau.summary`), None without scoring."""
        return None if self.plateau is None else self.plateau.summary(self.stopped_at, self.iterations)

    def save(self, out_model: str | Path, config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> None:
        """Write the final model (:func:`model_payload`) atomically, then delete the resume checkpoint."""
        save_torch(out_model, model_payload(config, self.model, extra))
        self.resume_path.unlink(missing_ok=True)
