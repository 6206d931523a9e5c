"""Argument types and options every stage subcommand shares."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from vdub.core.errors import ShotError


def json_object(text: str) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("a JSON object expected")
    return value


def frame_or_timecode(text: str) -> int | str:
    """A frame number (digits) as an int; anything else (a timecode) as given."""
    return int(text) if text.isdigit() else text


def add_settings_option(p: argparse.ArgumentParser, read: Callable[[str], Any]) -> None:
    """``--settings``: the stage's settings as the workflow writes them, turned into their dataclass by ``read``
    (:func:`read_settings`) before the command runs."""
    p.add_argument("--settings", required=True, metavar="JSON",
                   help="the stage's settings, as its rule passes them (vdub.workflow.settings; `snakemake -n -p` "
                        "prints them): every number, none defaults")
    p.set_defaults(read_settings=read)


def read_settings(a: argparse.Namespace, who: str | None) -> None:
    """``a.settings`` read into the stage's settings dataclass; a ShotError (for ``who``) when they do not fit."""
    try:
        a.settings = a.read_settings(a.settings)
    except ValueError as err:  # json.JSONDecodeError too
        raise ShotError(who, None, f"--settings: {err}") from None


def add_shot_options(p: argparse.ArgumentParser, settings: Callable[[str], Any] | None = None) -> None:
    """``--shot``, and ``--settings`` read by ``settings`` when the stage takes settings."""
    p.add_argument("--shot", required=True, help="shot id (named in every error)")
    if settings is not None:
        add_settings_option(p, settings)
