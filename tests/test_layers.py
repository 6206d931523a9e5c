"""The packages' layers (pyproject's ``[tool.importlinter]``): the checkout keeps them, and an import that
breaks them fails the check.

``lint-imports`` reads the source with ``ast`` (imports inside functions count too) and imports nothing,
so a run takes a fraction of a second. It comes with the ``test`` extra: a missing one fails here, it
does not skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # installed beside this interpreter


def lint_imports(src: Path) -> subprocess.CompletedProcess:
    """The checkout's import contract checked on the ``vdub`` package found in folder ``src``."""
    assert LINT_IMPORTS.is_file(), f"{LINT_IMPORTS} not found: install the test extra (pip install -e '.[test]')"
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(REPO / "pyproject.toml")], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True, timeout=120)


def test_checkout_keeps_its_layers():
    run = lint_imports(REPO / "src")
    print(run.stdout, run.stderr)
    assert run.returncode == 0, f"lint-imports failed:\n{run.stdout}\n{run.stderr}"
    assert "1 kept, 0 broken" in run.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("core/io.py", "import vdub.cli.main  # noqa", "vdub.core is not allowed to import vdub.cli"),  # upwards
    ("reporting/tables.py", "import vdub.editorial.sample_sheet  # noqa",  # across one layer
     "vdub.reporting is not allowed to import vdub.editorial"),
])
def test_an_import_against_the_layers_fails(tmp_path, module, line, broken):
    """A copy of the package with one more import: ``lint-imports`` exits non-zero and names the import."""
    shutil.copytree(REPO / "src" / "vdub", tmp_path / "vdub", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "vdub" / module, "a", encoding="utf-8") as f:
        f.write(f"\n{line}\n")
    run = lint_imports(tmp_path)
    print(run.stdout, run.stderr)
    assert run.returncode != 0
    assert broken in run.stdout
    importer = "vdub." + module.removesuffix(".py").replace("/", ".")
    assert f"- {importer} -> {line.split()[1]}" in run.stdout
