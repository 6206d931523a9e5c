"""Files embedded in the self-contained report as base64 ``data:`` URIs (images re-encoded as JPEG on request)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for embedding a file in the page."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_uri(path: str | Path, jpeg_quality: int = 0) -> str:
    """A PNG file as a data URI; re-encoded as JPEG when ``jpeg_quality`` > 0 (photographic sheets
    are several times smaller that way)."""
    data = Path(path).read_bytes()
    if jpeg_quality > 0:
        import cv2

        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        ok, encoded = (False, None) if image is None else cv2.imencode(
            ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if ok and len(encoded) < len(data):
            return data_uri(encoded.tobytes(), "image/jpeg")
    return data_uri(data, "image/png")
