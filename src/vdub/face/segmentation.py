"""Person segmentation (MediaPipe selfie segmentation): the head mask's hair and outline (paper 2.2)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def person_segmentation(frames: Iterable[np.ndarray], n_frames: int) -> Iterable[np.ndarray]:
    """MediaPipe selfie segmentation: yields a H x W float32 person probability per frame."""
    import mediapipe as mp

    # model 0 is the general (square input) model: better on head-and-shoulders framing.
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        for t, frame in enumerate(frames):
            if t >= n_frames:
                break
            yield seg.process(np.ascontiguousarray(frame)).segmentation_mask.astype(np.float32)
