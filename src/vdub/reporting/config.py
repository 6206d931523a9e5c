"""Settings of the report rules (config section ``report``), light so that the workflow builds them when it
starts."""

from __future__ import annotations

from dataclasses import dataclass

from vdub.core.settings import Settings


@dataclass
class ReportConfig(Settings):
    """Settings of the report rules (config section ``report``)."""

    sheet_frames: int = 6  # frames (rows) in results/<shot>/output_sheet.png and virtual_dubber_sheet.png
    preview_height: int = 360  # side-by-side preview: panel height cap (px)
    preview_panels: tuple[str, ...] = ("actor", "virtual_dubber", "output")  # left to right
    preview_crf: int = 26  # x264 quality of the preview (higher: smaller file)
    embed_video_mb: float = 20.0  # previews up to this size are embedded in report.html; larger ones linked
    sheet_jpeg_quality: int = 90  # contact sheets embedded as JPEG of this quality; 0: the PNG as is

    def __post_init__(self) -> None:
        if self.sheet_frames < 1 or self.preview_height < 16 or not self.preview_panels:
            raise ValueError(f"report: sheet_frames >= 1, preview_height >= 16 and preview_panels needed, got "
                             f"{self.sheet_frames}, {self.preview_height}, {list(self.preview_panels)}")
        if not 0 <= self.sheet_jpeg_quality <= 100 or self.embed_video_mb < 0:
            raise ValueError(f"report: sheet_jpeg_quality must be 0..100 and embed_video_mb >= 0, got "
                             f"{self.sheet_jpeg_quality}, {self.embed_video_mb}")
