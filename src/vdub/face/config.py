"""Settings of the face tools (config sections ``face_mesh``, ``smoothing`` and ``masks``), torch-, OpenCV- and
MediaPipe-free so that the workflow builds them when it starts."""

from __future__ import annotations

from dataclasses import dataclass

from vdub.core.samples import FACE_CHOICES
from vdub.core.settings import Settings

#: Rules that pick the actor among several faces, on the first frame with a face and after a gap:
#: the largest mesh box, the box centre nearest the frame centre, the leftmost or the rightmost
#: (a shot's ``face`` in samples.yaml may name one too, hence spelled in the sample sheet's module).
CHOICES = FACE_CHOICES


@dataclass
class FaceMeshConfig(Settings):
    """Settings of the MediaPipe face-mesh tracker."""

    min_detection_confidence: float = 0.5  # face detector threshold
    min_tracking_confidence: float = 0.5  # below this the tracker re-detects
    tracking: bool = True  # video mode: track between frames (smoother, faster) vs. detect each frame
    max_faces: int = 4  # faces MediaPipe looks for per frame; the actor's is chosen among them
    choose: str = "largest"  # how the actor's face is picked: largest, central, left or right (see CHOICES)
    max_jump: float = 0.5  # gate: a face further than this from the last chosen one is someone else

    def __post_init__(self) -> None:
        if self.choose not in CHOICES:
            raise ValueError(f"face_mesh.choose must be one of {CHOICES}, got {self.choose!r}")
        if int(self.max_faces) < 1:
            raise ValueError(f"face_mesh.max_faces must be at least 1, got {self.max_faces}")
        self.max_faces = int(self.max_faces)
        if not float(self.max_jump) > 0:
            raise ValueError(f"face_mesh.max_jump must be positive, got {self.max_jump}")
        self.max_jump = float(self.max_jump)


@dataclass
class FaceIdentityConfig(Settings):
    """Following the actor by who they are, when a shot gives a still of the actor (config section
    ``face_identity``; :class:`vdub.face.mesh.FaceChooser`)."""

    # dlib descriptor distance below which a face is the still's person: dlib's own decision threshold. On the
    # shared clips the same person is 0.40-0.52 from a still of another moment, other people 0.80-0.94.
    threshold: float = 0.6
    # frames between checks of the followed face's identity (a swap without a gap is caught within this many)
    verify_every: int = 15

    def __post_init__(self) -> None:
        if not 0 < float(self.threshold) < 2:
            raise ValueError(f"face_identity.threshold must be in (0, 2), got {self.threshold}")
        if int(self.verify_every) < 1:
            raise ValueError(f"face_identity.verify_every must be at least 1, got {self.verify_every}")
        self.threshold, self.verify_every = float(self.threshold), int(self.verify_every)



@dataclass
class SmoothingConfig(Settings):
    """Windows (frames, odd; 1 = off) and polynomial orders of the mesh track filters."""

    pose_window: int = 11  # head rotation, scale and translation
    pose_order: int = 2
    vertex_window: int = 5  # pose-normalised vertices (expression)
    vertex_order: int = 2



@dataclass
class CropConfig(Settings):
    """Settings of the head crops (part of the config's ``masks`` section: :class:`MaskConfig`)."""

    crop_scale: float = 2.0  # crop side / face-oval height: room for hair and neck
    crop_shift: float = 0.05  # crop centre moved up by this fraction of the side (hair > neck)
    crop_smooth_window: int = 9  # moving-average window (frames) on crop centre and side



@dataclass
class MaskConfig(CropConfig):
    """Settings of masks and of the crops they are built in (the config's ``masks`` section)."""

    neck_extent: float = 0.45  # head region reaches this fraction of the face height below the chin
    head_width: float = 1.5  # head region width / face width (ears, hair)
    region_blur: float = 0.06  # softness of the head region's edges, fraction of face height
    part_dilate: float = 0.25  # eye/mouth masks grow by this fraction of the inter-ocular distance


@dataclass
class VisibilityConfig(Settings):
    """What of the actor's face the dub may change, frame by frame (the config's ``visibility`` section).

    Occluders (hands, props) in front of the face stay the actor's pixels; where the mouth is
    covered, the head turns past what the virtual dubber renders, the face is lost or too small,
    the dub fades out and back in over ``fade_frames`` (:mod:`vdub.face.visibility`).
    """

    hands: bool = True  # MediaPipe hands found in the frame are occluders
    props: bool = True  # so are the lower-face pixels no clean frame explains that touch a hand (held props)
    objects: bool = False  # so is every such pixel, held or not (docs/quality.md: off)
    object_threshold: float = 20.0  # an object pixel: CIELAB distance to the nearest clean-frame colour beyond this
    occluder_margin: float = 0.03  # occluders grown by this share of the face height: the dub stops this far out
    occluder_feather: float = 0.04  # then comes back over this share of the face height
    mouth_occluded: float = 0.3  # the dub fades out where occluders cover more than this share of the mouth
    max_yaw: float = 40.0  # degrees: beyond this head turn the dub fades out
    max_pitch: float = 30.0  # degrees: beyond this nod up or down the dub fades out
    min_face: float = 40.0  # face height (forehead to chin, pixels) below which the shot's face passes through
    fade_frames: int = 6  # frames over which the dub fades out before such a frame and back in after it

    def __post_init__(self) -> None:
        for name in ("object_threshold", "occluder_margin", "occluder_feather", "max_yaw", "max_pitch", "min_face"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"visibility.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < float(self.mouth_occluded) <= 1:
            raise ValueError(f"visibility.mouth_occluded must be in (0, 1], got {self.mouth_occluded}")
        if int(self.fade_frames) < 0:
            raise ValueError(f"visibility.fade_frames must be >= 0, got {self.fade_frames}")
        self.fade_frames = int(self.fade_frames)
