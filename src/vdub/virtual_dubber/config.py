"""Settings of the virtual dubber (config sections ``reference``, ``builtin_dubber``, ``align`` and
``liveportrait``), OpenCV-free so that the workflow builds them when it starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vdub.core.settings import Settings


@dataclass
class ReferenceConfig(Settings):
    """Weights of the reference-frame score (each term is in [0, 1], higher is better)."""

    w_frontal: float = 1.0  # face plane facing the camera
    w_mouth_closed: float = 1.0  # lips together
    w_eyes_open: float = 0.5  # eyelids open relative to the shot's widest
    w_sharp: float = 0.25  # Laplacian energy of the face relative to the shot's sharpest


MOUTH_SOURCES = ("actor", "dubber")


@dataclass
class VirtualDubberConfig(Settings):
    """Settings of the builtin virtual dubber."""

    expression_gain: float = 1.0  # multiplier on the dubber's mouth/jaw offsets
    scale_to_mouth: bool = True  # rescale the offsets by the two neutral mouths' width ratio
    mouth_fill: bool = True  # paste a real inner mouth (teeth, tongue) into the opened lips
    min_mouth_opening: float = 0.03  # inner-lip gap / mouth width below which no fill is drawn
    mouth_source: str = "actor"  # actor: the actor's own frame of nearest inner-lip shape | dubber: the dubber's
    mouth_min_ratio: float = 0.9  # an actor frame qualifies when it opens at least this share of the target's opening
    mouth_continuity: float = 0.25  # keep following the last source frame while it is within this much of the best

    def __post_init__(self) -> None:
        if self.mouth_source not in MOUTH_SOURCES:
            raise ValueError(f"mouth_source must be one of {MOUTH_SOURCES}, got {self.mouth_source!r}")
        if not 0 < self.mouth_min_ratio <= 2 or self.mouth_continuity < 0:
            raise ValueError(f"invalid mouth_min_ratio/mouth_continuity: {self}")


SCALE_MODES = ("frame", "smooth", "shot")


@dataclass
class AlignConfig(Settings):
    """Settings of the alignment stage."""

    scale_mode: str = "smooth"  # alignment scale: 'frame' (free), 'smooth' (filtered), 'shot' (one median)
    scale_window: int = 31  # Savitzky-Golay window (frames) on the log scale in 'smooth' mode
    feather_fraction: float = 0.08  # blend feather radius, as a fraction of the inter-ocular distance
    composite_from: float = 0.35  # lower-face weight at which the composite starts (0 = nose base)

    def __post_init__(self) -> None:
        if self.scale_mode not in SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {SCALE_MODES}, got {self.scale_mode!r}")


ANIMATION_REGIONS = ("exp", "pose", "lip", "eyes", "all")
DRIVING_OPTIONS = ("expression-friendly", "pose-friendly")
#: Flags without which LivePortrait returns its 512 px face crop instead of the full frame
#: (its paste-back runs only when all three are on); a crop is not a virtual-dubber frame.
FULL_FRAME_FLAGS = ("flag_do_crop", "flag_stitching", "flag_pasteback")


@dataclass
class LivePortraitConfig(Settings):
    """Where LivePortrait is installed and the options of its video-driven inference."""

    checkout: str | None = None  # LivePortrait checkout (folder holding inference.py); required
    weights: str | None = None  # laid out like pretrained_weights/ (default: <checkout>/pretrained_weights)
    python: str = "python"  # interpreter of LivePortrait's own environment (envs/liveportrait.yaml)
    # "lip" animates only LivePortrait's lip keypoints: the paper's virtual dubber carries the
    # dubber's mouth motion, while the actor's eyes, brows and head pose stay those of the
    # reference frame. That keeps the dubber's blinks out, and keeps the skull-stable points
    # the align stage fits on unmoved. "exp" (the whole expression) moves the jaw and cheeks
    # more freely; try it when the chin follows the mouth too little.
    animation_region: str = "lip"
    driving_option: str = "expression-friendly"  # adapts the motion to a human source image (upstream default)
    driving_multiplier: float = 1.0  # gain on the driving motion (expression-friendly only)
    # Kalman smoothing strength of the driving motion; upstream applies it when the source is a
    # video, so it is passed through for completeness (3e-6: smoother than upstream's 3e-7).
    driving_smooth_observation_variance: float = 3e-6
    flag_relative_motion: bool = True  # motion relative to the first driving frame, added to the actor's expression
    flag_stitching: bool = True  # must stay on (see FULL_FRAME_FLAGS)
    flag_pasteback: bool = True  # must stay on: the result is the actor's full frame
    flag_do_crop: bool = True  # must stay on: LivePortrait works on a face crop of the source
    flag_crop_driving_video: bool = True  # dubber takes are not 1:1 face crops; let LivePortrait crop them
    flag_normalize_lip: bool = False  # the reference frame is chosen with a closed mouth already
    flag_use_half_precision: bool = True  # FP16 on the GPU; turn off if black boxes appear
    flag_force_cpu: bool = False  # CPU inference (very slow; upstream marks it work in progress)
    source_max_dim: int | None = None  # LivePortrait downsizes larger sources to this (None: upstream's 1280)
    anchor_neutral: bool = True  # put the dubber's neutral frame first so motion is measured from it

    def __post_init__(self) -> None:
        if self.animation_region not in ANIMATION_REGIONS:
            raise ValueError(f"liveportrait.animation_region must be one of {ANIMATION_REGIONS}, "
                             f"got {self.animation_region!r}")
        if self.driving_option not in DRIVING_OPTIONS:
            raise ValueError(f"liveportrait.driving_option must be one of {DRIVING_OPTIONS}, "
                             f"got {self.driving_option!r}")
        if not self.driving_multiplier > 0:
            raise ValueError(f"liveportrait.driving_multiplier must be positive, got {self.driving_multiplier}")
        if not self.driving_smooth_observation_variance > 0:
            raise ValueError("liveportrait.driving_smooth_observation_variance must be positive, "
                             f"got {self.driving_smooth_observation_variance}")
        if self.source_max_dim is not None and self.source_max_dim < 64:
            raise ValueError(f"liveportrait.source_max_dim must be at least 64, got {self.source_max_dim}")
        off = [name for name in FULL_FRAME_FLAGS if not getattr(self, name)]
        if off:
            raise ValueError(f"liveportrait.{', '.join(off)} must be true: LivePortrait pastes the animated face "
                             "back into the full frame only when flag_do_crop, flag_stitching and flag_pasteback are "
                             "all on; otherwise its result is a 512 px face crop, not a virtual-dubber frame")
        if not self.python:
            raise ValueError("liveportrait.python must name an interpreter")

    @property
    def checkout_path(self) -> Path | None:
        return None if self.checkout is None else Path(self.checkout).expanduser()

    @property
    def weights_path(self) -> Path | None:
        """The weights folder: ``weights`` if set, else ``<checkout>/pretrained_weights``."""
        if self.weights is not None:
            return Path(self.weights).expanduser()
        checkout = self.checkout_path
        return None if checkout is None else checkout / "pretrained_weights"
