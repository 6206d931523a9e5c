"""Stage settings as dataclasses built from the workflow's config mappings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T", bound="Settings")


class Settings:
    """Mixin for settings dataclasses: ``from_dict`` that rejects unknown keys.

    A typo in config.yaml must fail loudly, not fall back to a default. Lists become
    tuples, as YAML, JSON and ``torch.load`` return them for tuple fields.
    """

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} settings {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
