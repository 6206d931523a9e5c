"""The shared training loop on a toy regression: resume after a signal or a crash ends exactly where an
uninterrupted run ends, a checkpoint of another run is ignored, the loss log reads like one run."""

from __future__ import annotations

import csv
import logging
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from vdub.core.errors import TrainingInterrupted
from vdub.training.early_stop import HOLDOUT_COLUMN, EarlyStop, Plateau, score_frames
from vdub.training.fingerprint import array_digest, file_digest, run_fingerprint
from vdub.training.loop import LossLog, TrainingLoop, save_untrained


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Bit-exact comparisons on one thread."""


class _Toy:
    """A linear regression trained by Adam on random batches; its step draws from torch's and NumPy's
    global generators, so a resume is exact only if the checkpoint restores both."""

    def __init__(self, tmp: Path, name: str, fingerprint: str = "toy", iterations: int = 12,
                 checkpoint_every: int = 5) -> None:
        torch.manual_seed(0)
        np.random.seed(0)
        self.x = torch.randn(32, 3)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.05)
        self.steps_run: list[int] = []
        self.out = tmp / f"{name}.pt"
        self.loop = TrainingLoop("toy", self.model, self.optimizer, fingerprint=fingerprint,
                                 resume_path=tmp / f"{name}.resume", loss_log=LossLog(tmp / f"{name}.csv", ("mse",)),
                                 iterations=iterations, checkpoint_every=checkpoint_every, log_every=4)

    def step(self, n: int) -> dict[str, float]:
        self.steps_run.append(n)
        idx = torch.randint(len(self.x), (4,))
        noise = float(np.random.normal(0.0, 0.01))
        loss = ((self.model(self.x[idx]).squeeze(1) + noise - self.y[idx]) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"mse": loss.item()}

    def train(self, on_step=None) -> _Toy:
        self.loop.run(self.step, on_step)
        self.loop.save(self.out, {"kind": "toy"})
        return self


def _signal_at(step_to_stop: int):
    def on_step(step: int, losses: dict) -> None:
        if step == step_to_stop:
            signal.raise_signal(signal.SIGTERM)  # what Slurm sends before killing the job

    return on_step


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _without_seconds(rows: list[list[str]]) -> list[list[str]]:
    assert rows[0] == ["step", "mse", "seconds"]
    return [r[:-1] for r in rows]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> _Toy:
    return _Toy(tmp_path_factory.mktemp("straight"), "run").train()


def _assert_same_end(run: _Toy, straight: _Toy) -> None:
    a, b = torch.load(run.out, weights_only=True), torch.load(straight.out, weights_only=True)
    assert a["config"] == {"kind": "toy"} and a.keys() == {"config", "state_dict"}
    for k in b["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert [r[:-1] for r in run.loop.history] == [r[:-1] for r in straight.loop.history]
    assert _without_seconds(_rows(run.loop.loss_log.path)) == _without_seconds(_rows(straight.loop.loss_log.path))
    assert not run.loop.resume_path.exists()


def test_uninterrupted_run_logs_every_step(straight):
    rows = _rows(straight.loop.loss_log.path)
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 13))
    # The loss text reads back as the exact float that was logged; seconds grow.
    assert [float(r[1]) for r in rows[1:]] == [r[1] for r in straight.loop.history]
    assert np.all(np.diff([float(r[2]) for r in rows[1:]]) >= 0)
    assert straight.loop.start == 0 and straight.steps_run == list(range(1, 13))
    assert straight.loop.history[-1][1] < straight.loop.history[0][1]


def test_resume_after_a_signal_ends_like_an_uninterrupted_run(tmp_path, straight):
    with pytest.raises(TrainingInterrupted, match="stopped at step 7"):
        _Toy(tmp_path, "run").train(on_step=_signal_at(7))
    assert (tmp_path / "run.resume").exists() and not (tmp_path / "run.pt").exists()
    assert [r[0] for r in _rows(tmp_path / "run.csv")[1:]] == [str(n) for n in range(1, 8)]

    resumed = _Toy(tmp_path, "run").train()
    assert resumed.loop.start == 7 and resumed.steps_run == list(range(8, 13))
    _assert_same_end(resumed, straight)
    seconds = [float(r[2]) for r in _rows(tmp_path / "run.csv")[1:]]
    assert np.all(np.diff(seconds) >= 0)  # counted from the run's start, across the resume


def test_resume_after_a_crash_drops_the_log_rows_past_the_checkpoint(tmp_path, straight):
    class Crash(Exception):
        pass

    def crash(step: int, losses: dict) -> None:
        if step == 8:
            raise Crash  # killed hard: no checkpoint at 8, the one from step 5 remains

    with pytest.raises(Crash):
        _Toy(tmp_path, "run").train(on_step=crash)
    assert [r[0] for r in _rows(tmp_path / "run.csv")[1:]] == [str(n) for n in range(1, 9)]

    resumed = _Toy(tmp_path, "run").train()
    assert resumed.loop.start == 5 and resumed.steps_run == list(range(6, 13))
    _assert_same_end(resumed, straight)  # rows 6-8 of the crashed run appear once, as redone


def test_checkpoint_of_another_run_is_ignored(tmp_path, straight, caplog):
    with pytest.raises(TrainingInterrupted):
        _Toy(tmp_path, "run", fingerprint="another dubber take").train(on_step=_signal_at(6))
    with caplog.at_level(logging.WARNING, logger="vdub.training.checkpoint"):
        run = _Toy(tmp_path, "run").train()
    assert "ignoring resume checkpoint" in caplog.text
    assert run.loop.start == 0 and run.steps_run == list(range(1, 13))
    _assert_same_end(run, straight)


def test_a_signal_during_the_last_step_finishes_the_run(tmp_path, straight):
    run = _Toy(tmp_path, "run").train(on_step=_signal_at(12))
    _assert_same_end(run, straight)


def test_untrained_model_and_header_only_log(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    log = LossLog(tmp_path / "l.csv", ("loss", "l1"), ".6f")
    save_untrained(tmp_path / "m.pt", {"kind": "toy"}, model, log, "no frame with a face")
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    assert saved["untrained"] == "no frame with a face" and saved["config"] == {"kind": "toy"}
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in model.state_dict().items())
    assert _rows(tmp_path / "l.csv") == [["step", "loss", "l1", "seconds"]]
    assert log.cells(log.row(3, {"loss": 0.25, "l1": 1 / 3}, 1.23456)) == ["3", "0.250000", "0.333333", "1.235"]


def test_fingerprint_follows_data_settings_and_file_content(tmp_path):
    a = np.arange(600, dtype=np.uint8).reshape(300, 2)  # more rows than one digest chunk
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"weights")
    fp = run_fingerprint([a], {"lr": 1e-3}, weights)
    moved = tmp_path / "moved.pth"
    moved.write_bytes(b"weights")
    assert run_fingerprint([a.copy()], {"lr": 1e-3}, moved) == fp  # content, not path
    assert run_fingerprint([a], {"lr": 1e-3}, None) != fp
    assert run_fingerprint([a], {"lr": 2e-3}, weights) != fp
    changed = a.copy()
    changed[299, 1] += 1
    assert array_digest(changed) != array_digest(a)
    assert array_digest(a.astype(np.int16)) != array_digest(a)
    assert array_digest(a.reshape(2, 300)) != array_digest(a)
    weights.write_bytes(b"other weights")
    assert file_digest(weights) != file_digest(moved)


class _Scored(_Toy):
    """The toy with a held-out score that follows a script: the value at each scoring step."""

    def __init__(self, tmp: Path, name: str, scores: dict[int, float], stop: EarlyStop, iterations: int = 40) -> None:
        super().__init__(tmp, name, iterations=iterations)
        self.scores, self.stop, self.scored_at = scores, stop, []
        self.loop.loss_log = LossLog(tmp / f"{name}.csv", ("mse", HOLDOUT_COLUMN))

    def score(self) -> float:
        assert not self.model.training and not torch.is_grad_enabled()  # eval mode, no graph
        step = self.steps_run[-1] if self.steps_run else 0  # 0: the baseline, before the first step
        self.scored_at.append(step)
        return self.scores[step]

    def train(self, on_step=None, warm: bool = False) -> _Scored:
        self.loop.run(self.step, on_step, score=self.score, early_stop=self.stop, warm=warm)
        self.loop.save(self.out, {"kind": "toy"})
        return self


#: A held-out score that gains 6 dB over its start, 1 dB, then under the 0.2 dB margin: the plateau starts
#: after step 10, and the highest score before it ends is step 20's.
PLATEAU = {0: 14.0, 5: 20.0, 10: 21.0, 15: 21.1, 20: 21.15, 25: 21.05, 30: 21.3, 35: 21.2, 40: 21.1}


def _weights_at(run: _Scored, steps: tuple[int, ...], into: dict[int, dict]):
    """An on_step that copies the model's weights after each of ``steps`` (0: before training)."""
    into[0] = {k: v.clone() for k, v in run.model.state_dict().items()}

    def on_step(step: int, losses: dict) -> None:
        if step in steps:
            into[step] = {k: v.clone() for k, v in run.model.state_dict().items()}

    return on_step


def _kept(run: _Scored) -> dict:
    return torch.load(run.out, weights_only=True)["state_dict"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_stops_at_the_plateau_with_its_curve_in_the_log(tmp_path):
    stop = EarlyStop(every=5, patience=3, margin=0.2, min_steps=0)
    run, weights = _Scored(tmp_path, "run", PLATEAU, stop), {}
    run.train(on_step=_weights_at(run, (20, 25), weights))
    # 15, 20, 25 gain less than 0.2 dB over 21.0 (step 10): the run ends after step 25 of 40. The margin only
    # ends the run: the weights kept are those of the highest score, step 20's 21.15, not the last step's.
    assert run.loop.stopped_at == 25 and run.steps_run == list(range(1, 26)) and run.scored_at == [0, 5, 10, 15, 20, 25]
    rows = _rows(run.loop.loss_log.path)
    assert rows[0] == ["step", "mse", HOLDOUT_COLUMN, "seconds"] and len(rows) == 26
    logged = {int(r[0]): float(r[2]) for r in rows[1:]}
    assert {k: v for k, v in logged.items() if not np.isnan(v)} == {k: PLATEAU[k] for k in (5, 10, 15, 20, 25)}
    summary = run.loop.early_stop_summary()
    assert summary["stopped_at"] == 25 and summary["ceiling"] == 40 and summary["best_step"] == 20
    assert summary["best"] == 21.15 and summary["baseline"] == 14.0
    assert summary["curve"] == [[k, PLATEAU[k]] for k in (5, 10, 15, 20, 25)]
    assert _same(_kept(run), weights[20]) and not _same(weights[20], weights[25])
    # The floor: never before min_steps; a gain of the margin resets the patience (step 30's 21.3).
    floored = _Scored(tmp_path, "floored", PLATEAU, EarlyStop(every=5, patience=3, margin=0.2, min_steps=40)).train()
    assert floored.loop.stopped_at is None and len(floored.loop.history) == 40
    # No scoring, no column: the run goes to its ceiling as before.
    plain = _Toy(tmp_path, "plain", iterations=40)
    plain.loop.run(plain.step, score=lambda: 0.0, early_stop=EarlyStop(every=0))
    assert plain.loop.stopped_at is None and plain.loop.early_stop_summary() is None and len(plain.steps_run) == 40
    # Nor a run shorter than one scoring interval: a baseline with nothing to compare would keep the untrained weights.
    short = _Toy(tmp_path, "short", iterations=4)
    short.loop.run(short.step, score=lambda: 0.0, early_stop=stop)
    assert short.loop.early_stop_summary() is None and len(short.steps_run) == 4


#: The test project's swapper from scratch (woman_bluewall / man_office, held-out repaired lower face, dB): flat
#: around its untrained start for 100 steps, then a slow climb that a 300-step run reached +0.09 dB with.
FLAT_START = {0: 30.283, 5: 30.283, 10: 30.291, 15: 30.291, 20: 30.270, 25: 30.31, 30: 30.34, 35: 30.36,
              40: 30.37, 45: 30.365, 50: 30.37, 55: 30.368, 60: 30.369}


def test_a_run_from_scratch_is_not_stopped_before_it_starts_paying(tmp_path):
    stop = EarlyStop(every=5, patience=3, margin=0.05, min_steps=10)
    run = _Scored(tmp_path, "cold", FLAT_START, stop, iterations=60).train()
    # Four scores within 0.05 dB of the untrained network are a start, not a plateau: the patience counts from
    # step 30, the first gain of the margin over it (30.34), and ends the run three scores later, at 45.
    assert run.loop.stopped_at == 45
    summary = run.loop.early_stop_summary()
    assert summary["best_step"] == 40 and summary["best"] == 30.37 and summary["baseline"] == 30.283
    # The same scores from a warm start (a trained network to beat): the flat start is the plateau, and the
    # shot keeps step 10's weights, the highest before it ended.
    warm, weights = _Scored(tmp_path, "warm", FLAT_START, stop, iterations=60), {}
    warm.train(on_step=_weights_at(warm, (10, 15), weights), warm=True)
    assert warm.loop.stopped_at == 15 and warm.loop.early_stop_summary()["best_step"] == 10
    assert _same(_kept(warm), weights[10])


def test_a_warm_start_that_training_does_not_beat_is_kept_as_it_was(tmp_path):
    worse = {0: 25.0, 5: 24.9, 10: 24.98, 15: 24.95, 20: 24.97}
    run, weights = _Scored(tmp_path, "worse", worse, EarlyStop(every=5, patience=3, margin=0.05), iterations=20), {}
    run.train(on_step=_weights_at(run, (), weights), warm=True)
    assert run.loop.stopped_at == 15 and run.loop.early_stop_summary()["best_step"] == 0
    assert _same(_kept(run), weights[0]) and run.steps_run == list(range(1, 16))


def test_a_resumed_run_replays_its_scores_and_stops_where_an_uninterrupted_one_does(tmp_path):
    stop = EarlyStop(every=5, patience=3, margin=0.2, min_steps=0)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    straight = _Scored(tmp_path / "a", "run", PLATEAU, stop).train()
    with pytest.raises(TrainingInterrupted):
        _Scored(tmp_path / "b", "run", PLATEAU, stop).train(on_step=_signal_at(17))
    resumed = _Scored(tmp_path / "b", "run", PLATEAU, stop).train()
    # Scores of steps 5-15 come from the log; only 20 and 25 are scored again, and it ends at 25.
    # The baseline comes from the checkpoint, not from scoring the resumed network again.
    assert resumed.loop.start == 17 and resumed.scored_at == [20, 25] and resumed.loop.stopped_at == 25
    assert resumed.loop.early_stop_summary() == straight.loop.early_stop_summary()
    a, b = (torch.load(r.out, weights_only=True)["state_dict"] for r in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # A signal during the very step that ended the run: the resumed run trains no further.
    (tmp_path / "c").mkdir()
    with pytest.raises(TrainingInterrupted):
        _Scored(tmp_path / "c", "run", PLATEAU, stop).train(on_step=_signal_at(25))
    last = _Scored(tmp_path / "c", "run", PLATEAU, stop).train()
    assert last.steps_run == [] and last.scored_at == [] and last.loop.stopped_at == 25
    c = torch.load(last.out, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_plateau_ignores_unscorable_steps():
    plateau = Plateau(EarlyStop(every=1, patience=2, margin=0.0))
    assert [plateau.update(n, s) for n, s in enumerate([float("nan"), 10.0, float("nan"), 9.0, 10.0], 1)] == \
        [False, False, False, False, True]
    assert plateau.best == 10.0 and plateau.best_step == 2
    with pytest.raises(ValueError):
        EarlyStop(every=5, patience=0)
    # A long shot's ~100 held-out frames are scored on 32 of them, evenly spread, first and last included.
    assert score_frames(10).tolist() == list(range(10))
    rows = score_frames(101)
    assert len(rows) == 32 and rows[0] == 0 and rows[-1] == 100 and (np.diff(rows) > 0).all()
