"""Settings dataclasses built from the workflow's config mappings: strict about unknown keys, and on the
workflow's path (:meth:`Settings.from_config`) about missing ones."""

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

    @classmethod
    def from_config(cls: type[T], data: Mapping[str, Any], section: str) -> T:
        """``from_dict`` for the workflow: every field given, none left to its default.

        The workflow's numbers come from config.yaml only, so a field missing from ``data`` is an
        error here, as an unknown key is. ``section``: where ``data`` sits in the config (or the
        settings JSON), named in the error.
        """
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        missing, unknown = sorted(known - set(data)), sorted(set(data) - known)
        if missing:
            raise ValueError(f"{section}: {cls.__name__} settings {missing} missing"
                             + (f" and {unknown} unknown" if unknown else "") + " (config.yaml gives every one)")
        return cls.from_dict(data)
