"""Settings of the media stages (config section ``ingest``), light so that the workflow builds them when it
starts."""

from __future__ import annotations

from dataclasses import dataclass

from vdub.core.settings import Settings

CONFORM_POLICIES = ("resample", "stretch")
SILENT_AUDIO_ACTIONS = ("error", "warn")


@dataclass
class IngestConfig(Settings):
    """Settings of the ingest stage (the ``ingest`` section of config.yaml)."""

    #: How the dubber's take is brought onto the actor's timeline: "resample" (keep timing;
    #: cut or hold the last frame) or "stretch" (time-scale the whole take onto the shot).
    conform: str = "resample"
    #: Sample rate of the extracted dubbed audio, Hz.
    audio_sample_rate: int = 48000
    #: What to do when the dubbed audio is (near) silent: "error" stops the shot, "warn" logs.
    silent_audio: str = "error"
    #: RMS level below which the dubbed audio counts as silent, dBFS (speech is about -30 to -10).
    silence_threshold_dbfs: float = -50.0
    #: Process only the first N actor frames (previews, tests); None for the whole shot.
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.conform not in CONFORM_POLICIES:
            raise ValueError(f"ingest.conform must be one of {CONFORM_POLICIES}, got {self.conform!r}")
        if self.silent_audio not in SILENT_AUDIO_ACTIONS:
            raise ValueError(f"ingest.silent_audio must be one of {SILENT_AUDIO_ACTIONS}, got {self.silent_audio!r}")
        if int(self.audio_sample_rate) <= 0:
            raise ValueError(f"ingest.audio_sample_rate must be positive, got {self.audio_sample_rate}")
        self.audio_sample_rate = int(self.audio_sample_rate)
        self.silence_threshold_dbfs = float(self.silence_threshold_dbfs)
        if self.max_frames is not None:
            if int(self.max_frames) <= 0:
                raise ValueError(f"ingest.max_frames must be positive or null, got {self.max_frames}")
            self.max_frames = int(self.max_frames)
