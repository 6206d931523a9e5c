"""The identity of a training run: what it learns from and every setting that changes its result.

A resume checkpoint carries its run's fingerprint (:mod:`vdub.training.checkpoint`), so that a
checkpoint left by another dubber take, another preset or other starting weights is never
resumed by mistake. Files (the weights a run starts from) enter by content, not by path:
replacing one restarts training, moving one does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def array_digest(a: np.ndarray, chunk: int = 256) -> str:
    """Hash of an array's shape, dtype and bytes, read ``chunk`` rows at a time (bounded memory)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.shape}{a.dtype}".encode())
    for i in range(0, a.shape[0], chunk):
        h.update(np.ascontiguousarray(a[i : i + chunk]))
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """Hash of a file's content, read 1 MiB at a time (GPEN-BFR-512.pth is ~300 MB)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_fingerprint(arrays: Sequence[np.ndarray], settings: Mapping[str, Any], init: str | Path | None) -> str:
    """The fingerprint of a training run (64 hex digits).

    arrays: the training data, in a fixed order (each any shape and dtype); settings: a
    JSON-serialisable mapping of the settings that change the result (each trainer
    chooses them: a run's length, device or logging may differ on resume); init: the
    weights file the network starts from, or None for a fresh network.
    """
    summary = {
        "arrays": [array_digest(a) for a in arrays],
        **settings,
        "init": None if init is None else file_digest(init),
    }
    return hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
