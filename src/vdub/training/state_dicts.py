"""Strict comparison of a weights file's state dict with an architecture (shared by the weight loaders)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch


def layout_mismatch(found: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size],
                    optional: Callable[[str], bool] = lambda k: False, max_listed: int = 8) -> str | None:
    """None when ``found`` has exactly the keys and shapes of ``expected``, else what differs.

    found: key -> tensor (the file); expected: key -> shape (the model); ``optional`` keys
    may be absent. The report counts and lists (the first ``max_listed`` of) the missing,
    unexpected and mis-shaped keys, e.g. ``1 shape mismatch: w (file (3,), model (4,))``.
    """
    missing = [k for k in expected if k not in found and not optional(k)]
    unexpected = [k for k in found if k not in expected]
    mismatched = [f"{k} (file {tuple(found[k].shape)}, model {tuple(s)})"
                  for k, s in expected.items() if k in found and found[k].shape != s]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if items:
            more = f" (+{len(items) - max_listed} more)" if len(items) > max_listed else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:max_listed])}{more}")
    return "; ".join(parts) or None
