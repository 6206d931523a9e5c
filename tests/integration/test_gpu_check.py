"""The GPU check script in its CPU smoke mode: every step runs and reports numbers, so that
the day a GPU is lent, `scripts/gpu_check.sh` works the first time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO


@pytest.mark.slow
def test_gpu_check_smoke_runs_every_step(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(REPO / "scripts" / "gpu_check.sh"), "--smoke"], capture_output=True, text=True,
                          env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["smoke"] is True
    for preset in ("paper_training", "studio_training"):
        step = result[preset]
        # A measured rate, not an inflated one: the timed steps fit inside the step's own wall time.
        assert step["steps_per_s"] > 0 and step["timed_steps"] / step["steps_per_s"] <= step["seconds"], step
        assert step["hours_for_preset_iterations"] > 0
    assert result["gpen_inference"]["ms_per_frame_fp32"] > 0
    e2e = result["end_to_end"]
    assert e2e["returncode"] == 0, e2e.get("error")
    assert e2e["preset"] == "preview" and e2e["frames"] == 6
    assert {"train_swapper", "reenact", "super_resolution", "evaluate"} <= set(e2e["stage_seconds"])
    assert e2e["table"]["output"]["mouth_corr"] is not None and e2e["table"]["output"]["psnr"] > 20
    assert "self_reenactment" in e2e
