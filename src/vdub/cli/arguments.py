"""Argument types and options every stage subcommand shares."""

from __future__ import annotations

import argparse
import json
from typing import Any


def json_object(text: str) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--settings must be a JSON object")
    return value


def frame_or_timecode(text: str) -> int | str:
    """A frame number (digits) as an int; anything else (a timecode) as given."""
    return int(text) if text.isdigit() else text


def add_shot_options(p: argparse.ArgumentParser, settings: bool = True) -> None:
    p.add_argument("--shot", required=True, help="shot id (named in every error)")
    if settings:
        p.add_argument("--settings", type=json_object, default={}, help="stage settings as a JSON object")
