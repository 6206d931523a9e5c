"""The checkout's style, checked once, here: nothing for ruff to report in the Python (pyproject's
[tool.ruff]), the Snakefile and rules/*.smk as snakefmt writes them (pyproject's [tool.snakefmt]), and
nothing for `snakemake --lint` to report with the checkout's own config. Seconds, no media.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import REPO

BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess:
    """A command in the checkout's root, with the venv's tools on PATH."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)


def test_ruff_finds_nothing():
    ruff = BIN / "ruff"
    assert ruff.is_file(), f"{ruff} not found: install the test extra (pip install -e '.[test]')"
    check = run(str(ruff), "check", ".")
    assert check.returncode == 0, f"ruff check . (exit {check.returncode}):\n{check.stdout}{check.stderr}"


def test_snakefmt_leaves_the_workflow_unchanged():
    snakefmt = BIN / "snakefmt"
    assert snakefmt.is_file(), f"{snakefmt} not found: install the test extra (pip install -e '.[test]')"
    check = run(str(snakefmt), "--check", ".")
    if check.returncode != 0:
        diff = run(str(snakefmt), "--compact-diff", ".")
        raise AssertionError(f"snakefmt --check . failed (exit {check.returncode}); run `snakefmt .` to format:\n"
                             f"{check.stdout}{check.stderr}\n{diff.stdout[-8000:]}{diff.stderr[-2000:]}")


def test_snakemake_lint_is_clean():
    lint = run(sys.executable, "-m", "snakemake", "--lint", "--cores", "1")
    out = lint.stdout + lint.stderr
    assert lint.returncode == 0 and "Congratulations" in out, f"snakemake --lint (exit {lint.returncode}):\n{out}"
