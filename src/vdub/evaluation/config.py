"""Settings of the evaluation (config sections ``evaluation`` and ``qc``), light so that the workflow builds
them when it starts."""

from __future__ import annotations

from dataclasses import dataclass

from vdub.core.settings import Settings


@dataclass
class EvaluationConfig(Settings):
    """Settings of the evaluation (config section ``evaluation``)."""

    lpips_weights: str | None = None  # AlexNet weights file; None: the torch hub cache, else LPIPS unavailable
    fid_weights: str | None = None  # FID Inception weights file; None: the torch hub cache, else FID unavailable
    perceptual_size: int = 256  # side of the head crops given to LPIPS and FID
    identity_every: int = 5  # identity embeddings on every Nth scored frame (dlib's ResNet, about 0.1 s a face on CPU)
    max_frames: int = 250  # image metrics on at most this many frames, evenly spaced (0: every frame)

    def __post_init__(self) -> None:
        if self.perceptual_size < 32 or self.identity_every < 1 or self.max_frames < 0:
            raise ValueError(f"evaluation: perceptual_size must be >= 32, identity_every >= 1 and max_frames >= 0, "
                             f"got {self.perceptual_size}, {self.identity_every}, {self.max_frames}")

    def stride(self, t_count: int) -> int:
        """Every how many frames of a ``t_count``-frame shot the image metrics are taken: 1 up to
        ``max_frames`` frames, then the smallest stride that keeps to it."""
        return 1 if self.max_frames == 0 or t_count <= self.max_frames else -(-t_count // self.max_frames)


@dataclass
class QCConfig(Settings):
    """Thresholds of the frame ranges (config section ``qc``; defaults measured in docs/quality.md)."""

    mouth: float = 0.1  # mouth opening error against the dubber (inner-lip gap / mouth width)
    identity: float = 0.5  # dlib distance to the actor's face in the same frame (0.6: another person)
    jitter: float = 0.05  # stable-landmark acceleration beyond the actor's, inter-ocular units / frame^2
    merge_gap: int = 3  # flagged frames at most this many frames apart form one range
    max_ranges: int = 8  # ranges listed per kind, the worst first (the rest are counted)
    thumbnail_size: int = 128  # side of each head crop in the report's thumbnails (px)

    def __post_init__(self) -> None:
        if min(self.mouth, self.identity, self.jitter) <= 0 or self.merge_gap < 0 or self.max_ranges < 1 \
                or self.thumbnail_size < 16:
            raise ValueError(f"qc: thresholds must be > 0, merge_gap >= 0, max_ranges >= 1 and thumbnail_size "
                             f">= 16, got {self}")
